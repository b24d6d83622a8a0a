//! What the daemon's integration tests share: certificates made at test time.

// Test helpers: a failed setup step should panic at once.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

/// PEM files of a test CA and of a server certificate it signed.
pub(crate) struct TlsFiles {
    /// The CA certificate (what a client trusts).
    pub(crate) ca: PathBuf,
    /// The server's certificate chain and key (`[http] tls_cert`, `tls_key`).
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// Writes `ca.pem`, `server.pem` and `server.key` into `dir`: a CA made now and a server
/// certificate for `names` (DNS names or IP addresses) signed by it.
pub(crate) fn tls_files(dir: &Path, names: &[&str]) -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "ironpost daemon test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = p.signed_by(&key, &issuer).unwrap();
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}
