//! The daemon's one crypto provider: the engine (IKE) and the userspace data plane (ESP) take
//! their parts from the same value, so a provider composed with an extra part (a KEM, a
//! hardware ESP cipher) is used by both.
use pqike_crypto::provider::ComposedProvider;
use std::sync::{Arc, OnceLock};

/// The production provider (aws-lc-rs), built once.
pub fn provider() -> &'static ComposedProvider {
    static PROVIDER: OnceLock<ComposedProvider> = OnceLock::new();
    PROVIDER.get_or_init(pqike_crypto::awslc::aws_lc)
}

/// The provider as the engine holds it.
pub fn engine_provider() -> Arc<dyn pqike_crypto::CryptoProvider> {
    Arc::new(provider().clone())
}
