#!/usr/bin/env python3
"""Extract a key-schedule KAT from a strongSwan charon log (ike/enc level 4) of an initiator
that ran x25519-ke1_mlkem768 with PSK auth against another strongSwan.
Usage: extract_strongswan_kat.py charon.log SPI_I SPI_R > strongswan_kat.json
(SPIs as printed by `swanctl --list-sas`, 16 hex digits each.)"""
import json, re, sys

def blocks(path):
    """Ordered (name, bytes) of every 'name => N bytes @ addr' dump in [IKE] lines."""
    out, cur = [], None
    head = re.compile(r"\[IKE\] <[^>]*> (.+?) => (\d+) bytes @")
    row = re.compile(r"\[IKE\] <[^>]*>\s+\d+: ((?:[0-9A-F]{2} )+)")
    for line in open(path, errors="replace"):
        m = head.search(line)
        if m:
            cur = [m.group(1), bytearray(), int(m.group(2))]
            out.append(cur)
            continue
        m = row.search(line)
        if m and cur is not None:
            cur[1] += bytes.fromhex(m.group(1).replace(" ", ""))
    for name, data, n in out:
        assert len(data) == n, (name, len(data), n)
    return [(name, bytes(data)) for name, data, _ in out]

def main():
    path, spi_i, spi_r = sys.argv[1:4]
    bl = blocks(path)
    def all_(name):
        return [d for n, d in bl if n == name]
    v = {"source": "strongSwan 6.1 initiator, aes256gcm16-prfsha384-x25519-ke1_mlkem768, PSK",
         "spi_i": spi_i, "spi_r": spi_r}
    kes, nonces = all_("key exchange secret"), all_("nonces")
    v["g_ir"], v["ss1"] = kes[0], kes[1]
    v["ni"], v["nr"] = nonces[0][:32], nonces[0][32:]
    for gen in (0, 1):
        v["skeyseed%d" % gen] = all_("SKEYSEED")[gen]
        for k in ("d", "ei", "er", "pi", "pr"):
            v["sk_%s_%d" % (k, gen)] = all_("Sk_%s secret" % k)[gen]
    ap, ia = all_("IntAuth_A|P"), all_("IntAuth_N = prf(Sk_px, data)")
    v["intauth_req_ap"], v["intauth_resp_ap"] = ap[0], ap[1]
    v["intauth_i1"], v["intauth_r1"] = ia[0], ia[1]
    v["idx_i"] = all_("IDx'")[0]
    v["octets_i"] = all_("octets = message + nonce + prf(Sk_px, IDx') + IntAuth")[0]
    v["psk"] = all_("secret")[0]
    v["auth_i"] = all_("AUTH = prf(prf(secret, keypad), octets)")[0]
    json.dump({k: (x.hex() if isinstance(x, bytes) else x) for k, x in v.items()}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")

if __name__ == "__main__":
    main()
