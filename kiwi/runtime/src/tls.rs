//! TLS for client connections (rustls): the server's certificate and key,
//! and optionally a CA whose certificates clients must present (Redis's
//! `tls-auth-clients`). Part of the runtime layer because it wraps sockets;
//! under madsim there is no TLS and [`TlsAcceptor::load`] refuses.

use std::io;
use std::path::Path;

/// Whether clients must present a certificate signed by the CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Required,
    Optional,
    None,
}

#[cfg(not(madsim))]
mod real {
    use super::*;
    use std::sync::Arc;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::server::WebPkiClientVerifier;
    use tokio_rustls::rustls::{RootCertStore, ServerConfig};

    /// A TLS stream over a client's TCP connection.
    pub type TlsStream = tokio_rustls::server::TlsStream<crate::net::TcpStream>;

    #[derive(Clone)]
    pub struct TlsAcceptor(tokio_rustls::TlsAcceptor);

    fn invalid(what: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, what)
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

    impl TlsAcceptor {
        /// Reads the PEM files; errors name the file and what is wrong.
        pub fn load(
            cert_file: &Path,
            key_file: &Path,
            ca_file: Option<&Path>,
            client_auth: ClientAuth,
        ) -> io::Result<TlsAcceptor> {
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            let chain = certs(cert_file)?;
            let key = PrivateKeyDer::from_pem_file(key_file)
                .map_err(|e| invalid(format!("{}: {e}", key_file.display())))?;
            let builder = ServerConfig::builder_with_provider(provider.clone())
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
                    let mut roots = RootCertStore::empty();
                    for cert in certs(ca)? {
                        roots
                            .add(cert)
                            .map_err(|e| invalid(format!("{}: {e}", ca.display())))?;
                    }
                    let verifier =
                        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
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
            let config = builder
                .with_single_cert(chain, key)
                .map_err(|e| invalid(format!("{}: {e}", cert_file.display())))?;
            Ok(TlsAcceptor(tokio_rustls::TlsAcceptor::from(Arc::new(
                config,
            ))))
        }

        /// The server side of the handshake on an accepted connection.
        pub async fn accept(&self, stream: crate::net::TcpStream) -> io::Result<TlsStream> {
            self.0.accept(stream).await
        }
    }
}

#[cfg(not(madsim))]
pub use real::{TlsAcceptor, TlsStream};

#[cfg(madsim)]
mod simulated {
    use super::*;

    /// Never constructed: the simulator has no TLS.
    pub type TlsStream = crate::net::TcpStream;

    #[derive(Clone)]
    pub struct TlsAcceptor;

    impl TlsAcceptor {
        pub fn load(
            _cert_file: &Path,
            _key_file: &Path,
            _ca_file: Option<&Path>,
            _client_auth: ClientAuth,
        ) -> io::Result<TlsAcceptor> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS is not available in simulation",
            ))
        }

        pub async fn accept(&self, stream: crate::net::TcpStream) -> io::Result<TlsStream> {
            Ok(stream)
        }
    }
}

#[cfg(madsim)]
pub use simulated::{TlsAcceptor, TlsStream};
