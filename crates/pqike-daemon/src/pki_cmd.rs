//! `pqike pki`: a test PKI in one command (root CA, N intermediates, end-entities) for any key
//! type pqike authenticates with, including ML-DSA and SLH-DSA, written in lab/pki.sh's layout so
//! a pqiked.toml (or strongSwan's swanctl) can point at it directly:
//!
//! ```text
//! DIR/ca.pem  ca.key.pem  int1.pem int1.key.pem ... intN.pem  NAME.pem NAME.key.pem ...
//! ```
//! `int1` is signed by the root, `intN` issues the end-entities (send them leaf-most first).
use pqike_crypto::pkigen::{generate_chain, ChainSpec, EndEntitySpec, KeyType};
use std::path::Path;

/// Key type from a user-friendly name: "mldsa65", "ml-dsa-65", "slh-dsa-sha2-128s",
/// "slhdsasha2128s", "ecdsa-p256", "rsa3072", ... (case and dashes ignored).
pub fn parse_key_type(name: &str) -> Result<KeyType, String> {
    let norm = |s: &str| s.replace(['-', '_'], "").to_ascii_lowercase();
    KeyType::all()
        .into_iter()
        .find(|k| norm(&k.name()) == norm(name))
        .ok_or_else(|| {
            let names: Vec<String> = KeyType::all().iter().map(KeyType::name).collect();
            format!("unknown key type `{name}` (one of: {})", names.join(", "))
        })
}

/// Options of `pqike pki`.
pub struct PkiOptions<'a> {
    /// Output directory (created).
    pub out: &'a Path,
    /// Key type of every certificate.
    pub key: KeyType,
    /// Number of intermediate CAs between root and end-entities.
    pub intermediates: usize,
    /// End-entity names (CN and dNSName).
    pub end_entities: &'a [String],
    /// Validity in days from now (starting one hour ago).
    pub days: u32,
}

fn write(path: &Path, data: &[u8], private: bool) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Generate and write the PKI; returns a summary for the user.
pub fn run(o: &PkiOptions<'_>) -> Result<String, String> {
    if o.end_entities.is_empty() {
        return Err("name at least one end-entity with --ee".into());
    }
    for ee in o.end_entities {
        if ee.is_empty() || ee.contains(['/', '\0']) || ee.starts_with('.') {
            return Err(format!(
                "`{ee}` is not usable as an end-entity name / file name"
            ));
        }
    }
    let mut spec = ChainSpec::new(o.key);
    spec.not_after = spec.not_before + 3600 + i64::from(o.days) * 86_400;
    spec.root.0 = format!("pqike {} Root CA", o.key.name());
    spec.intermediates = (1..=o.intermediates)
        .map(|i| (format!("pqike {} Intermediate CA {i}", o.key.name()), o.key))
        .collect();
    spec.end_entities = o
        .end_entities
        .iter()
        .map(|n| EndEntitySpec::new(n, o.key))
        .collect();
    let chain = generate_chain(&spec).map_err(|e| format!("generating the PKI: {e}"))?;
    std::fs::create_dir_all(o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let mut files = Vec::new();
    let mut put = |stem: &str, c: &pqike_crypto::pkigen::Issued| -> Result<(), String> {
        write(
            &o.out.join(format!("{stem}.pem")),
            c.cert_pem.as_bytes(),
            false,
        )?;
        write(
            &o.out.join(format!("{stem}.key.pem")),
            c.key_pem.as_bytes(),
            true,
        )?;
        files.push(format!("{stem}.pem ({} octets DER)", c.cert_der.len()));
        Ok(())
    };
    put("ca", &chain.root)?;
    for (i, c) in chain.intermediates.iter().enumerate() {
        put(&format!("int{}", i + 1), c)?;
    }
    for c in &chain.end_entities {
        put(&c.common_name, c)?;
    }
    Ok(format!(
        "{} PKI in {}: {}\nverify: openssl verify -CAfile ca.pem{} NAME.pem",
        o.key.name(),
        o.out.display(),
        files.join(", "),
        (1..=o.intermediates)
            .map(|i| format!(" -untrusted int{i}.pem"))
            .collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_names_are_forgiving() {
        assert_eq!(parse_key_type("mldsa65").unwrap(), KeyType::MlDsa65);
        assert_eq!(parse_key_type("ML-DSA-44").unwrap(), KeyType::MlDsa44);
        assert_eq!(parse_key_type("ecdsa-p256").unwrap(), KeyType::EcdsaP256);
        assert!(matches!(
            parse_key_type("slh-dsa-sha2-128s").unwrap(),
            KeyType::SlhDsa(_)
        ));
        assert!(parse_key_type("dsa1024").unwrap_err().contains("ml-dsa-65"));
    }

    #[test]
    fn writes_the_lab_layout_and_the_chain_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let ees = vec!["a.example".to_string(), "b.example".to_string()];
        let summary = run(&PkiOptions {
            out: dir.path(),
            key: KeyType::MlDsa44,
            intermediates: 2,
            end_entities: &ees,
            days: 30,
        })
        .unwrap();
        assert!(summary.contains("-untrusted int2.pem"), "{summary}");
        for f in [
            "ca.pem",
            "ca.key.pem",
            "int1.pem",
            "int2.pem",
            "int2.key.pem",
            "a.example.pem",
            "b.example.key.pem",
        ] {
            assert!(dir.path().join(f).exists(), "{f} missing");
        }
        // The end-entity chains to the root through both intermediates with our verifier.
        use pqike_crypto::pki::{verify_chain, Certificate};
        let der = |f: &str| {
            let pem = std::fs::read(dir.path().join(f)).unwrap();
            pqike_crypto::pki::load_certs_pem(&pem).unwrap().remove(0)
        };
        let ee = Certificate::parse(&der("a.example.pem")).unwrap();
        let ints = [
            Certificate::parse(&der("int2.pem")).unwrap(),
            Certificate::parse(&der("int1.pem")).unwrap(),
        ];
        let root = [Certificate::parse(&der("ca.pem")).unwrap()];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        verify_chain(&ee, &ints, &root, now).unwrap();
        assert!(verify_chain(&ee, &ints[..1], &root, now).is_err());
        // the key loads as an ML-DSA signing key
        let key = std::fs::read(dir.path().join("a.example.key.pem")).unwrap();
        let key = pqike_crypto::pki::load_private_key_pem(&key).unwrap();
        assert_eq!(key.schemes(), &[pqike_crypto::SignatureScheme::MlDsa44][..]);
    }
}
