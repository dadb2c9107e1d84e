//! Shutdown signals: SIGINT and SIGTERM in production, ctrl-c (sent by the
//! simulator with `Handle::send_ctrl_c`) under madsim.

/// Resolves when the process is asked to stop.
#[cfg(not(madsim))]
pub async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                biased; // replayable order: see kiwi_runtime's crate docs
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(madsim)]
pub async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}
