//! Authenticating cluster peers with a shared secret (`cluster.secret`):
//! a stranger who can reach a Raft port can neither join nor send Raft
//! messages, and a node never sends its data to a stranger.
//!
//! Every new transport connection starts with a mutual challenge-response
//! before any Raft frame; the secret itself never crosses the wire:
//!
//! ```text
//! dialer   -> acceptor nonce_d                               (32 random bytes)
//! acceptor -> dialer   nonce_a, HMAC(secret, "accept" | nonce_d | nonce_a)
//! dialer   -> acceptor HMAC(secret, "dial" | nonce_d | nonce_a)
//! ```
//!
//! Each side checks the other's tag in constant time and closes the
//! connection on a mismatch; the role labels keep one side's answer from
//! being replayed as the other's proof. Without a secret (the default) there is no
//! handshake. The secret authenticates peers; it does not encrypt the
//! traffic. With `tls-cluster` the connection is first wrapped in mutual
//! TLS ([`PeerTls`]: both ends present a certificate from the cluster's
//! CA) and the handshake above runs inside it. [`PeerSecurity`] is the
//! one place both are applied, for every connection dialed or accepted.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use kiwi_runtime::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use kiwi_runtime::net::TcpStream;
use kiwi_runtime::tls::{PeerStream, PeerTls};
use sha2::Sha256;

/// Longest dialing a peer may take: TCP connect, TLS and the secret's
/// handshake together.
const CONNECT_TIMEOUT_MS: u64 = 1_000;

/// How this node reaches and secures its cluster connections: the source
/// IP it dials from (optional), mutual TLS (optional), then the shared
/// secret's handshake (optional). Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct PeerSecurity {
    pub secret: PeerSecret,
    pub tls: Option<PeerTls>,
    /// `bind-source-addr`: the local IP peers see this node's connections
    /// come from.
    pub bind_source: Option<IpAddr>,
}

impl PeerSecurity {
    /// Dials the peer at `addr` and secures the connection, within
    /// [`CONNECT_TIMEOUT_MS`].
    pub async fn dial(&self, addr: &str) -> io::Result<PeerStream> {
        let connect = async {
            let tcp = kiwi_runtime::net::connect_from(addr, self.bind_source).await?;
            let _ = tcp.set_nodelay(true);
            let mut stream = match &self.tls {
                Some(tls) => tls.connect(tcp, addr).await?,
                None => PeerStream::Plain(tcp),
            };
            self.secret.dial(&mut stream).await?;
            Ok::<_, io::Error>(stream)
        };
        kiwi_runtime::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))?
    }

    /// Secures a connection a peer dialed (the caller bounds the time).
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<PeerStream> {
        let _ = tcp.set_nodelay(true);
        let mut stream = match &self.tls {
            Some(tls) => tls.accept(tcp).await?,
            None => PeerStream::Plain(tcp),
        };
        self.secret.accept(&mut stream).await?;
        Ok(stream)
    }
}

const NONCE_BYTES: usize = 32;
const TAG_BYTES: usize = 32;

/// The cluster's shared secret, if any (cheap to clone).
#[derive(Clone, Default)]
pub struct PeerSecret(Option<Arc<[u8]>>);

impl std::fmt::Debug for PeerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "PeerSecret(set)"
        } else {
            "PeerSecret(none)"
        })
    }
}

impl PeerSecret {
    pub fn new(secret: &str) -> PeerSecret {
        PeerSecret((!secret.is_empty()).then(|| Arc::from(secret.as_bytes())))
    }

    fn tag(&self, key: &[u8], role: &[u8], a: &[u8], d: &[u8]) -> io::Result<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| io::Error::other("invalid cluster secret"))?;
        mac.update(role);
        mac.update(a);
        mac.update(d);
        Ok(mac)
    }

    /// The dialing side of the handshake.
    pub async fn dial<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: &mut S) -> io::Result<()> {
        let Some(key) = &self.0 else { return Ok(()) };
        let nonce_d = nonce();
        send(stream, &nonce_d).await?;
        let mut answer = [0u8; NONCE_BYTES + TAG_BYTES];
        stream.read_exact(&mut answer).await?;
        let (nonce_a, tag) = answer.split_at(NONCE_BYTES);
        self.tag(key, b"accept", &nonce_d, nonce_a)?
            .verify_slice(tag)
            .map_err(|_| denied("the peer does not know the cluster secret"))?;
        let proof = self
            .tag(key, b"dial", &nonce_d, nonce_a)?
            .finalize()
            .into_bytes();
        send(stream, &proof).await
    }

    /// The accepting side of the handshake.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
    ) -> io::Result<()> {
        let Some(key) = &self.0 else { return Ok(()) };
        let mut nonce_d = [0u8; NONCE_BYTES];
        stream.read_exact(&mut nonce_d).await?;
        let nonce_a = nonce();
        let tag = self
            .tag(key, b"accept", &nonce_d, &nonce_a)?
            .finalize()
            .into_bytes();
        let mut answer = Vec::with_capacity(NONCE_BYTES + TAG_BYTES);
        answer.extend_from_slice(&nonce_a);
        answer.extend_from_slice(&tag);
        send(stream, &answer).await?;
        let mut proof = [0u8; TAG_BYTES];
        stream.read_exact(&mut proof).await?;
        self.tag(key, b"dial", &nonce_d, &nonce_a)?
            .verify_slice(&proof)
            .map_err(|_| denied("a peer failed cluster authentication"))
    }
}

/// Writes and flushes (madsim's streams send only on flush).
async fn send<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

fn nonce() -> [u8; NONCE_BYTES] {
    let mut n = [0u8; NONCE_BYTES];
    for chunk in n.chunks_mut(8) {
        chunk.copy_from_slice(&kiwi_runtime::rand::u64().to_le_bytes());
    }
    n
}

fn denied(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, what)
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    async fn handshake(dialer: &str, acceptor: &str) -> (io::Result<()>, io::Result<()>) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let (d, s) = (PeerSecret::new(dialer), PeerSecret::new(acceptor));
        tokio::join!(
            async move {
                let r = d.dial(&mut a).await;
                drop(a);
                r
            },
            async move {
                let r = s.accept(&mut b).await;
                drop(b);
                r
            }
        )
    }

    #[test]
    fn peers_with_the_same_secret_agree_and_others_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (d, a) = handshake("s3cret", "s3cret").await;
            assert!(d.is_ok() && a.is_ok());
            let (d, a) = handshake("wrong", "s3cret").await;
            assert!(
                d.is_err(),
                "the stranger cannot check the acceptor's answer"
            );
            assert!(a.is_err(), "and the acceptor refuses the stranger");
            let (d, a) = handshake("s3cret", "wrong").await;
            assert!(d.is_err(), "a dialer never talks Raft to a stranger");
            assert!(a.is_err());
            let (d, a) = handshake("", "").await;
            assert!(d.is_ok() && a.is_ok(), "no secret, no handshake");
        });
    }
}
