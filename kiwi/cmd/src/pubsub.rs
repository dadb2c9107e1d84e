//! Pub/sub: who subscribes to which channels and patterns, and delivery.
//!
//! Messages never touch storage, so the registry lives in [`crate::Shared`]
//! and PUBLISH runs on the network runtime: it hands each message to the
//! subscriber's connection through that connection's queue. The queue is
//! unbounded as a channel but bounded in bytes: a subscriber whose
//! undelivered messages would pass the pubsub output-buffer limit is
//! disconnected instead (Redis's `client-output-buffer-limit pubsub`), so a
//! slow reader never grows the server's memory.
//!
//! MONITOR clients hang off the same registry: each gets a line per command
//! the server runs, through the same bounded queue (bounded by the
//! `replica` class limit, the class Redis puts monitors in).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kiwi_runtime::sync::mpsc;

use crate::state::ClientHandle;

/// What a connection is handed to write out: a published message, a
/// MONITOR line or a client-tracking invalidation.
#[derive(Debug, Clone)]
pub struct Message {
    /// The pattern that matched (PSUBSCRIBE), if any.
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    /// The message; the line (MONITOR); the key (Invalidate).
    pub payload: Bytes,
    pub kind: MessageKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Published,
    Monitor,
    /// CLIENT TRACKING: `payload` changed.
    Invalidate,
    /// CLIENT TRACKING: everything changed (FLUSHALL, FLUSHDB, SWAPDB).
    InvalidateAll,
}

impl Message {
    /// Bytes the message holds while queued (what the output limit counts).
    pub fn queued_bytes(&self) -> u64 {
        (self.channel.len()
            + self.payload.len()
            + self.pattern.as_ref().map_or(0, |p| p.len())
            + 32) as u64
    }
}

/// A connection's end of the registry: where its messages go.
#[derive(Clone)]
pub struct Subscriber {
    pub client: Arc<ClientHandle>,
    tx: mpsc::UnboundedSender<Message>,
    /// Bytes queued and not yet taken by the connection.
    queued_bytes: Arc<AtomicU64>,
}

/// The connection's receiving end.
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Message>,
    queued_bytes: Arc<AtomicU64>,
}

impl Inbox {
    /// The next message (pending while none is queued).
    pub async fn recv(&mut self) -> Option<Message> {
        let msg = self.rx.recv().await?;
        self.queued_bytes.fetch_sub(msg.queued_bytes(), Relaxed);
        Some(msg)
    }

    /// A queued message, if any, without waiting.
    pub fn try_recv(&mut self) -> Option<Message> {
        let msg = self.rx.try_recv().ok()?;
        self.queued_bytes.fetch_sub(msg.queued_bytes(), Relaxed);
        Some(msg)
    }
}

/// A connection's subscriber handle and inbox.
pub fn subscriber(client: Arc<ClientHandle>) -> (Subscriber, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued_bytes = Arc::new(AtomicU64::new(0));
    (
        Subscriber {
            client,
            tx,
            queued_bytes: queued_bytes.clone(),
        },
        Inbox { rx, queued_bytes },
    )
}

/// Queues `msg` for `sub`; false if it was not queued. A subscriber past
/// `limit_bytes` of undelivered messages (0 = no limit) is disconnected.
pub(crate) fn deliver(sub: &Subscriber, msg: Message, limit_bytes: u64) -> bool {
    let size = msg.queued_bytes();
    let queued = sub.queued_bytes.fetch_add(size, Relaxed) + size;
    if limit_bytes > 0 && queued > limit_bytes {
        sub.queued_bytes.fetch_sub(size, Relaxed);
        tracing::warn!(
            client = sub.client.id,
            "subscriber over its output buffer limit; disconnecting"
        );
        sub.client.kill();
        return false;
    }
    if sub.tx.send(msg).is_err() {
        sub.queued_bytes.fetch_sub(size, Relaxed);
        return false; // the connection is closing
    }
    true
}

#[derive(Default)]
struct Registry {
    /// Channel -> subscribers by client id (ids keep delivery order stable).
    channels: HashMap<Bytes, BTreeMap<u64, Subscriber>>,
    patterns: HashMap<Bytes, BTreeMap<u64, Subscriber>>,
    /// MONITOR clients by id.
    monitors: BTreeMap<u64, Subscriber>,
    /// Every connection's queue by client id (CLIENT TRACKING REDIRECT).
    inboxes: BTreeMap<u64, Subscriber>,
}

#[derive(Default)]
pub struct PubSub {
    registry: Mutex<Registry>,
    /// How many MONITOR clients there are, read on every command.
    monitor_count: AtomicUsize,
}

impl PubSub {
    fn with<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        match self.registry.lock() {
            Ok(mut r) => f(&mut r),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Subscribes `sub` to `channel` (or pattern); false if it already was.
    pub fn subscribe(&self, sub: &Subscriber, channel: &Bytes, pattern: bool) -> bool {
        self.with(|r| {
            let map = if pattern {
                &mut r.patterns
            } else {
                &mut r.channels
            };
            map.entry(channel.clone())
                .or_default()
                .insert(sub.client.id, sub.clone())
                .is_none()
        })
    }

    /// Unsubscribes client `id` from `channel` (or pattern); false if it was not subscribed.
    pub fn unsubscribe(&self, id: u64, channel: &[u8], pattern: bool) -> bool {
        self.with(|r| {
            let map = if pattern {
                &mut r.patterns
            } else {
                &mut r.channels
            };
            let Some(subs) = map.get_mut(channel) else {
                return false;
            };
            let removed = subs.remove(&id).is_some();
            if subs.is_empty() {
                map.remove(channel);
            }
            removed
        })
    }

    /// Makes `sub` a MONITOR client.
    pub fn add_monitor(&self, sub: &Subscriber) {
        let count = self.with(|r| {
            r.monitors.insert(sub.client.id, sub.clone());
            r.monitors.len()
        });
        self.monitor_count.store(count, Relaxed);
    }

    /// Client `id` stops monitoring.
    pub fn remove_monitor(&self, id: u64) {
        let count = self.with(|r| {
            r.monitors.remove(&id);
            r.monitors.len()
        });
        self.monitor_count.store(count, Relaxed);
    }

    /// Whether any client runs MONITOR (cheap: checked for every command).
    pub fn has_monitors(&self) -> bool {
        self.monitor_count.load(Relaxed) > 0
    }

    /// Sends `line` to every MONITOR client; one past `limit_bytes` of
    /// undelivered lines (0 = no limit) is disconnected.
    pub fn feed_monitors(&self, line: &Bytes, limit_bytes: u64) {
        let targets: Vec<Subscriber> = self.with(|r| r.monitors.values().cloned().collect());
        for sub in targets {
            let msg = Message {
                pattern: None,
                channel: Bytes::new(),
                payload: line.clone(),
                kind: MessageKind::Monitor,
            };
            deliver(&sub, msg, limit_bytes);
        }
    }

    /// Delivers `payload` to every subscriber of `channel` and of every
    /// matching pattern; returns how many received it. Subscribers past
    /// `limit_bytes` of undelivered messages (0 = no limit) are disconnected.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes, limit_bytes: u64) -> i64 {
        let mut targets: Vec<(Subscriber, Option<Bytes>)> = Vec::new();
        self.with(|r| {
            if let Some(subs) = r.channels.get(channel) {
                targets.extend(subs.values().map(|s| (s.clone(), None)));
            }
            for (pattern, subs) in &r.patterns {
                if crate::glob::matches(pattern, channel, false) {
                    targets.extend(subs.values().map(|s| (s.clone(), Some(pattern.clone()))));
                }
            }
        });
        let mut received = 0;
        for (sub, pattern) in targets {
            let msg = Message {
                pattern,
                channel: channel.clone(),
                payload: payload.clone(),
                kind: MessageKind::Published,
            };
            if deliver(&sub, msg, limit_bytes) {
                received += 1;
            }
        }
        received
    }

    /// Active channels (with at least one subscriber), matching `pattern` if given.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.with(|r| {
            let mut out: Vec<Bytes> = r
                .channels
                .keys()
                .filter(|c| pattern.is_none_or(|p| crate::glob::matches(p, c, false)))
                .cloned()
                .collect();
            out.sort();
            out
        })
    }

    /// Subscribers of `channel` (patterns not counted, as in Redis).
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.with(|r| r.channels.get(channel).map_or(0, |s| s.len()))
    }

    /// Patterns with at least one subscriber.
    pub fn numpat(&self) -> usize {
        self.with(|r| r.patterns.len())
    }

    /// Registers a connection's queue under its client id.
    pub fn register_inbox(&self, sub: &Subscriber) {
        self.with(|r| r.inboxes.insert(sub.client.id, sub.clone()));
    }

    /// Forgets a connection's queue (it is closing).
    pub fn unregister_inbox(&self, id: u64) {
        self.with(|r| r.inboxes.remove(&id));
    }

    /// The queue of client `id`, if it is connected.
    pub fn inbox_of(&self, id: u64) -> Option<Subscriber> {
        self.with(|r| r.inboxes.get(&id).cloned())
    }

    /// Whether client `id` is subscribed to `channel` (not by a pattern).
    pub fn is_subscribed(&self, id: u64, channel: &[u8]) -> bool {
        self.with(|r| r.channels.get(channel).is_some_and(|s| s.contains_key(&id)))
    }
}
