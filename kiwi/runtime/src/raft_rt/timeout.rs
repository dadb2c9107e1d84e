//! A named timeout future. OpenRaft's runtime trait needs the type by name;
//! madsim's `timeout` returns an opaque `impl Future`, so both builds use
//! this one: the inner future raced against the layer's `Sleep`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Sleep;

/// The deadline passed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

pin_project_lite::pin_project! {
    /// `future`, or `Err(Elapsed)` once `sleep` fires, whichever is first.
    pub struct Timeout<T> {
        #[pin]
        future: T,
        #[pin]
        sleep: Sleep,
    }
}

impl<T> Timeout<T> {
    pub fn new(future: T, sleep: Sleep) -> Timeout<T> {
        Timeout { future, sleep }
    }
}

impl<T: Future> Future for Timeout<T> {
    type Output = Result<T::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}
