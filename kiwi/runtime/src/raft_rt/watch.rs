//! A watch channel whose wake-up order is replayable.
//!
//! tokio's `watch` spreads receivers over eight `Notify` shards chosen by
//! tokio's per-thread RNG, which is seeded from a process-global counter: two
//! simulated runs with the same seed wake OpenRaft's tasks in different
//! orders. This one keeps the value under a lock with a version number and
//! wakes waiters through a single `Notify` (FIFO), so madsim replays it.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use openraft_rt::{watch, OptionalSend, OptionalSync};
use tokio::sync::Notify;

pub struct LayerWatch;

struct Shared<T> {
    value: RwLock<T>,
    /// Bumped on every change; receivers remember the last one they saw.
    version: AtomicU64,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    notify: Notify,
}

impl<T> Shared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        // A panic while holding the lock cannot leave a half-written value:
        // writers only replace or modify in place through a closure.
        self.value.read().unwrap_or_else(|p| p.into_inner())
    }

    fn closed(&self) -> bool {
        self.senders.load(SeqCst) == 0
    }
}

pub struct LayerWatchSender<T>(Arc<Shared<T>>);

pub struct LayerWatchReceiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

impl<T> Clone for LayerWatchSender<T> {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, SeqCst);
        LayerWatchSender(self.0.clone())
    }
}

impl<T> Drop for LayerWatchSender<T> {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, SeqCst) == 1 {
            self.0.notify.notify_waiters();
        }
    }
}

impl<T> Clone for LayerWatchReceiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, SeqCst);
        LayerWatchReceiver {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for LayerWatchReceiver<T> {
    fn drop(&mut self) {
        self.shared.receivers.fetch_sub(1, SeqCst);
    }
}

impl watch::Watch for LayerWatch {
    type Sender<T: OptionalSend + OptionalSync> = LayerWatchSender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = LayerWatchReceiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = RwLockReadGuard<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Self::Sender<T>, Self::Receiver<T>) {
        let shared = Arc::new(Shared {
            value: RwLock::new(init),
            version: AtomicU64::new(0),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            notify: Notify::new(),
        });
        let rx = LayerWatchReceiver {
            shared: shared.clone(),
            seen: 0,
        };
        (LayerWatchSender(shared), rx)
    }
}

impl<T> watch::WatchSender<LayerWatch, T> for LayerWatchSender<T>
where
    T: OptionalSend + OptionalSync,
{
    fn send(&self, value: T) -> Result<(), watch::SendError<T>> {
        if self.0.receivers.load(SeqCst) == 0 {
            return Err(watch::SendError(value));
        }
        self.send_if_modified(|v| {
            *v = value;
            true
        });
        Ok(())
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        let modified = {
            let mut v = self.0.value.write().unwrap_or_else(|p| p.into_inner());
            let modified = modify(&mut v);
            if modified {
                self.0.version.fetch_add(1, SeqCst);
            }
            modified
        };
        if modified {
            self.0.notify.notify_waiters();
        }
        modified
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        self.0.read()
    }

    fn subscribe(&self) -> LayerWatchReceiver<T> {
        self.0.receivers.fetch_add(1, SeqCst);
        LayerWatchReceiver {
            shared: self.0.clone(),
            seen: self.0.version.load(SeqCst),
        }
    }
}

impl<T> watch::WatchReceiver<LayerWatch, T> for LayerWatchReceiver<T>
where
    T: OptionalSend + OptionalSync,
{
    async fn changed(&mut self) -> Result<(), watch::RecvError> {
        loop {
            // Register before checking, so a change between the check and
            // the await still wakes us.
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let version = self.shared.version.load(SeqCst);
            if version != self.seen {
                self.seen = version;
                return Ok(());
            }
            if self.shared.closed() {
                return Err(watch::RecvError(()));
            }
            notified.await;
        }
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        self.shared.read()
    }

    fn borrow_and_update(&mut self) -> RwLockReadGuard<'_, T> {
        self.seen = self.shared.version.load(SeqCst);
        self.shared.read()
    }
}
