//! HTTPS for `ferry server` (`--tls-cert FILE --tls-key FILE`, SPEC §8.2): a rustls listener for
//! `axum::serve` whose certificate can be replaced while the server runs (on SIGHUP).
//!
//! [`ReloadableTls`] reads a PEM certificate chain and its PEM private key and hands the current pair
//! to every new handshake; [`ReloadableTls::reload`] re-reads both files and swaps the pair only if
//! they are valid together, so a bad renewal leaves the previous certificate in service. Connections
//! already open are not touched by a reload.
//!
//! [`TlsListener`] accepts TCP connections in a background task and runs each handshake in a task of
//! its own with a time limit ([`HANDSHAKE_TIMEOUT`]), so a client that connects and never speaks
//! delays nobody. axum only implements `Connected` for its own `TcpListener` and for its `TapIo`
//! wrapper, so serve [`TlsListener::with_connect_info`] when handlers need `ConnectInfo<SocketAddr>`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::serve::{ListenerExt, TapIo};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

const CERT_FLAG: &str = "--tls-cert";
const KEY_FLAG: &str = "--tls-key";

/// How long a client may take to complete its TLS handshake before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Finished handshakes waiting for the server to take them.
const ACCEPT_QUEUE: usize = 64;

/// The files `--tls-cert` and `--tls-key` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key of the first certificate: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: PathBuf,
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{flag} {}: cannot read it: {}", path.display(), io_reason(error))]
    Read {
        /// `--tls-cert` or `--tls-key`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// A file has a broken PEM section.
    #[error("{flag} {}: malformed PEM: {reason}", path.display())]
    Pem {
        /// `--tls-cert` or `--tls-key`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("--tls-cert {}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----){hint}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// A guess at what happened, or nothing.
        hint: &'static str,
    },
    /// The key file holds no private key.
    #[error(
        "--tls-key {}: no PEM private key found (expected -----BEGIN PRIVATE KEY-----, \
         -----BEGIN RSA PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----){hint}",
        path.display()
    )]
    NoKey {
        /// The file.
        path: PathBuf,
        /// A guess at what happened, or nothing.
        hint: &'static str,
    },
    /// The server's certificate cannot be parsed.
    #[error("--tls-cert {}: the certificate cannot be parsed: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The private key is of a kind or form the crypto provider does not support.
    #[error("--tls-key {}: the private key cannot be used: {reason}", path.display())]
    UnusableKey {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The private key is not the one the certificate was issued for.
    #[error(
        "the key in --tls-key {} does not match the certificate in --tls-cert {}; \
         give the private key the certificate was issued for",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// rustls refused the server configuration.
    #[error("cannot set up TLS: {0}")]
    Config(String),
    /// The SIGHUP handler cannot be installed.
    #[error("cannot listen for SIGHUP (used to reload the TLS certificate): {0}")]
    Signal(io::Error),
}

/// The certificate and key of `--tls-cert` / `--tls-key`, reloadable while the server runs.
/// Clones share the same certificate.
#[derive(Clone, Debug)]
pub struct ReloadableTls {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CurrentCert>,
    config: Arc<ServerConfig>,
    /// Held for a whole reload so that two reloads cannot install their results out of order.
    reloading: Mutex<()>,
}

impl ReloadableTls {
    /// Reads and checks the certificate chain and key.
    pub fn load(files: &TlsFiles) -> Result<ReloadableTls, TlsError> {
        // Explicit, never the process default: rustls cannot pick one when several are compiled in.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let resolver = Arc::new(CurrentCert(RwLock::new(read_certified_key(files, &provider)?)));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        // The HTTP server speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ReloadableTls {
            inner: Arc::new(Inner {
                files: files.clone(),
                provider,
                resolver,
                config: Arc::new(config),
                reloading: Mutex::new(()),
            }),
        })
    }

    /// Re-reads both files and serves them to new connections. On error the previous certificate
    /// stays in service.
    pub fn reload(&self) -> Result<(), TlsError> {
        let _reloading = self.inner.reloading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = read_certified_key(&self.inner.files, &self.inner.provider)?;
        self.inner.resolver.set(key);
        Ok(())
    }

    /// The files read on load and on every reload.
    pub fn files(&self) -> &TlsFiles {
        &self.inner.files
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.inner.config.clone())
    }
}

/// Hands the current certificate to every handshake.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl CurrentCert {
    fn get(&self) -> Arc<CertifiedKey> {
        // A poisoned lock still holds a complete `Arc`: the only write is a single assignment.
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = key;
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

fn read_certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_chain(&files.cert)?;
    let key = read_key(&files.key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::UnusableKey { path: files.key.clone(), reason: e.to_string() })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // `Unknown`: the provider cannot derive the public key; rustls accepts such pairs too.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(TlsError::KeyMismatch { key: files.key.clone(), cert: files.cert.clone() })
        }
        Err(e) => Err(TlsError::BadCertificate { path: files.cert.clone(), reason: e.to_string() }),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(CERT_FLAG, path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(CERT_FLAG, path, &e))?;
    if chain.is_empty() {
        let hint = if PrivateKeyDer::from_pem_slice(&pem).is_ok() {
            "; it holds a private key: are --tls-cert and --tls-key swapped?"
        } else {
            ""
        };
        return Err(TlsError::NoCertificate { path: path.to_path_buf(), hint });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(KEY_FLAG, path)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let hint = if CertificateDer::from_pem_slice(&pem).is_ok() {
                "; it holds a certificate: are --tls-cert and --tls-key swapped?"
            } else {
                ""
            };
            Err(TlsError::NoKey { path: path.to_path_buf(), hint })
        }
        Err(e) => Err(pem_error(KEY_FLAG, path, &e)),
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read { flag, path: path.to_path_buf(), error })
}

fn pem_error(flag: &'static str, path: &Path, e: &pem::Error) -> TlsError {
    let reason = match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a section does not end (expected -----END {}-----)", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("a BEGIN line is malformed: {}", String::from_utf8_lossy(line))
        }
        pem::Error::Base64Decode(e) => format!("a section is not valid base64 ({e})"),
        pem::Error::Io(e) => io_reason(e),
        other => other.to_string(),
    };
    TlsError::Pem { flag, path: path.to_path_buf(), reason }
}

/// An I/O error without the trailing " (os error N)".
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// A TLS listener for `axum::serve`: TCP connections are accepted in a background task and each
/// handshake runs in a task of its own, limited to [`HANDSHAKE_TIMEOUT`]; failed handshakes are
/// logged (debug) and dropped. Dropping the listener stops accepting.
pub struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    accepting: AbortHandle,
}

/// A [`TlsListener`] as [`TlsListener::with_connect_info`] returns it.
pub type TlsConnectInfoListener = TapIo<TlsListener, fn(&mut TlsStream<TcpStream>)>;

impl TlsListener {
    /// Starts accepting on `listener` with the certificate of `tls`. Must be called inside a Tokio
    /// runtime. Fails only if the listener's address cannot be read.
    pub fn new(listener: TcpListener, tls: ReloadableTls) -> io::Result<TlsListener> {
        TlsListener::with_handshake_timeout(listener, tls, HANDSHAKE_TIMEOUT)
    }

    /// [`TlsListener::new`] with another handshake time limit.
    pub fn with_handshake_timeout(
        listener: TcpListener,
        tls: ReloadableTls,
        timeout: Duration,
    ) -> io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let (sender, handshaken) = mpsc::channel(ACCEPT_QUEUE);
        let accepting = tokio::spawn(accept_loop(listener, tls.acceptor(), timeout, sender)).abort_handle();
        Ok(TlsListener { handshaken, local_addr, accepting })
    }

    /// The listener wrapped so that `Router::into_make_service_with_connect_info::<SocketAddr>()`
    /// accepts it (axum implements `Connected` for `SocketAddr` only for its own `TcpListener` and
    /// for `TapIo`, and no other crate may add one for `TlsListener`).
    pub fn with_connect_info(self) -> TlsConnectInfoListener {
        self.tap_io(|_| {})
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // Only if the accept task is gone, which it never leaves on its own.
            None => {
                tracing::error!(address = %self.local_addr, "the TLS listener stopped accepting connections");
                std::future::pending().await
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    timeout: Duration,
    handshaken: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Most likely out of file descriptors: wait for some connections to close (as axum does).
                tracing::error!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // TLS writes many small records (handshake flights, SSE events): do not let Nagle hold them.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
        }
        let acceptor = acceptor.clone();
        let handshaken = handshaken.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the listener is gone; the connection is dropped with it.
                    let _ = handshaken.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out after {}s", timeout.as_secs_f64()),
            }
        });
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Installs a SIGHUP handler that reloads `tls` on every signal: success is logged at info, failure
/// at warn (naming the file; the previous certificate stays in service). The handler is installed
/// before this returns; the returned task runs until aborted. Must be called inside a Tokio runtime.
#[cfg(unix)]
pub fn watch_sighup(tls: ReloadableTls) -> Result<tokio::task::JoinHandle<()>, TlsError> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut hangups = signal(SignalKind::hangup()).map_err(TlsError::Signal)?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let reloading = tls.clone();
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(())) => tracing::info!(
                    cert = %tls.files().cert.display(),
                    key = %tls.files().key.display(),
                    "SIGHUP: reloaded the TLS certificate and key"
                ),
                Ok(Err(e)) => {
                    tracing::warn!("SIGHUP: the TLS certificate was not reloaded, the previous one stays: {e}")
                }
                Err(e) => tracing::warn!("SIGHUP: the TLS certificate was not reloaded, the previous one stays: {e}"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_lose_the_os_error_number() {
        let missing = std::fs::read("/nonexistent/ferry/cert.pem").unwrap_err();
        assert_eq!(io_reason(&missing), "No such file or directory");
        assert_eq!(io_reason(&io::Error::other("odd (really)")), "odd (really)");
    }

    #[test]
    fn malformed_pem_is_described_in_words() {
        let path = Path::new("/x/cert.pem");
        let e = CertificateDer::pem_slice_iter(b"-----BEGIN CERTIFICATE-----\nAAAA\n")
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert_eq!(
            pem_error(CERT_FLAG, path, &e).to_string(),
            "--tls-cert /x/cert.pem: malformed PEM: a section does not end (expected -----END CERTIFICATE-----)"
        );
    }
}
