//! `ferry server --tls-cert --tls-key`: HTTPS with a certificate from a CA made for the test, answered
//! by a client that trusts that CA (`--ca-cert`) and refused by one that does not.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

use crate::{Server, path, run};

/// Writes a CA certificate, and a server certificate and key for `localhost` and `127.0.0.1` signed by
/// it, into `dir`: (ca, cert, key).
fn certificates(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "ferry test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert_pem = leaf.signed_by(&key, &issuer).unwrap().pem();
    let files = (dir.join("ca.pem"), dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&files.0, ca_pem).unwrap();
    std::fs::write(&files.1, cert_pem).unwrap();
    std::fs::write(&files.2, key.serialize_pem()).unwrap();
    files
}

#[test]
fn the_server_speaks_https_to_clients_that_trust_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let server = Server::start_in(&dir.path().join("data"), &["--tls-cert", path(&cert), "--tls-key", path(&key)]);
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);

    let r = server.ferry(&["--ca-cert", path(&ca), "get", "products", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["items"], serde_json::json!([]));

    // Without the CA the certificate is not trusted: the request fails, nothing is answered.
    let r = server.ferry(&["get", "products", "-o", "json"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.is_empty());

    // Plain HTTP to the HTTPS port gets no answer either.
    let plain = server.url.replace("https://", "http://");
    let r = run(&["--server", &plain, "get", "products"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

#[test]
fn unusable_certificate_files_stop_the_start_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = certificates(dir.path());
    let missing = dir.path().join("missing.crt");
    let data = dir.path().join("data");
    let r = run(&[
        "server",
        "--data",
        path(&data),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path(&missing),
        "--tls-key",
        path(&key),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--tls-cert") && r.stderr.contains("missing.crt"), "{}", r.stderr);
    // Certificate and key swapped.
    let r = run(&[
        "server",
        "--data",
        path(&data),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        path(&key),
        "--tls-key",
        path(&cert),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--tls-cert"), "{}", r.stderr);
    // One without the other is a usage error.
    let r = run(&["server", "--data", path(&data), "--tls-cert", path(&cert)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--tls-key"), "{}", r.stderr);
}
