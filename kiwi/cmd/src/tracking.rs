//! CLIENT TRACKING: server-assisted client-side caching, as in Redis 7.
//!
//! A tracking client is told when a key it may have cached changes:
//! * default mode: the keys its read-only commands read are remembered (per
//!   key name, whatever the database, as Redis does); the first change to
//!   such a key sends one invalidation and forgets the key;
//! * BCAST mode: nothing is remembered; every change to a key under one of
//!   its prefixes (or any key, without prefixes) is sent;
//! * OPTIN / OPTOUT: reads are remembered only after CLIENT CACHING yes, or
//!   unless after CLIENT CACHING no (for the next command only);
//! * NOLOOP: changes the client makes itself are not sent to it.
//!
//! The executor reports reads and changes ([`Tracking::record_read`],
//! [`Tracking::invalidate`]); invalidations travel like pub/sub messages,
//! through the receiving connection's bounded queue ([`crate::pubsub`]),
//! to the client itself (a RESP3 push) or to its REDIRECT client. The table
//! of remembered keys is bounded: past [`MAX_TRACKED_KEYS`] the oldest key
//! is invalidated and forgotten, as Redis does at `tracking-table-max-keys`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use bytes::Bytes;

use crate::pubsub::{deliver, Message, MessageKind, Subscriber};

/// Keys remembered for default-mode clients at most (Redis's default
/// `tracking-table-max-keys`).
pub const MAX_TRACKED_KEYS: usize = 1_000_000;

/// What CLIENT TRACKING ON asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingOptions {
    pub redirect: Option<u64>,
    pub bcast: bool,
    pub prefixes: Vec<Bytes>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

struct Tracker {
    opts: TrackingOptions,
    /// Where its invalidations go (its own connection or the redirect's).
    to: Subscriber,
    /// CLIENT CACHING yes/no, for the next command only.
    caching: Option<bool>,
}

#[derive(Default)]
struct Inner {
    trackers: BTreeMap<u64, Tracker>,
    /// Key name -> default-mode clients that may have it cached.
    keys: HashMap<Bytes, BTreeSet<u64>>,
    /// Keys in the order they entered `keys` (eviction order); may hold
    /// keys already invalidated, skipped when met.
    order: VecDeque<Bytes>,
}

pub struct Tracking {
    inner: Mutex<Inner>,
    /// Tracking clients: the executor skips all of this while it is 0.
    clients: AtomicUsize,
    /// Bound on remembered keys ([`MAX_TRACKED_KEYS`]; smaller in tests).
    max_keys: usize,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking::with_max_keys(MAX_TRACKED_KEYS)
    }
}

impl Tracking {
    pub fn with_max_keys(max_keys: usize) -> Tracking {
        assert!(max_keys > 0, "the table must hold a key");
        Tracking {
            inner: Mutex::new(Inner::default()),
            clients: AtomicUsize::new(0),
            max_keys,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        match self.inner.lock() {
            Ok(mut i) => f(&mut i),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Whether any client tracks (cheap: read around every command).
    pub fn is_active(&self) -> bool {
        self.clients.load(Relaxed) > 0
    }

    /// Turns tracking on for `client` (or changes its options).
    pub fn enable(&self, client: u64, opts: TrackingOptions, to: Subscriber) {
        let n = self.with(|i| {
            i.trackers.insert(
                client,
                Tracker {
                    opts,
                    to,
                    caching: None,
                },
            );
            i.trackers.len()
        });
        self.clients.store(n, Relaxed);
    }

    /// Turns tracking off for `client` (its remembered keys are dropped
    /// lazily, when they change or are evicted).
    pub fn disable(&self, client: u64) {
        let n = self.with(|i| {
            i.trackers.remove(&client);
            i.trackers.len()
        });
        self.clients.store(n, Relaxed);
    }

    /// The options `client` tracks with, if it does.
    pub fn options(&self, client: u64) -> Option<TrackingOptions> {
        self.with(|i| i.trackers.get(&client).map(|t| t.opts.clone()))
    }

    /// CLIENT CACHING yes|no: applies to the client's next command.
    pub fn set_caching(&self, client: u64, yes: bool) {
        self.with(|i| {
            if let Some(t) = i.trackers.get_mut(&client) {
                t.caching = Some(yes);
            }
        });
    }

    /// After `client` ran a command: remembers the `keys` a read-only
    /// command read (per its mode), and ends any CLIENT CACHING one-shot.
    pub fn after_command(&self, client: u64, read_keys: &[Bytes], limit_bytes: u64) {
        let max_keys = self.max_keys;
        self.with(|i| {
            let Some(t) = i.trackers.get_mut(&client) else {
                return;
            };
            let caching = t.caching.take();
            let remember = !t.opts.bcast
                && !read_keys.is_empty()
                && if t.opts.optin {
                    caching == Some(true)
                } else if t.opts.optout {
                    caching != Some(false)
                } else {
                    true
                };
            if !remember {
                return;
            }
            for key in read_keys {
                let ids = i.keys.entry(key.clone()).or_insert_with(|| {
                    i.order.push_back(key.clone());
                    BTreeSet::new()
                });
                ids.insert(client);
            }
            // Bounded: the oldest keys go first, their clients told.
            while i.keys.len() > max_keys {
                let Some(old) = i.order.pop_front() else {
                    break;
                };
                for id in i.keys.remove(&old).unwrap_or_default() {
                    if let Some(t) = i.trackers.get(&id) {
                        deliver(&t.to, Message::invalidation(Some(old.clone())), limit_bytes);
                    }
                }
            }
            // `order` keeps keys already invalidated until met: compact it
            // so it stays within a constant factor of the table.
            if i.order.len() > 2 * i.keys.len() + 1024 {
                let mut seen = std::collections::HashSet::new();
                let keys = &i.keys;
                i.order
                    .retain(|k| keys.contains_key(k) && seen.insert(k.clone()));
            }
            debug_assert!(i.keys.len() <= max_keys);
        });
    }

    /// `key` changed, by a command of `by` (None: expiry). Tells every
    /// client that may have it cached, and every BCAST client whose
    /// prefixes cover it, except `by` itself when it asked for NOLOOP.
    pub fn invalidate(&self, key: &[u8], by: Option<u64>, limit_bytes: u64) {
        self.with(|i| invalidate_key(i, key, by, limit_bytes));
    }

    /// FLUSHDB / FLUSHALL / SWAPDB: every tracking client is told that
    /// everything changed (a null invalidation) and the table empties.
    pub fn invalidate_all(&self, limit_bytes: u64) {
        self.with(|i| {
            i.keys.clear();
            i.order.clear();
            for t in i.trackers.values() {
                let msg = Message::invalidation(None);
                deliver(&t.to, msg, limit_bytes);
            }
        });
    }

    /// INFO's (tracking_clients, tracking_total_keys, tracking_total_items,
    /// tracking_total_prefixes).
    pub fn stats(&self) -> (usize, usize, usize, usize) {
        self.with(|i| {
            let items = i.keys.values().map(|ids| ids.len()).sum();
            let prefixes = i.trackers.values().map(|t| t.opts.prefixes.len()).sum();
            (i.trackers.len(), i.keys.len(), items, prefixes)
        })
    }
}

fn invalidate_key(i: &mut Inner, key: &[u8], by: Option<u64>, limit_bytes: u64) {
    let tell = |t: &Tracker, id: u64| !(t.opts.noloop && by == Some(id));
    let key = Bytes::copy_from_slice(key);
    if let Some(ids) = i.keys.remove(&key) {
        for id in ids {
            match i.trackers.get(&id) {
                Some(t) if !t.opts.bcast && tell(t, id) => {
                    deliver(&t.to, Message::invalidation(Some(key.clone())), limit_bytes);
                }
                _ => {}
            }
        }
    }
    for (&id, t) in &i.trackers {
        let covered =
            t.opts.prefixes.is_empty() || t.opts.prefixes.iter().any(|p| key.starts_with(p));
        if t.opts.bcast && covered && tell(t, id) {
            deliver(&t.to, Message::invalidation(Some(key.clone())), limit_bytes);
        }
    }
}

impl Message {
    /// An invalidation of `key` (None: of everything).
    pub fn invalidation(key: Option<Bytes>) -> Message {
        Message {
            pattern: None,
            channel: Bytes::new(),
            kind: if key.is_some() {
                MessageKind::Invalidate
            } else {
                MessageKind::InvalidateAll
            },
            payload: key.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::subscriber;
    use crate::{Config, Shared};

    fn key(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_oldest_key_with_a_message() {
        let shared = Shared::new(Config::default(), 0);
        let client = shared.register_client("a".into(), "b".into());
        let (sub, mut inbox) = subscriber(client.clone());
        let t = Tracking::with_max_keys(2);
        t.enable(client.id, TrackingOptions::default(), sub);
        for k in ["k1", "k2", "k3"] {
            t.after_command(client.id, &[key(k)], 0);
        }
        assert_eq!(t.stats(), (1, 2, 2, 0), "two keys kept");
        let evicted = inbox.try_recv().expect("the evicted key is invalidated");
        assert_eq!(
            (evicted.kind, evicted.payload),
            (MessageKind::Invalidate, key("k1"))
        );
        assert!(inbox.try_recv().is_none());
        // Re-reading and invalidating keys over and over keeps the
        // eviction order bounded too.
        for _ in 0..10_000 {
            t.after_command(client.id, &[key("k2")], 0);
            t.invalidate(b"k2", None, 0);
        }
        while inbox.try_recv().is_some() {}
        t.with(|i| assert!(i.order.len() <= 2 * i.keys.len() + 1024));
    }
}
