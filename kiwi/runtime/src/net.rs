//! Sockets. Production: tokio's TCP; simulation: madsim's simulated TCP.
use std::io;
use std::net::IpAddr;

pub use tokio::net::{TcpListener, TcpStream};

/// Connects to `addr`, from `source` when given (Redis's
/// `bind-source-addr`: the local IP outgoing connections come from; the
/// port is the kernel's choice). Tries each address `addr` resolves to
/// whose family matches `source`, in order.
#[cfg(not(madsim))]
pub async fn connect_from(addr: &str, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect(addr).await;
    };
    let mut last = io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("{addr} has no address of the same family as {source}"),
    );
    for target in tokio::net::lookup_host(addr).await? {
        if target.is_ipv4() != source.is_ipv4() {
            continue;
        }
        let socket = if source.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.bind(std::net::SocketAddr::new(source, 0))?;
        match socket.connect(target).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The simulated network has no source addresses to choose: every node
/// has one IP.
#[cfg(madsim)]
pub async fn connect_from(addr: &str, _source: Option<IpAddr>) -> io::Result<TcpStream> {
    TcpStream::connect(addr).await
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    /// The peer sees the chosen source IP (Linux routes all of 127/8 to
    /// loopback, so any 127.x address can be a source).
    #[tokio::test]
    async fn connections_come_from_the_chosen_source_ip() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let source: IpAddr = "127.0.1.7".parse().expect("ip");
        let (dialed, accepted) = tokio::join!(connect_from(&addr, Some(source)), listener.accept());
        let dialed = dialed.expect("connect from 127.0.1.7");
        let (_, peer) = accepted.expect("accept");
        assert_eq!(peer.ip(), source);
        assert_eq!(dialed.local_addr().expect("local").ip(), source);
        // Without a source the kernel picks the usual one.
        let (plain, accepted) = tokio::join!(connect_from(&addr, None), listener.accept());
        assert!(plain.is_ok());
        assert_eq!(accepted.expect("accept").1.ip().to_string(), "127.0.0.1");
        // A source of the wrong family is refused, not silently ignored.
        let v6: IpAddr = "::1".parse().expect("ip");
        assert!(connect_from(&addr, Some(v6)).await.is_err());
    }
}
