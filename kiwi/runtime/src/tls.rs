//! TLS (rustls) for the two kinds of connection a node has:
//!
//! - clients: [`TlsAcceptor`], the server's certificate and key, and
//!   optionally a CA whose certificates clients must present (Redis's
//!   `tls-auth-clients`);
//! - cluster peers: [`PeerTls`], mutual TLS where both ends present a
//!   certificate signed by the cluster's CA (Redis's `tls-cluster`), and
//!   [`PeerStream`], a transport connection with or without it.
//!
//! Part of the runtime layer because it wraps sockets. Under madsim there
//! is no TLS: the loaders refuse and peer streams are plain.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::TcpStream;

/// Whether clients must present a certificate signed by the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Required,
    Optional,
    None,
}

/// A cluster transport connection: plain TCP, or TLS over it when the
/// cluster runs with `tls-cluster`.
pub enum PeerStream {
    Plain(TcpStream),
    #[cfg(not(madsim))]
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(not(madsim))]
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(not(madsim))]
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(not(madsim))]
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PeerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(not(madsim))]
            PeerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(not(madsim))]
mod real {
    use super::*;
    use std::sync::{Arc, RwLock};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use tokio_rustls::rustls::client::WebPkiServerVerifier;
    use tokio_rustls::rustls::crypto::CryptoProvider;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
    use tokio_rustls::rustls::server::WebPkiClientVerifier;
    use tokio_rustls::rustls::{
        CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
        SignatureScheme,
    };

    /// A TLS stream over a client's TCP connection.
    pub type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

    /// The client listener's TLS context; clones share it, and
    /// [`TlsAcceptor::reload`] swaps it for connections accepted after.
    #[derive(Clone)]
    pub struct TlsAcceptor(Arc<RwLock<tokio_rustls::TlsAcceptor>>);

    /// The value behind a lock a panicking writer may have poisoned (the
    /// value is always whole: writers only assign).
    fn read<T: Clone>(lock: &RwLock<T>) -> T {
        lock.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn write<T>(lock: &RwLock<T>, value: T) {
        *lock.write().unwrap_or_else(|e| e.into_inner()) = value;
    }

    fn invalid(what: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, what)
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(invalid(format!("{}: no certificate", path.display())));
        }
        Ok(certs)
    }

    fn key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
        PrivateKeyDer::from_pem_file(path).map_err(|e| invalid(format!("{}: {e}", path.display())))
    }

    fn roots(ca: &Path) -> io::Result<Arc<RootCertStore>> {
        let mut roots = RootCertStore::empty();
        for cert in certs(ca)? {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
        }
        Ok(Arc::new(roots))
    }

    /// A server config presenting `cert_file`/`key_file`, checking client
    /// certificates against `ca_file` as `client_auth` says.
    fn server_config(
        cert_file: &Path,
        key_file: &Path,
        ca_file: Option<&Path>,
        client_auth: ClientAuth,
    ) -> io::Result<ServerConfig> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS: {e}")))?;
        let builder = match (client_auth, ca_file) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (_, None) => {
                return Err(invalid(
                    "tls-auth-clients needs tls-ca-cert-file (the CA client certificates are signed by)".into(),
                ))
            }
            (auth, Some(ca)) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider());
                let verifier = if auth == ClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| invalid(format!("TLS client verifier: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        builder
            .with_single_cert(certs(cert_file)?, key(key_file)?)
            .map_err(|e| invalid(format!("{}: {e}", cert_file.display())))
    }

    impl TlsAcceptor {
        /// Reads the PEM files; errors name the file and what is wrong.
        pub fn load(
            cert_file: &Path,
            key_file: &Path,
            ca_file: Option<&Path>,
            client_auth: ClientAuth,
        ) -> io::Result<TlsAcceptor> {
            let config = server_config(cert_file, key_file, ca_file, client_auth)?;
            Ok(TlsAcceptor(Arc::new(RwLock::new(
                tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            ))))
        }

        /// Certificate rotation: connections accepted from now on use
        /// `fresh`'s context (loaded with [`TlsAcceptor::load`]).
        pub fn adopt(&self, fresh: &TlsAcceptor) {
            write(&self.0, read(&fresh.0));
        }

        /// The server side of the handshake on an accepted connection.
        pub async fn accept(&self, stream: TcpStream) -> io::Result<TlsStream> {
            read(&self.0).accept(stream).await
        }
    }

    /// Checks a peer's certificate chain against the cluster CA but not
    /// the name in it: peers dial each other by `raft-addr` (often a bare
    /// IP), and membership in the cluster is what the CA vouches for.
    /// Redis's `tls-cluster` trusts the CA the same way.
    #[derive(Debug)]
    struct ClusterCaVerifier(Arc<WebPkiServerVerifier>);

    impl ServerCertVerifier for ClusterCaVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            match self
                .0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }

    /// Mutual TLS between cluster peers: each end presents its certificate
    /// and requires one from the other signed by the same CA. Clones share
    /// the context, and [`PeerTls::reload`] swaps it for new connections.
    #[derive(Clone)]
    pub struct PeerTls(Arc<RwLock<PeerContext>>);

    #[derive(Clone)]
    struct PeerContext {
        connector: tokio_rustls::TlsConnector,
        acceptor: tokio_rustls::TlsAcceptor,
    }

    impl PeerContext {
        fn load(cert_file: &Path, key_file: &Path, ca_file: &Path) -> io::Result<PeerContext> {
            let server = server_config(cert_file, key_file, Some(ca_file), ClientAuth::Required)?;
            let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca_file)?, provider())
                .build()
                .map_err(|e| invalid(format!("TLS peer verifier: {e}")))?;
            let client = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| invalid(format!("TLS: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ClusterCaVerifier(verifier)))
                .with_client_auth_cert(certs(cert_file)?, key(key_file)?)
                .map_err(|e| invalid(format!("{}: {e}", cert_file.display())))?;
            Ok(PeerContext {
                connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
                acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            })
        }
    }

    impl std::fmt::Debug for PeerTls {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("PeerTls")
        }
    }

    impl PeerTls {
        /// Reads the PEM files; errors name the file and what is wrong.
        pub fn load(cert_file: &Path, key_file: &Path, ca_file: &Path) -> io::Result<PeerTls> {
            let context = PeerContext::load(cert_file, key_file, ca_file)?;
            Ok(PeerTls(Arc::new(RwLock::new(context))))
        }

        /// Certificate rotation: connections made or accepted from now on
        /// use `fresh`'s context (loaded with [`PeerTls::load`]).
        pub fn adopt(&self, fresh: &PeerTls) {
            write(&self.0, read(&fresh.0));
        }

        /// The dialing side of the handshake, to the peer at `addr`.
        pub async fn connect(&self, stream: TcpStream, addr: &str) -> io::Result<PeerStream> {
            let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string())
                .or_else(|_| ServerName::try_from("kiwi-peer"))
                .map_err(|e| invalid(format!("TLS server name: {e}")))?;
            let tls = read(&self.0).connector.connect(name, stream).await?;
            Ok(PeerStream::Tls(Box::new(tokio_rustls::TlsStream::Client(
                tls,
            ))))
        }

        /// The accepting side of the handshake.
        pub async fn accept(&self, stream: TcpStream) -> io::Result<PeerStream> {
            let tls = read(&self.0).acceptor.accept(stream).await?;
            Ok(PeerStream::Tls(Box::new(tokio_rustls::TlsStream::Server(
                tls,
            ))))
        }
    }
}

#[cfg(not(madsim))]
pub use real::{PeerTls, TlsAcceptor, TlsStream};

#[cfg(madsim)]
mod simulated {
    use super::*;

    fn unsupported<T>() -> io::Result<T> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TLS is not available in simulation",
        ))
    }

    /// Never constructed: the simulator has no TLS.
    pub type TlsStream = TcpStream;

    #[derive(Clone)]
    pub struct TlsAcceptor;

    impl TlsAcceptor {
        pub fn load(
            _cert_file: &Path,
            _key_file: &Path,
            _ca_file: Option<&Path>,
            _client_auth: ClientAuth,
        ) -> io::Result<TlsAcceptor> {
            unsupported()
        }

        pub fn adopt(&self, _fresh: &TlsAcceptor) {}

        pub async fn accept(&self, stream: TcpStream) -> io::Result<TlsStream> {
            Ok(stream)
        }
    }

    /// Never constructed: the simulator has no TLS.
    #[derive(Clone, Debug)]
    pub struct PeerTls;

    impl PeerTls {
        pub fn load(_cert_file: &Path, _key_file: &Path, _ca_file: &Path) -> io::Result<PeerTls> {
            unsupported()
        }

        pub fn adopt(&self, _fresh: &PeerTls) {}

        pub async fn connect(&self, stream: TcpStream, _addr: &str) -> io::Result<PeerStream> {
            Ok(PeerStream::Plain(stream))
        }

        pub async fn accept(&self, stream: TcpStream) -> io::Result<PeerStream> {
            Ok(PeerStream::Plain(stream))
        }
    }
}

#[cfg(madsim)]
pub use simulated::{PeerTls, TlsAcceptor, TlsStream};
