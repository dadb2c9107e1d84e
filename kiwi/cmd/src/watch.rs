//! WATCH: which client watches which keys, and whether each client's
//! transaction is still allowed to run.
//!
//! The registry lives in the executor, on the storage runtime, because
//! that is where every change to a key happens: after each commit the
//! executor reports the keys it changed ([`WatchRegistry::touch`]), and EXEC
//! runs there too, so "no watched key changed" and "run the transaction" are
//! one step that no other client can interleave with (Redis's semantics).
//!
//! Redis 7's rules, followed here: any change by anyone (a write, a delete,
//! an expiry, FLUSHDB/FLUSHALL/SWAPDB when the key exists) makes the watching
//! client's EXEC fail; a key that was already logically expired when it was
//! watched counts as absent, so its lazy or active deletion is no change;
//! and a key that expires between WATCH and EXEC fails EXEC even if nobody
//! has deleted it yet.

use std::collections::HashMap;

use bytes::Bytes;
use kiwi_storage::{Engine, StorageResult};
use sha2::{Digest, Sha256};

/// Keys one client may watch at most; WATCH beyond it is refused, so a
/// hostile client cannot grow the registry without bound.
pub const MAX_WATCHED_KEYS_PER_CLIENT: usize = 100_000;

/// One watched key of one client.
#[derive(Debug, Clone)]
struct Watched {
    db: usize,
    key: Bytes,
    /// Logically expired (present but past its TTL) when watched.
    expired: bool,
}

#[derive(Debug, Default)]
struct Watcher {
    keys: Vec<Watched>,
    /// Some watched key changed: EXEC fails.
    dirty: bool,
}

/// How a key stood just before FLUSHDB/FLUSHALL/SWAPDB replaced its database.
#[derive(Debug, Clone, Copy)]
pub struct Replaced {
    /// The key existed (live or expired) in the database that was emptied.
    pub existed: bool,
    /// The key that takes its place (SWAPDB): `Some(expired?)` if present.
    pub replacement: Option<bool>,
}

#[derive(Debug, Default)]
pub struct WatchRegistry {
    /// Client id -> what it watches.
    watchers: HashMap<u64, Watcher>,
    /// (logical db, key) -> ids of the clients watching it.
    by_key: HashMap<(usize, Bytes), Vec<u64>>,
}

impl WatchRegistry {
    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }

    /// Whether some client watches `key` of `db`.
    pub fn is_watched(&self, db: usize, key: &[u8]) -> bool {
        self.by_key.contains_key(&(db, Bytes::copy_from_slice(key)))
    }

    /// Starts watching `key` for `client`; `expired` is whether the key is
    /// present but past its TTL right now. Returns false when the client
    /// already watches [`MAX_WATCHED_KEYS_PER_CLIENT`] keys.
    pub fn watch(&mut self, client: u64, db: usize, key: Bytes, expired: bool) -> bool {
        let w = self.watchers.entry(client).or_default();
        if w.keys.iter().any(|k| k.db == db && k.key == key) {
            return true;
        }
        if w.keys.len() >= MAX_WATCHED_KEYS_PER_CLIENT {
            return false;
        }
        w.keys.push(Watched {
            db,
            key: key.clone(),
            expired,
        });
        self.by_key.entry((db, key)).or_default().push(client);
        true
    }

    /// Forgets everything `client` watches (UNWATCH, EXEC, DISCARD, RESET,
    /// disconnect).
    pub fn unwatch(&mut self, client: u64) {
        let Some(w) = self.watchers.remove(&client) else {
            return;
        };
        for k in w.keys {
            let slot = (k.db, k.key);
            if let Some(ids) = self.by_key.get_mut(&slot) {
                ids.retain(|&id| id != client);
                if ids.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }

    /// Whether `client`'s transaction may run: nothing it watches changed,
    /// and no key that was live when watched has expired since
    /// (`is_expired(db, key)` answers for right now).
    pub fn may_exec(&self, client: u64, mut is_expired: impl FnMut(usize, &[u8]) -> bool) -> bool {
        let Some(w) = self.watchers.get(&client) else {
            return true;
        };
        !w.dirty
            && !w
                .keys
                .iter()
                .any(|k| !k.expired && is_expired(k.db, &k.key))
    }

    /// Runs `f` on every client's entry for `key` of `db`, with that
    /// client's dirty flag.
    fn for_each_watch(
        &mut self,
        db: usize,
        key: &[u8],
        mut f: impl FnMut(&mut Watched, &mut bool),
    ) {
        let Some(ids) = self.by_key.get(&(db, Bytes::copy_from_slice(key))) else {
            return;
        };
        for id in ids {
            let Some(w) = self.watchers.get_mut(id) else {
                continue;
            };
            if let Some(k) = w.keys.iter_mut().find(|k| k.db == db && k.key == key) {
                f(k, &mut w.dirty);
            }
        }
    }

    /// `key` in `db` was changed by a commit; `now_absent` is whether it is
    /// gone afterwards.
    pub fn touch(&mut self, db: usize, key: &[u8], now_absent: bool) {
        self.for_each_watch(db, key, |k, dirty| {
            if k.expired && now_absent {
                // An already-expired key was deleted: logically no change.
                k.expired = false;
            } else {
                *dirty = true;
            }
        });
    }

    /// Watched keys of `db` as (key) for FLUSHDB/FLUSHALL/SWAPDB to report on.
    pub fn keys_in(&self, db: usize) -> Vec<Bytes> {
        self.by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// `db` was emptied or swapped; `how` says how `key` stood (Redis's
    /// `touchAllWatchedKeysInDb`).
    pub fn replaced(&mut self, db: usize, key: &[u8], how: Replaced) {
        if !how.existed && how.replacement.is_none() {
            return;
        }
        self.for_each_watch(db, key, |k, dirty| match (k.expired, how.replacement) {
            // An expired key is now simply gone: no logical change.
            (true, None) => k.expired = false,
            // Expired before, expired after.
            (true, Some(true)) => {}
            // An absent key replaced by an expired one: still absent.
            (false, Some(true)) if !how.existed => k.expired = true,
            _ => *dirty = true,
        });
    }
}

// ---- cluster mode: WATCH by content ---------------------------------------
//
// Replicas cannot share the registry above: whether a transaction runs must
// be decided identically on every replica from replicated state alone. So
// in cluster mode WATCH reads a digest of each key (a linearizable read),
// the connection keeps them, and EXEC proposes a guard in front of the
// transaction's commands, in the same log entry: applying the guard
// compares the digests with the keys' current contents, and if any differs
// the transaction's commands are skipped on every replica alike. A key
// changed and changed back (ABA) therefore does not fail EXEC, unlike Redis
// (docs/compatibility.md).

/// Internal read: `kiwi.digest key...` answers one digest per key. Not in
/// the command table, so clients cannot send it; only the cluster path does.
pub const DIGEST_CMD: &str = "kiwi.digest";
/// Internal write: `kiwi.exec-if n db key digest ...` guards the `n`
/// commands after it in the same entry.
pub const GUARD_CMD: &str = "kiwi.exec-if";

/// What an absent (or logically expired) key digests to.
const ABSENT: &[u8] = b"absent";

/// The content digest of `key` at `now_ms`: metadata (type, TTL, collection
/// version, string value) and every element, in storage order.
pub fn key_digest(engine: &Engine, db: usize, key: &[u8], now_ms: u64) -> StorageResult<Bytes> {
    let Some(meta) = engine.get_meta(db, key)? else {
        return Ok(Bytes::from_static(ABSENT));
    };
    if !meta.is_live(now_ms) {
        return Ok(Bytes::from_static(ABSENT));
    }
    let mut h = Sha256::new();
    let encoded = meta.encode();
    h.update((encoded.len() as u64).to_be_bytes());
    h.update(&encoded);
    if meta.kind != kiwi_storage::KeyKind::String {
        engine.visit_sub_keys(db, key, meta.version, b"", None, false, |sub, value| {
            h.update((sub.len() as u64).to_be_bytes());
            h.update(sub);
            h.update((value.len() as u64).to_be_bytes());
            h.update(value);
            true
        })?;
    }
    Ok(Bytes::copy_from_slice(&h.finalize()))
}

/// The arguments of a guard over the `n` commands after it, for watched
/// (db, key, digest) triples.
pub fn guard_args(n: usize, watched: &[(usize, Bytes, Bytes)]) -> Vec<Bytes> {
    let mut args = vec![
        Bytes::from_static(GUARD_CMD.as_bytes()),
        Bytes::from(n.to_string()),
    ];
    for (db, key, digest) in watched {
        args.push(Bytes::from(db.to_string()));
        args.push(key.clone());
        args.push(digest.clone());
    }
    args
}

/// A decoded guard: how many commands it covers and what it expects.
pub struct Guard {
    pub covers: usize,
    pub expect: Vec<(usize, Bytes, Bytes)>,
}

/// Decodes a guard; `None` if `args` is not one (or is malformed).
pub fn parse_guard(args: &[Bytes]) -> Option<Guard> {
    if args.first()?.as_ref() != GUARD_CMD.as_bytes() || args.len() < 2 || args.len() % 3 != 2 {
        return None;
    }
    let num = |b: &Bytes| std::str::from_utf8(b).ok()?.parse::<usize>().ok();
    let covers = num(&args[1])?;
    let expect = args[2..]
        .chunks(3)
        .map(|t| {
            Some((
                num(&t[0])? % kiwi_storage::DATABASES,
                t[1].clone(),
                t[2].clone(),
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Guard { covers, expect })
}
