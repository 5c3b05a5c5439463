//! Independent check with OpenSSL 3.5+ (issue 4): our ML-DSA / SLH-DSA certificates verify with
//! `openssl verify`, our signatures verify with `openssl pkeyutl -verify -rawin`, and keys that
//! OpenSSL generates (ML-DSA seed+expanded, expanded-only and seed-only PKCS#8; SLH-DSA) load
//! and sign here.
//!
//! OpenSSL runs in the lab chroot (`chroot /srv/pqike-lab/trixie openssl ...`; override with
//! PQIKE_OPENSSL_CHROOT). Needs root and a chroot with the `openssl` package; otherwise the
//! test is skipped, except under CI=true where it fails. Files go to a temp dir inside the chroot
//! that is removed afterwards.
use std::path::PathBuf;
use std::process::Command;

use pqike_crypto::awslc::AwsLcProvider;
use pqike_crypto::pki::load_private_key_pem;
use pqike_crypto::pkigen::{generate_chain, ChainSpec, EndEntitySpec, KeyType};
use pqike_crypto::sig::MlDsaSigningKey;
#[cfg(feature = "slh-dsa")]
use pqike_crypto::sig::SlhDsaSigningKey;
use pqike_crypto::{CryptoProvider, SignatureScheme, SigningKey};

struct Lab {
    root: PathBuf,
    /// Path inside the chroot ("/tmp/pqike-...").
    inner: String,
}

impl Lab {
    fn open() -> Option<Lab> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let skip = |why: &str| {
            assert!(!ci, "CI=true but the OpenSSL check cannot run: {why}");
            eprintln!("SKIPPED: OpenSSL interop check: {why}");
            None
        };
        let candidates = match std::env::var("PQIKE_OPENSSL_CHROOT") {
            Ok(p) => vec![PathBuf::from(p)],
            Err(_) => vec!["/srv/pqike-lab/trixie".into(), "/srv/pqike-lab/sid".into()],
        };
        let Some(root) = candidates
            .into_iter()
            .find(|r| r.join("usr/bin/openssl").exists())
        else {
            return skip("no chroot with usr/bin/openssl (chroot /srv/pqike-lab/trixie apt-get install openssl)");
        };
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return skip("not root (chroot needs it)");
        }
        // One directory per Lab: tests run in parallel in one process.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let inner = format!("/tmp/pqike-openssl-{}-{n}", std::process::id());
        std::fs::create_dir_all(root.join(&inner[1..])).unwrap();
        Some(Lab { root, inner })
    }

    fn host_path(&self, name: &str) -> PathBuf {
        self.root.join(&self.inner[1..]).join(name)
    }

    fn write(&self, name: &str, data: &[u8]) {
        std::fs::write(self.host_path(name), data).unwrap();
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.host_path(name)).unwrap()
    }

    /// Run `openssl args...` in the chroot, in the temp dir; returns (success, output).
    fn openssl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("chroot")
            .arg(&self.root)
            .args([
                "sh",
                "-c",
                &format!("cd {} && exec openssl \"$@\"", self.inner),
                "openssl",
            ])
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn openssl_ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.openssl(args);
        assert!(ok, "openssl {args:?} failed:\n{text}");
        text
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.root.join(&self.inner[1..]));
    }
}

fn spki_pem(spki: &[u8]) -> String {
    pem::encode(&pem::Pem::new("PUBLIC KEY", spki.to_vec()))
}

/// Our signature over some bytes verifies with `openssl pkeyutl -verify -rawin` (pure mode,
/// empty context: OpenSSL's defaults), and a flipped message does not.
fn check_signature(lab: &Lab, key: &dyn SigningKey, scheme: SignatureScheme) {
    let msg = b"pqike SignedOctets for an OpenSSL cross-check";
    let tag = scheme.name();
    lab.write(
        &format!("{tag}.pub"),
        spki_pem(key.public_key_spki()).as_bytes(),
    );
    lab.write(&format!("{tag}.msg"), msg);
    lab.write(
        &format!("{tag}.bad"),
        b"pqike SignedOctets for an OpenSSL cross-check!",
    );
    lab.write(&format!("{tag}.sig"), &key.sign(scheme, msg).unwrap());
    let args = |m: &str| {
        [
            "pkeyutl",
            "-verify",
            "-rawin",
            "-pubin",
            "-inkey",
            &format!("{tag}.pub"),
            "-in",
            &format!("{tag}.{m}"),
            "-sigfile",
            &format!("{tag}.sig"),
        ]
        .map(String::from)
    };
    let good = args("msg");
    let out = lab.openssl_ok(&good.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.contains("Signature Verified Successfully"),
        "{tag}: {out}"
    );
    let bad = args("bad");
    let (ok, _) = lab.openssl(&bad.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!ok, "{tag}: OpenSSL accepted a signature over other bytes");
}

#[test]
fn openssl_verifies_our_certificates_and_signatures() {
    let Some(lab) = Lab::open() else { return };
    let v = lab.openssl_ok(&["version"]);
    eprintln!("using {} in {}", v.trim(), lab.root.display());

    // ML-DSA-65 CA -> intermediate -> EE, and a mixed chain with ML-DSA-44 / -87.
    for (root, int, ee) in [
        (KeyType::MlDsa65, KeyType::MlDsa65, KeyType::MlDsa65),
        (KeyType::MlDsa87, KeyType::EcdsaP256, KeyType::MlDsa44),
        #[cfg(feature = "slh-dsa")]
        (
            KeyType::SlhDsa(SignatureScheme::SlhDsaSha2_128f),
            KeyType::MlDsa44,
            KeyType::SlhDsa(SignatureScheme::SlhDsaShake128f),
        ),
    ] {
        let mut spec = ChainSpec::new(root);
        spec.intermediates = vec![("pqike Test Intermediate".into(), int)];
        let mut e = EndEntitySpec::new("moon.example.org", ee);
        e.ips.push("192.0.2.1".parse().unwrap());
        spec.end_entities.push(e);
        let chain = generate_chain(&spec).unwrap();
        lab.write("ca.pem", chain.root.cert_pem.as_bytes());
        lab.write("int.pem", chain.intermediates[0].cert_pem.as_bytes());
        lab.write("ee.pem", chain.end_entities[0].cert_pem.as_bytes());
        let out = lab.openssl_ok(&[
            "verify",
            "-CAfile",
            "ca.pem",
            "-untrusted",
            "int.pem",
            "ee.pem",
        ]);
        assert!(out.contains("ee.pem: OK"), "{out}");
        // The same EE against a root that did not issue it fails.
        let other = generate_chain(&ChainSpec::new(root)).unwrap();
        lab.write("other.pem", other.root.cert_pem.as_bytes());
        let (ok, _) = lab.openssl(&[
            "verify",
            "-CAfile",
            "other.pem",
            "-untrusted",
            "int.pem",
            "ee.pem",
        ]);
        assert!(!ok, "OpenSSL verified {ee:?} under an unrelated root");
        // OpenSSL reads our PKCS#8 keys.
        lab.write("ee.key", chain.end_entities[0].key_pem.as_bytes());
        lab.openssl_ok(&["pkey", "-in", "ee.key", "-noout"]);
        eprintln!(
            "openssl verify: {} / {} / {}: OK",
            root.name(),
            int.name(),
            ee.name()
        );
    }

    for scheme in SignatureScheme::ML_DSA {
        check_signature(&lab, &MlDsaSigningKey::generate(scheme).unwrap(), scheme);
    }
    #[cfg(feature = "slh-dsa")]
    for scheme in [
        SignatureScheme::SlhDsaSha2_128s,
        SignatureScheme::SlhDsaSha2_128f,
        SignatureScheme::SlhDsaShake128f,
    ] {
        check_signature(&lab, &SlhDsaSigningKey::generate(scheme).unwrap(), scheme);
    }
}

#[test]
fn openssl_generated_keys_load_and_sign() {
    let Some(lab) = Lab::open() else { return };
    let provider = AwsLcProvider::new();
    // OpenSSL 3.5's ML-DSA PKCS#8 output formats: seed+expanded (default), expanded only,
    // seed only.
    let mut cases: Vec<(String, SignatureScheme, Vec<String>)> = Vec::new();
    for (alg, scheme) in [
        ("ML-DSA-44", SignatureScheme::MlDsa44),
        ("ML-DSA-65", SignatureScheme::MlDsa65),
        ("ML-DSA-87", SignatureScheme::MlDsa87),
    ] {
        for fmt in ["seed-priv", "priv-only", "seed-only"] {
            cases.push((
                format!("{alg}-{fmt}.key"),
                scheme,
                [
                    "genpkey",
                    "-algorithm",
                    alg,
                    "-provparam",
                    &format!("ml-dsa.output_formats={fmt}"),
                    "-out",
                    &format!("{alg}-{fmt}.key"),
                ]
                .map(String::from)
                .to_vec(),
            ));
        }
    }
    #[cfg(feature = "slh-dsa")]
    cases.push((
        "slh.key".into(),
        SignatureScheme::SlhDsaSha2_128f,
        [
            "genpkey",
            "-algorithm",
            "SLH-DSA-SHA2-128f",
            "-out",
            "slh.key",
        ]
        .map(String::from)
        .to_vec(),
    ));
    for (file, scheme, args) in cases {
        lab.openssl_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let key = load_private_key_pem(&lab.read(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.schemes(), [scheme], "{file}");
        // Our SPKI equals OpenSSL's view of the public key.
        let pub_name = format!("{file}.pub");
        lab.openssl_ok(&[
            "pkey", "-in", &file, "-pubout", "-outform", "DER", "-out", &pub_name,
        ]);
        assert_eq!(lab.read(&pub_name), key.public_key_spki(), "{file}");
        let sig = key.sign(scheme, b"x").unwrap();
        provider
            .verify(scheme, key.public_key_spki(), b"x", &sig)
            .unwrap();
        check_signature(&lab, key.as_ref(), scheme);
        eprintln!("{file}: loaded, SPKI matches OpenSSL, signature verifies with OpenSSL");
    }
}
