//! Loading certificates (PEM or DER) and private keys (PEM) from files named in the config.
use std::path::Path;
use std::sync::Arc;

/// All certificates in a file: PEM (`CERTIFICATE` blocks, in order) or a single DER certificate.
pub fn load_certs(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if data.windows(10).any(|w| w == b"-----BEGIN") {
        pqike_crypto::pki::load_certs_pem(&data).map_err(|e| format!("{}: {e}", path.display()))
    } else if data.first() == Some(&0x30) {
        Ok(vec![data])
    } else {
        Err(format!("{}: neither PEM nor DER", path.display()))
    }
}

/// Our private key (PKCS#8, SEC1 or PKCS#1 PEM), as a signer for IKE AUTH.
pub fn load_signing_key(path: &Path) -> Result<Arc<dyn pqike_crypto::SigningKey>, String> {
    let data = zeroize::Zeroizing::new(
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    pqike_crypto::pki::load_private_key_pem(&data).map_err(|e| format!("{}: {e}", path.display()))
}
