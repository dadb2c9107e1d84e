//! What a crash does to a write-ahead log that was written but not synced.
//!
//! In production this is the disk's business: `flush_wal(FSYNC)` is an
//! fsync, and a power cut loses what was written after the last one. Under
//! madsim a killed node's files stay on the real disk with everything ever
//! written to them, so without a model the simulator could never see a
//! write lost by a missing fsync (the `canary-no-vote-fsync` bug).
//!
//! The model, for a RocksDB directory whose owner reports its WAL syncs:
//! after each sync the owner calls [`wal_synced`], which records the newest
//! WAL file and its length. Before the directory is opened again (in the
//! simulation every reopen follows a kill: there is no clean shutdown),
//! [`lose_unsynced_wal`] cuts the newest WAL back to that length, or to
//! nothing if it was created after the last sync. RocksDB's recovery then
//! replays the synced prefix, as after a power cut. Only the newest WAL is
//! cut: RocksDB syncs a closed WAL itself before the flush that retires it,
//! so the model errs on the side of losing less than a real disk could.
//!
//! In production both calls are no-ops.

#[cfg(not(madsim))]
use std::path::Path;

/// Records that everything written so far to `dir`'s WAL is on disk.
#[cfg(not(madsim))]
pub fn wal_synced(_dir: &Path) {}

/// Cuts `dir`'s newest WAL back to its last recorded sync.
#[cfg(not(madsim))]
pub fn lose_unsynced_wal(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(madsim)]
pub use model::{lose_unsynced_wal, wal_synced};

#[cfg(madsim)]
mod model {
    use std::collections::BTreeMap;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// Per directory: the newest WAL file at its last sync, and its length
    /// then. Paths are unique per test, seed and node, so parallel tests
    /// and consecutive seeds never share an entry.
    static SYNCED: Mutex<BTreeMap<PathBuf, Wal>> = Mutex::new(BTreeMap::new());

    /// A WAL file: RocksDB's number for it, its path and its length.
    #[derive(Clone)]
    struct Wal {
        number: u64,
        path: PathBuf,
        len: u64,
    }

    fn synced() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, Wal>> {
        SYNCED.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest WAL in `dir` (RocksDB names them `<number>.log`).
    fn newest_wal(dir: &Path) -> io::Result<Option<Wal>> {
        let mut newest: Option<Wal> = None;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if newest.as_ref().is_none_or(|w| number > w.number) {
                newest = Some(Wal {
                    number,
                    path: entry.path(),
                    len: entry.metadata()?.len(),
                });
            }
        }
        Ok(newest)
    }

    pub fn wal_synced(dir: &Path) {
        // Best effort: a directory that cannot be listed keeps its old record
        // (the model then loses more, never less, than it should).
        if let Ok(Some(newest)) = newest_wal(dir) {
            synced().insert(dir.to_path_buf(), newest);
        }
    }

    pub fn lose_unsynced_wal(dir: &Path) -> io::Result<()> {
        if !dir.exists() {
            // A fresh directory. A record for the same path belongs to an
            // earlier run (the determinism check replays a seed in place).
            synced().remove(dir);
            return Ok(());
        }
        let Some(record) = synced().get(dir).cloned() else {
            // Never synced in this process: the first open of the directory.
            return Ok(());
        };
        let Some(newest) = newest_wal(dir)? else {
            return Ok(());
        };
        // RocksDB never goes back to an older WAL number.
        assert!(newest.number >= record.number, "the newest WAL went back");
        let keep = if newest.number == record.number {
            record.len
        } else {
            0
        };
        if newest.len > keep {
            tracing::debug!(wal = %newest.path.display(), from = newest.len, to = keep, "crash: unsynced WAL tail lost");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&newest.path)?
                .set_len(keep)?;
        }
        Ok(())
    }
}
