//! The Prometheus scrape endpoint (`metrics-addr`): `GET /metrics` answers
//! with [`kiwi_cmd::metrics::render`]'s OpenMetrics text.
//!
//! This is one fixed reply to one request line, so it is a few lines over
//! the runtime layer's TCP rather than an HTTP stack: no keep-alive, no
//! request bodies, the request head bounded in size and time, scrapes
//! bounded in number. It runs on the network runtime and reads only
//! atomics and copies (see `kiwi_cmd::metrics`), so a saturated storage
//! runtime cannot make a scrape hang.

use std::sync::Arc;
use std::time::Duration;

use kiwi_cmd::Shared;
use kiwi_runtime::io::{AsyncReadExt, AsyncWriteExt};
use kiwi_runtime::net::{TcpListener, TcpStream};
use kiwi_runtime::sync::{watch, Semaphore};

/// Largest request head read; scrapers send a few hundred bytes.
const REQUEST_HEAD_MAX_BYTES: usize = 8 * 1024;
/// A scraper must send its request head within this time.
const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Scrapes served at once; connections beyond it are closed unanswered.
const CONCURRENT_SCRAPES_MAX: usize = 16;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves scrapes until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENT_SCRAPES_MAX));
    loop {
        tokio::select! {
            biased; // replayable order: see kiwi_runtime's crate docs
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    kiwi_runtime::time::sleep_ms(10).await;
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue; // dropping the stream closes it
                };
                let shared = shared.clone();
                kiwi_runtime::task::spawn(async move {
                    answer(stream, &shared).await;
                    drop(slot);
                });
            }
        }
    }
}

async fn answer(mut stream: TcpStream, shared: &Arc<Shared>) {
    let timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
    let Ok(Some(head)) = kiwi_runtime::time::timeout(timeout, read_head(&mut stream)).await else {
        return;
    };
    let (status, content_type, body) = match request_line(&head) {
        Some(("GET", "/metrics")) => ("200 OK", OPENMETRICS, kiwi_cmd::metrics::render(shared)),
        Some(("GET", _)) => ("404 Not Found", "text/plain", "try /metrics\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the blank line ending the request head; `None` if the
/// client closes first or the head exceeds [`REQUEST_HEAD_MAX_BYTES`].
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > REQUEST_HEAD_MAX_BYTES {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(head)
}

/// (method, path without query) of the request line.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    Some((method, target.split('?').next().unwrap_or(target)))
}

#[cfg(test)]
mod tests {
    use super::request_line;

    #[test]
    fn request_lines() {
        let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(request_line(get), Some(("GET", "/metrics")));
        let query = b"GET /metrics?x=1 HTTP/1.0\r\n\r\n";
        assert_eq!(request_line(query), Some(("GET", "/metrics")));
        assert_eq!(request_line(b"garbage\r\n\r\n"), None);
        assert_eq!(request_line(b"GET /metrics junk\r\n\r\n"), None);
        assert_eq!(request_line(b"\xff\xfe /x HTTP/1.1\r\n\r\n"), None);
    }
}
