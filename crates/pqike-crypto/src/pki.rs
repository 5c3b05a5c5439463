//! X.509 certificates: parsing, identities, chain verification; PEM loading of certs and keys.
