//! Sockets. Production: tokio's TCP; simulation: madsim's simulated TCP.
pub use tokio::net::{TcpListener, TcpStream};
