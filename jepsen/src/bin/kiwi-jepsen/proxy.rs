//! Network partitions without root: a fault-injecting TCP proxy in front of
//! every node's Raft listener.
//!
//! Node `i` listens for Raft on a private port, advertises its proxy's
//! address as its `raft-addr` (so every peer dials the proxy) and dials its
//! peers from its own loopback IP, `127.0.1.i` (`bind-source-addr`). The
//! proxy therefore knows each connection's link: the source IP names the
//! dialing node, the proxy names the target. Raft RPCs, forwarded client
//! commands and the pub/sub relay all cross it.
//!
//! A cut link behaves like a network that drops packets: bytes already
//! read wait in the proxy and new connections are held unanswered, until
//! the link heals (then the held bytes arrive late, as TCP's retransmission
//! would deliver them) or the node gives up and closes. Each direction of a
//! link is cut separately, so one-way partitions are possible. Clients
//! reach the nodes directly and are never partitioned, as in Jepsen.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kiwi_runtime::io::{AsyncReadExt, AsyncWriteExt};
use kiwi_runtime::net::{TcpListener, TcpStream};
use kiwi_runtime::sync::watch;

/// Most connections the proxies hold open at once (all links together);
/// beyond it new connections are closed at once.
const MAX_CONNECTIONS: usize = 1_024;
/// Bytes one direction of a connection reads before it waits to write.
const CHUNK_BYTES: usize = 64 * 1024;

/// The loopback IP node `id` dials its peers from.
pub fn source_ip(id: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, id))
}

/// The node a connection comes from, by its source IP.
fn node_of(ip: IpAddr) -> Option<u8> {
    match ip {
        IpAddr::V4(v4) if v4.octets()[..3] == [127, 0, 1] => Some(v4.octets()[3]),
        _ => None,
    }
}

/// Directed links `(from, to)` that drop traffic right now.
pub type Cuts = BTreeSet<(u8, u8)>;

/// The switchboard: which links are cut. Every proxy watches it.
#[derive(Clone)]
pub struct Net {
    cuts: watch::Sender<Cuts>,
    open: Arc<AtomicUsize>,
}

impl Net {
    pub fn new() -> Net {
        Net {
            cuts: watch::Sender::new(Cuts::new()),
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Cuts both directions between every node of `a` and every node of `b`.
    pub fn partition(&self, a: &[u8], b: &[u8]) {
        self.cuts.send_modify(|cuts| {
            for &x in a {
                for &y in b {
                    assert_ne!(x, y, "a node cannot be cut from itself");
                    cuts.insert((x, y));
                    cuts.insert((y, x));
                }
            }
        });
    }

    /// Heals every link.
    pub fn heal(&self) {
        self.cuts.send_modify(Cuts::clear);
    }

    /// Starts the proxy for node `target`: accepts on `listener` and
    /// forwards to `upstream`, the node's own Raft listener. Runs until the
    /// process ends.
    pub fn spawn_proxy(&self, target: u8, listener: TcpListener, upstream: String) {
        let net = self.clone();
        kiwi_runtime::task::spawn(async move {
            loop {
                let Ok((conn, peer)) = listener.accept().await else {
                    // Out of file descriptors, say: do not spin.
                    kiwi_runtime::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let Some(guard) = ConnGuard::try_new(&net.open) else {
                    continue; // dropping `conn` closes it
                };
                let from = node_of(peer.ip());
                let net = net.clone();
                let upstream = upstream.clone();
                kiwi_runtime::task::spawn(async move {
                    let _guard = guard;
                    let _ = net.relay(conn, from, target, &upstream).await;
                });
            }
        });
    }

    /// Waits until the link `from -> to` is not cut (a link from an
    /// unknown source is never cut).
    async fn until_open(&self, from: Option<u8>, to: Option<u8>) {
        let (Some(from), Some(to)) = (from, to) else {
            return;
        };
        let mut rx = self.cuts.subscribe();
        // Err: the sender is gone (the harness is ending): stop waiting.
        let _ = rx.wait_for(|cuts| !cuts.contains(&(from, to))).await;
    }

    async fn relay(
        &self,
        conn: TcpStream,
        from: Option<u8>,
        target: u8,
        upstream: &str,
    ) -> io::Result<()> {
        // A new connection across a cut link is held: the dialer sees a
        // connect that never completes its handshake.
        self.until_open(from, Some(target)).await;
        let up = TcpStream::connect(upstream).await?;
        let _ = up.set_nodelay(true);
        let _ = conn.set_nodelay(true);
        let (conn_rd, conn_wr) = conn.into_split();
        let (up_rd, up_wr) = up.into_split();
        let forth = self.pump(conn_rd, up_wr, from, Some(target));
        let back = self.pump(up_rd, conn_wr, Some(target), from);
        // Either side closing ends the connection.
        tokio::select! {
            r = forth => r,
            r = back => r,
        }
    }

    /// Copies `rd` to `wr`, holding each chunk while `from -> to` is cut.
    async fn pump(
        &self,
        mut rd: tokio::net::tcp::OwnedReadHalf,
        mut wr: tokio::net::tcp::OwnedWriteHalf,
        from: Option<u8>,
        to: Option<u8>,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            self.until_open(from, to).await;
            wr.write_all(&buf[..n]).await?;
        }
    }
}

/// Counts an open proxied connection; refuses past [`MAX_CONNECTIONS`].
struct ConnGuard(Arc<AtomicUsize>);

impl ConnGuard {
    fn try_new(open: &Arc<AtomicUsize>) -> Option<ConnGuard> {
        let before = open.fetch_add(1, Ordering::SeqCst);
        let guard = ConnGuard(open.clone());
        (before < MAX_CONNECTIONS).then_some(guard)
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
