//! Compaction filter that garbage-collects collection elements of dead
//! versions: a sub-key whose key no longer has metadata, or whose metadata
//! now carries another version (the key was deleted, overwritten or expired
//! and removed), is dropped during compaction.
//!
//! Dropping is always safe: every version of a dead sub-key is dead too, so
//! no older record can resurface with meaning. The filter consults the `meta`
//! column family through a weak handle that the engine disconnects (and waits
//! for background work to stop) before the database closes.

use std::sync::{Arc, RwLock, Weak};

use rocksdb::compaction_filter::Decision;
use rocksdb::DB;

use crate::keys::{meta_key, parse_data_key};
use crate::meta::peek_version;

/// Shared slot through which the filter reaches the open database.
#[derive(Default, Clone)]
pub struct FilterHandle {
    db: Arc<RwLock<Option<Weak<DB>>>>,
}

impl FilterHandle {
    pub fn connect(&self, db: &Arc<DB>) {
        if let Ok(mut slot) = self.db.write() {
            *slot = Some(Arc::downgrade(db));
        }
    }

    pub fn disconnect(&self) {
        if let Ok(mut slot) = self.db.write() {
            *slot = None;
        }
    }

    /// The filter decision for one data-CF record.
    pub fn decide(&self, raw_key: &[u8]) -> Decision {
        let Some(dk) = parse_data_key(raw_key) else {
            // Not a record we wrote; never destroy what we cannot parse.
            return Decision::Keep;
        };
        let Ok(slot) = self.db.read() else {
            return Decision::Keep;
        };
        let Some(db) = slot.as_ref().and_then(Weak::upgrade) else {
            return Decision::Keep;
        };
        let Some(cf) = db.cf_handle(crate::engine::CF_META) else {
            return Decision::Keep;
        };
        let decision = match db.get_pinned_cf(cf, meta_key(dk.db, dk.key)) {
            Ok(None) => Decision::Remove,
            Ok(Some(raw)) => match peek_version(&raw) {
                Some((kind, version)) if kind.is_collection() && version == dk.version => {
                    Decision::Keep
                }
                Some(_) => Decision::Remove,
                None => Decision::Keep,
            },
            Err(_) => Decision::Keep,
        };
        decision
    }
}
