#!/usr/bin/env python3
"""Independent reference for pqike's key schedule (RFC 7296 §2.13-2.17, RFC 9370 §2.2.2/2.2.4,
RFC 9242 §3.3). Stdlib only. Writes keymat_kat.json next to this file; kat_keymat.rs checks the
Rust implementation against it.  Run:  python3 gen_kat.py
"""
import hashlib, hmac, json, os, struct

H = {5: hashlib.sha256, 6: hashlib.sha384, 7: hashlib.sha512}

def prf(alg, key, data):
    return hmac.new(key, data, H[alg]).digest()

def prf_plus(alg, key, seed, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = prf(alg, key, t + seed + bytes([i]))
        out += t
        i += 1
    return out[:n]

def det(label, n):
    """Deterministic 'random' inputs so the vectors are reproducible."""
    out, c = b"", 0
    while len(out) < n:
        out += hashlib.sha256(label.encode() + struct.pack(">I", c)).digest()
        c += 1
    return out[:n]

def ike_keys(alg, skeyseed, ni, nr, spi_i, spi_r, ek, ik):
    pl = H[alg]().digest_size
    s = prf_plus(alg, skeyseed, ni + nr + struct.pack(">QQ", spi_i, spi_r), 3 * pl + 2 * ik + 2 * ek)
    names, lens, out, off = ["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"], [pl, ik, ik, ek, ek, pl, pl], {}, 0
    for nm, ln in zip(names, lens):
        out[nm] = s[off:off + ln]
        off += ln
    return out

def hexd(d):
    return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in d.items()}

def main():
    alg = 6  # PRF_HMAC_SHA2_384
    ni, nr = det("Ni", 32), det("Nr", 32)
    spi_i, spi_r = 0x0123456789ABCDEF, 0xFEDCBA9876543210
    g_ir = det("x25519 shared", 32)        # type-4 KE (X25519) shared secret
    ss1 = det("mlkem768 ss", 32)           # ADDKE1 (ML-KEM-768) shared secret
    ek, ik = 36, 0                         # AES-GCM-16-256: 32-octet key + 4-octet salt, no INTEG

    v = {"prf": alg, "ni": ni, "nr": nr, "spi_i": "%016x" % spi_i, "spi_r": "%016x" % spi_r,
         "g_ir": g_ir, "ss1": ss1, "encr_key_len": ek, "integ_key_len": ik}

    # prf+ on its own (HMAC-SHA2-256, 100 octets = 4 blocks, truncated)
    v["prfplus_key"], v["prfplus_seed"] = det("prf+ key", 20), det("prf+ seed", 45)
    v["prfplus_out"] = prf_plus(5, v["prfplus_key"], v["prfplus_seed"], 100)

    # generation 0 (IKE_SA_INIT)
    skeyseed0 = prf(alg, ni + nr, g_ir)
    k0 = ike_keys(alg, skeyseed0, ni, nr, spi_i, spi_r, ek, ik)
    v["skeyseed0"] = skeyseed0
    v.update({k + "_0": x for k, x in k0.items()})
    # generation 1 (after IKE_INTERMEDIATE with ADDKE1), RFC 9370 §2.2.2
    skeyseed1 = prf(alg, k0["sk_d"], ss1 + ni + nr)
    k1 = ike_keys(alg, skeyseed1, ni, nr, spi_i, spi_r, ek, ik)
    v["skeyseed1"] = skeyseed1
    v.update({k + "_1": x for k, x in k1.items()})

    # Child SA KEYMAT: AES-GCM-256 both ways (2 * 36), no PFS and with PFS + one ADDKE
    child_g, child_s1 = det("child g^ir", 56), det("child ss1", 32)
    v["child_g"], v["child_s1"] = child_g, child_s1
    v["child_keymat_nopfs"] = prf_plus(alg, k1["sk_d"], ni + nr, 72)
    v["child_keymat_pfs"] = prf_plus(alg, k1["sk_d"], child_g + ni + nr + child_s1, 72)

    # IntAuth (RFC 9242 §3.3): one IKE_INTERMEDIATE exchange (message ID 1) protected with gen-0
    # keys; the request carries KE (first inner payload 34) of P length 1192, the response 1096.
    def header(mid, flags, next_payload, length):
        return struct.pack(">QQBBBBII", spi_i, spi_r, next_payload, 0x20, 43, flags, mid, length)
    p_req, p_resp = det("P req", 1192), det("P resp", 1096)
    a_req = header(1, 0x08, 46, 28 + 4 + len(p_req)) + bytes([34, 0]) + struct.pack(">H", 4 + len(p_req))
    a_resp = header(1, 0x20, 46, 28 + 4 + len(p_resp)) + bytes([34, 0]) + struct.pack(">H", 4 + len(p_resp))
    v["p_req"], v["p_resp"], v["a_req"], v["a_resp"] = p_req, p_resp, a_req, a_resp
    ia_i = prf(alg, k0["sk_pi"], a_req + p_req)
    ia_r = prf(alg, k0["sk_pr"], a_resp + p_resp)
    # a second round (message ID 2), protected with gen-1 keys, chains on the first
    p_req2, p_resp2 = det("P req2", 100), det("P resp2", 80)
    a_req2 = header(2, 0x08, 46, 28 + 4 + len(p_req2)) + bytes([34, 0]) + struct.pack(">H", 4 + len(p_req2))
    a_resp2 = header(2, 0x20, 46, 28 + 4 + len(p_resp2)) + bytes([34, 0]) + struct.pack(">H", 4 + len(p_resp2))
    v["p_req2"], v["p_resp2"], v["a_req2"], v["a_resp2"] = p_req2, p_resp2, a_req2, a_resp2
    ia_i = prf(alg, k1["sk_pi"], ia_i + a_req2 + p_req2)
    ia_r = prf(alg, k1["sk_pr"], ia_r + a_resp2 + p_resp2)
    v["intauth"] = ia_i + ia_r + struct.pack(">I", 3)  # IKE_AUTH request has message ID 3

    # IKE_AUTH with PSK, final (gen-1) keys
    real_msg1 = det("IKE_SA_INIT request", 300)
    id_data = b"moon.strongswan.org"
    maced = prf(alg, k1["sk_pi"], bytes([2, 0, 0, 0]) + id_data)  # ID_FQDN
    octets = real_msg1 + nr + maced + v["intauth"]
    psk = b"This is a strong PSK for the KAT"
    v.update(real_msg1=real_msg1, id_data=id_data, maced_id_i=maced, signed_octets_i=octets, psk=psk,
             psk_auth_i=prf(alg, prf(alg, psk, b"Key Pad for IKEv2"), octets))

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keymat_kat.json")
    with open(path, "w") as f:
        json.dump(hexd(v), f, indent=1, sort_keys=True)
        f.write("\n")

if __name__ == "__main__":
    main()
