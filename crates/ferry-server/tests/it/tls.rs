//! HTTPS: the TLS listener under `axum::serve`, certificate reloads and the file errors. Certificates
//! are made at test time by throwaway CAs.

use std::error::Error as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::serve::Listener as _;
use ferry_server::tls::{ReloadableTls, TlsError, TlsFiles, TlsListener};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority that exists for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { issuer: Issuer::new(params, key), pem }
    }

    /// A server certificate for `localhost` and `127.0.0.1` with a new P-256 key: (cert PEM, key PEM).
    fn leaf(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        (self.leaf_for(&key), key.serialize_pem())
    }

    /// A server certificate for `localhost` and `127.0.0.1` issued to `key`.
    fn leaf_for(&self, key: &KeyPair) -> String {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "ferry test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.signed_by(key, &self.issuer).unwrap().pem()
    }

    /// A client that trusts this CA and nothing else.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap()])
            .no_proxy()
            .build()
            .unwrap()
    }
}

/// `cert.pem` and `key.pem` in a temporary directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files { dir: tempfile::tempdir().unwrap() }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    fn tls_files(&self) -> TlsFiles {
        TlsFiles { cert: self.cert(), key: self.key() }
    }

    fn write(&self, (cert, key): &(String, String)) -> &Files {
        std::fs::write(self.cert(), cert).unwrap();
        std::fs::write(self.key(), key).unwrap();
        self
    }

    fn load(&self) -> Result<ReloadableTls, TlsError> {
        ReloadableTls::load(&self.tls_files())
    }
}

async fn peer(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    peer.to_string()
}

/// Serves `/` ("ok") and `/peer` (the client's address) over TLS on 127.0.0.1:0 until the test ends.
async fn serve(listener: TlsListener) -> SocketAddr {
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", get(|| async { "ok" })).route("/peer", get(peer));
    tokio::spawn(async move {
        // As `ferry server` serves: with the peer address for handlers and a graceful shutdown.
        axum::serve(listener.with_connect_info(), router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(std::future::pending())
            .await
            .unwrap();
    });
    addr
}

async fn start(tls: &ReloadableTls) -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve(TlsListener::new(tcp, tls.clone()).unwrap()).await
}

/// `GET https://addr/path`: the status and body, or the error with its causes.
async fn get_text(client: &reqwest::Client, addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let response = client.get(format!("https://{addr}{path}")).send().await.map_err(|e| causes(&e))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| causes(&e))?))
}

fn causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Asserts that a client trusting only `ca` is refused because of the server's certificate.
async fn assert_refused(ca: &Ca, addr: SocketAddr) {
    let error = get_text(&ca.client(), addr, "/").await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test]
async fn serves_https_to_clients_trusting_the_ca_and_tells_handlers_the_peer_address() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let tls = files.write(&ca.leaf()).load().unwrap();
    let addr = start(&tls).await;
    let client = ca.client();

    assert_eq!(get_text(&client, addr, "/").await.unwrap(), (200, "ok".to_owned()));
    let (status, peer) = get_text(&client, addr, "/peer").await.unwrap();
    assert_eq!(status, 200);
    let peer: SocketAddr = peer.parse().unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.1");
    assert_ne!(peer.port(), 0);

    // By name too (the certificate names both).
    let by_name = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap()])
        .no_proxy()
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let response = by_name.get(format!("https://localhost:{}/", addr.port())).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
}

#[tokio::test]
async fn clients_not_trusting_the_ca_are_refused_and_others_still_served() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let tls = files.write(&ca.leaf()).load().unwrap();
    let addr = start(&tls).await;

    assert_refused(&Ca::new("stranger"), addr).await;
    // Plain HTTP on the TLS port is a failed handshake, not a served request.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(plain.get(format!("http://{addr}/")).send().await.is_err());

    assert_eq!(get_text(&ca.client(), addr, "/").await.unwrap(), (200, "ok".to_owned()));
}

#[tokio::test]
async fn a_reload_gives_new_connections_the_new_certificate() {
    let (first, second) = (Ca::new("first"), Ca::new("second"));
    let files = Files::new();
    let tls = files.write(&first.leaf()).load().unwrap();
    let addr = start(&tls).await;
    let before = first.client();
    assert_eq!(get_text(&before, addr, "/").await.unwrap().0, 200);
    assert_refused(&second, addr).await;

    files.write(&second.leaf());
    tls.reload().unwrap();

    assert_eq!(get_text(&second.client(), addr, "/").await.unwrap(), (200, "ok".to_owned()));
    assert_refused(&first, addr).await;
    // The connection opened before the reload is untouched (the client reuses it).
    assert_eq!(get_text(&before, addr, "/").await.unwrap().0, 200);
}

#[tokio::test]
async fn a_failed_reload_names_the_file_and_keeps_the_previous_certificate() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let tls = files.write(&ca.leaf()).load().unwrap();
    let addr = start(&tls).await;

    std::fs::write(files.cert(), "renewal went wrong\n").unwrap();
    let error = tls.reload().unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "--tls-cert {}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)",
            files.cert().display()
        )
    );
    assert_eq!(get_text(&ca.client(), addr, "/").await.unwrap(), (200, "ok".to_owned()));

    // A new certificate beside the old key.
    std::fs::write(files.cert(), Ca::new("other").leaf().0).unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::KeyMismatch { .. })));
    assert_eq!(get_text(&ca.client(), addr, "/").await.unwrap(), (200, "ok".to_owned()));

    std::fs::remove_file(files.key()).unwrap();
    assert!(matches!(tls.reload(), Err(TlsError::Read { .. })));
    assert_eq!(get_text(&ca.client(), addr, "/").await.unwrap(), (200, "ok".to_owned()));
}

#[tokio::test]
async fn a_client_that_never_handshakes_does_not_hold_up_others() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let tls = files.write(&ca.leaf()).load().unwrap();
    let addr = start(&tls).await;

    // Connected first, and silent: with handshakes run one after another, the request below would
    // wait the full handshake timeout (10 s) behind it.
    let _stalled = TcpStream::connect(addr).await.unwrap();
    let client = ca.client();
    let request = get_text(&client, addr, "/");
    let answer = tokio::time::timeout(Duration::from_secs(5), request).await.expect("the request waited");
    assert_eq!(answer.unwrap(), (200, "ok".to_owned()));
}

#[tokio::test]
async fn a_handshake_that_takes_too_long_is_dropped() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let tls = files.write(&ca.leaf()).load().unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = serve(TlsListener::with_handshake_timeout(tcp, tls.clone(), Duration::from_millis(100)).unwrap()).await;

    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut buf)).await.expect("not dropped");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(get_text(&ca.client(), addr, "/").await.unwrap().0, 200);
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_certificate() {
    let (first, second) = (Ca::new("first"), Ca::new("second"));
    let files = Files::new();
    let tls = files.write(&first.leaf()).load().unwrap();
    let addr = start(&tls).await;
    let watcher = ferry_server::tls::watch_sighup(tls.clone()).unwrap();

    files.write(&second.leaf());
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
    let client = second.client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while get_text(&client, addr, "/").await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the certificate was not reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
}

fn load_error(files: &Files) -> String {
    files.load().unwrap_err().to_string()
}

#[test]
fn unreadable_files_are_named() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let (cert, key) = ca.leaf();

    std::fs::write(files.key(), &key).unwrap();
    assert_eq!(
        load_error(&files),
        format!("--tls-cert {}: cannot read it: No such file or directory", files.cert().display())
    );

    std::fs::write(files.cert(), &cert).unwrap();
    std::fs::remove_file(files.key()).unwrap();
    assert_eq!(
        load_error(&files),
        format!("--tls-key {}: cannot read it: No such file or directory", files.key().display())
    );
}

#[test]
fn files_without_the_expected_pem_block_are_named() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let (cert, key) = ca.leaf();

    files.write(&("not a certificate\n".to_owned(), key.clone()));
    assert_eq!(
        load_error(&files),
        format!(
            "--tls-cert {}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)",
            files.cert().display()
        )
    );

    files.write(&(cert.clone(), String::new()));
    assert_eq!(
        load_error(&files),
        format!(
            "--tls-key {}: no PEM private key found (expected -----BEGIN PRIVATE KEY-----, \
             -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----)",
            files.key().display()
        )
    );

    files.write(&(key, cert));
    assert_eq!(
        load_error(&files),
        format!(
            "--tls-cert {}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----); \
             it holds a private key: are --tls-cert and --tls-key swapped?",
            files.cert().display()
        )
    );

    let (cert, _) = ca.leaf();
    let cut = cert.trim_end().trim_end_matches("-----END CERTIFICATE-----");
    files.write(&(cut.to_owned(), ca.leaf().1));
    assert_eq!(
        load_error(&files),
        format!(
            "--tls-cert {}: malformed PEM: a section does not end (expected -----END CERTIFICATE-----)",
            files.cert().display()
        )
    );
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let ca = Ca::new("ca");
    let files = Files::new();
    files.write(&(ca.leaf().0, ca.leaf().1));
    assert_eq!(
        load_error(&files),
        format!(
            "the key in --tls-key {} does not match the certificate in --tls-cert {}; \
             give the private key the certificate was issued for",
            files.key().display(),
            files.cert().display()
        )
    );
}

#[test]
fn pkcs8_pkcs1_and_sec1_keys_are_accepted() {
    let ca = Ca::new("ca");
    let files = Files::new();
    let ec = KeyPair::generate().unwrap();
    let rsa = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();

    for (key, inner_label) in [(&ec, "EC PRIVATE KEY"), (&rsa, "RSA PRIVATE KEY")] {
        let cert = ca.leaf_for(key);
        files.write(&(cert.clone(), key.serialize_pem()));
        files.load().unwrap_or_else(|e| panic!("PKCS#8 {inner_label}: {e}"));
        let inner = pem::encode(&pem::Pem::new(inner_label, pkcs8_inner_key(key.serialized_der())));
        files.write(&(cert, inner));
        files.load().unwrap_or_else(|e| panic!("{inner_label}: {e}"));
    }
}

/// The algorithm-specific key (PKCS#1 for RSA, SEC1 for EC) inside a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_inner_key(der: &[u8]) -> Vec<u8> {
    fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, header) = match input[1] {
            short if short < 0x80 => (short as usize, 2),
            long => {
                let n = (long & 0x7f) as usize;
                (input[2..2 + n].iter().fold(0, |len, b| len << 8 | *b as usize), 2 + n)
            }
        };
        (input[0], &input[header..header + len], &input[header + len..])
    }
    let (_, info, _) = tlv(der);
    let (_, _version, rest) = tlv(info);
    let (_, _algorithm, rest) = tlv(rest);
    let (tag, key, _) = tlv(rest);
    assert_eq!(tag, 0x04, "an OCTET STRING");
    key.to_vec()
}
