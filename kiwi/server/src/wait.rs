//! WAIT numreplicas timeout: how many replicas hold this client's writes.
//!
//! Standalone Kiwi has no replicas, so, as a Redis master without
//! replicas, it answers 0: at once when 0 are wanted, else once the timeout
//! passes (0 = never, until the client goes away). In cluster mode the
//! leader counts the other members whose log reaches its own last entry,
//! which covers every write it acknowledged to this client (writes are
//! acknowledged once committed, so a majority already holds them); a
//! follower forwards WAIT to the leader, its wait then bounded by the
//! cluster's request timeout. Inside MULTI, WAIT never blocks and answers 0
//! (see docs/compatibility.md).

use std::time::Duration;

use bytes::Bytes;
use kiwi_cmd::args::int;
use kiwi_cmd::error::err;
use kiwi_cmd::ClientHandle;
use kiwi_resp::Frame;
use kiwi_runtime::sync::watch;

use crate::connection::ConnDeps;

/// Parses `WAIT numreplicas timeout` as Redis does: `(wanted, timeout_ms)`.
pub fn parse(args: &[Bytes]) -> Result<(i64, u64), Frame> {
    let wanted = int(&args[1]).map_err(|e| e.into_frame())?;
    let timeout_ms = int(&args[2])
        .map_err(|_| err("ERR timeout is not an integer or out of range").into_frame())?;
    if timeout_ms < 0 {
        return Err(Frame::error("ERR timeout is negative"));
    }
    Ok((wanted, timeout_ms as u64))
}

/// Runs WAIT; `None` if the connection must close meanwhile.
pub async fn execute(
    deps: &ConnDeps,
    args: &[Bytes],
    client: &ClientHandle,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Frame> {
    let (wanted, timeout_ms) = match parse(args) {
        Ok(parsed) => parsed,
        Err(frame) => return Some(frame),
    };
    let counted = async {
        match &deps.cluster {
            Some(node) => match node.wait_replicas(wanted.max(0) as u64, timeout_ms).await {
                Ok(n) => Frame::Integer(n),
                Err(frame) => frame,
            },
            None if wanted <= 0 => Frame::Integer(0),
            None if timeout_ms == 0 => std::future::pending().await,
            None => {
                kiwi_runtime::time::sleep(Duration::from_millis(timeout_ms)).await;
                Frame::Integer(0)
            }
        }
    };
    tokio::select! {
        biased; // replayable order: see kiwi_runtime's crate docs
        _ = client.kill_signal.notified() => None,
        _ = shutdown.changed() => None,
        frame = counted => Some(frame),
    }
}
