#!/bin/bash
# lab/pki.sh - test PKI for the interop suite, made with openssl (any build can read it).
#
#   lab/pki.sh OUTDIR        create (idempotent: kept when OUTDIR/<chain>/.complete exists)
#
# OUTDIR/ecdsa/  ECDSA P-256: root CA -> int1 -> end entities. Small; shows that both
#                sides send and accept one intermediate CA.
# OUTDIR/rsa/    RSA-3072: root CA -> int1 -> int2 -> int3 -> end entities. The IKE_AUTH
#                message carrying EE + 3 intermediates + a 384-byte signature is > 5 KB,
#                so it must be IKE-fragmented (RFC 7383) at fragment_size 1280.
# In each chain directory:
#   ca.pem ca.key.pem               root CA (trust anchor)
#   int1.pem int1.key.pem ...       intermediates; int1 is signed by the root, intN+1 by intN
#   a.example.pem a.example.key.pem end entities, CN and SAN dNSName = a.example / b.example
#   b.example.pem b.example.key.pem
#   chain-a.example.pem ...         EE followed by its intermediates (leaf first)
#   *.der / *.key.der               DER copies (certs: X.509 DER, keys: PKCS#8 DER)
# Keys are unencrypted PKCS#8. Validity: CAs 10 years, EEs 1 year, from now.
set -euo pipefail
OUT=${1:?usage: pki.sh OUTDIR}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)

# newkey FILE TYPE: PKCS#8 PEM private key
newkey() {
    case "$2" in
        ecdsa) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
        rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$1" 2>/dev/null ;;
    esac
}

# issue DIR NAME ISSUER SUBJECT EXTFILE DAYS: certificate NAME.pem for NAME.key.pem signed by
# ISSUER (ISSUER = "" -> self-signed)
issue() {
    local d=$1 name=$2 issuer=$3 subj=$4 ext=$5 days=$6
    openssl req -new -key "$d/$name.key.pem" -subj "$subj" -out "$d/$name.csr" 2>/dev/null
    if [ -z "$issuer" ]; then
        openssl x509 -req -in "$d/$name.csr" -signkey "$d/$name.key.pem" -sha256 -days "$days" \
            -set_serial "0x$(openssl rand -hex 8)" -extfile "$ext" -out "$d/$name.pem" 2>/dev/null
    else
        openssl x509 -req -in "$d/$name.csr" -CA "$d/$issuer.pem" -CAkey "$d/$issuer.key.pem" -sha256 \
            -days "$days" -set_serial "0x$(openssl rand -hex 8)" -extfile "$ext" -out "$d/$name.pem" 2>/dev/null
    fi
    rm -f "$d/$name.csr"
}

chain() {   # chain NAME KEYTYPE N_INTERMEDIATES
    local name=$1 type=$2 nint=$3 d="$OUT/$1"
    [ -f "$d/.complete" ] && return 0
    rm -rf "$d"; mkdir -p "$d"
    cat > "$d/ca.ext" <<X
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
X
    cat > "$d/int.ext" <<X
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
X
    newkey "$d/ca.key.pem" "$type"
    issue "$d" ca "" "/C=XX/O=pqike-lab/CN=pqike-lab $name Root CA" "$d/ca.ext" 3650
    local issuer=ca i
    for i in $(seq 1 "$nint"); do
        newkey "$d/int$i.key.pem" "$type"
        issue "$d" "int$i" "$issuer" "/C=XX/O=pqike-lab/CN=pqike-lab $name Intermediate CA $i" "$d/int.ext" 3650
        issuer=int$i
    done
    local ee
    for ee in a.example b.example; do
        cat > "$d/$ee.ext" <<X
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:$ee
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
X
        newkey "$d/$ee.key.pem" "$type"
        issue "$d" "$ee" "$issuer" "/C=XX/O=pqike-lab/CN=$ee" "$d/$ee.ext" 365
        # EE + intermediates, leaf first (the order a peer sends them in)
        { cat "$d/$ee.pem"; for i in $(seq "$nint" -1 1); do cat "$d/int$i.pem"; done; } > "$d/chain-$ee.pem"
    done
    rm -f "$d"/*.ext
    local f
    for f in "$d"/*.pem; do
        case "$f" in
            */chain-*) ;;
            *.key.pem) openssl pkcs8 -topk8 -nocrypt -in "$f" -outform DER -out "${f%.pem}.der" ;;
            *) openssl x509 -in "$f" -outform DER -out "${f%.pem}.der" ;;
        esac
    done
    # the chain must verify, or every pubkey case would fail for the wrong reason
    local untrusted=()
    [ "$nint" -gt 0 ] && { cat $(for i in $(seq 1 "$nint"); do echo "$d/int$i.pem"; done) > "$d/.ints"; untrusted=(-untrusted "$d/.ints"); }
    for ee in a.example b.example; do
        openssl verify -CAfile "$d/ca.pem" "${untrusted[@]}" "$d/$ee.pem" >/dev/null
    done
    rm -f "$d/.ints"
    date -u +%FT%TZ > "$d/.complete"
}

chain ecdsa ecdsa 1
chain rsa rsa 3
echo "$OUT"
