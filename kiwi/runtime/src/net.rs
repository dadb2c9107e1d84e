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
