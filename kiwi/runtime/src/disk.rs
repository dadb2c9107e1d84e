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
//! WAL file and its length. Finding the newest WAL means listing the
//! directory, so the owner also passes a version of the database's files
//! that changes whenever RocksDB may have started a new WAL; while it stays
//! the same, the model only reads the recorded WAL's length. Before the
//! directory is opened again (in the simulation every reopen follows a
//! kill: there is no clean shutdown), [`lose_unsynced_wal`] cuts the newest
//! WAL back to that length, or to nothing if it was created after the last
//! sync. RocksDB's recovery then
//! replays the synced prefix, as after a power cut. Only the newest WAL is
//! cut: RocksDB syncs a closed WAL itself before the flush that retires it,
//! so the model errs on the side of losing less than a real disk could.
//!
//! In production both calls are no-ops.
//!
//! [`open_rocksdb`] wraps every RocksDB open for a second simulation-only
//! effect: RocksDB's process-wide timer thread reads the real clock while
//! the simulation thread reads madsim's (around 2022).

/// Whether RocksDB may reserve file space ahead of its writes
/// (`allow_fallocate`). In production it may: a WAL or SST file reserved
/// whole stays contiguous on disk. Under madsim the nodes' directories are
/// in memory (`/dev/shm`, see the sim crate), where a reservation is real
/// pages zeroed: 1.1 x the memtable size for each new WAL and about the
/// target file size for each SST. That was 5 % of a simulation's time, for
/// nothing the simulation observes (RocksDB reserves with
/// `FALLOC_FL_KEEP_SIZE`, so file lengths, which the crash model reads, do
/// not change).
pub const PREALLOCATE_FILES: bool = !cfg!(madsim);

/// How often [`open_rocksdb`] tries under madsim.
#[cfg(madsim)]
const OPEN_ATTEMPTS: u32 = 5;

/// Opens a RocksDB database with `open`. Under madsim it tries again (up to
/// `OPEN_ATTEMPTS` times in all) when RocksDB refuses to register its
/// periodic info-log flush: `Timer::Add` (rocksdb `util/timer.h`) refuses a
/// task due before the one its thread is running at that instant, and a
/// task registered on simulated time (years behind the real clock) runs at
/// once, so an open that lands in those microseconds fails ("Failed to
/// register periodic task"; once in the first ~3 000 seeds of a soak on
/// 2026-11-29). The failed open released the directory, and opening again
/// recovers the same data. In production every thread reads one clock, the
/// refusal cannot happen, and `open` runs once.
pub fn open_rocksdb<T, E: std::fmt::Display>(
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    #[cfg(madsim)]
    for attempt in 1..OPEN_ATTEMPTS {
        match open() {
            Err(e) if e.to_string().contains("Failed to register periodic task") => {
                tracing::warn!(attempt, error = %e, "RocksDB's timer raced the simulated clock; opening again");
            }
            result => return result,
        }
    }
    open()
}

#[cfg(not(madsim))]
use std::path::Path;

/// Records that everything written so far to `dir`'s WAL is on disk.
/// `files_version` (called only under madsim) must change whenever RocksDB
/// may have started a new WAL since it was last called; `None` if unknown.
#[cfg(not(madsim))]
pub fn wal_synced(_dir: &Path, _files_version: impl FnOnce() -> Option<u64>) {}

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

    /// A WAL file: RocksDB's number for it, its path and its length, and
    /// the owner's files version when it was found to be the newest (`None`:
    /// look again at the next sync).
    #[derive(Clone)]
    struct Wal {
        number: u64,
        path: PathBuf,
        len: u64,
        files_version: Option<u64>,
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
                    files_version: None,
                });
            }
        }
        Ok(newest)
    }

    pub fn wal_synced(dir: &Path, files_version: impl FnOnce() -> Option<u64>) {
        let version = files_version();
        {
            // The same files version: no new WAL, so the recorded one is
            // still the newest and only its length moved.
            let mut synced = synced();
            if let Some(record) = synced.get_mut(dir) {
                if version.is_some() && record.files_version == version {
                    if let Ok(meta) = std::fs::metadata(&record.path) {
                        record.len = meta.len();
                        return;
                    }
                }
            }
        }
        // Best effort: a directory that cannot be listed keeps its old record
        // (the model then loses more, never less, than it should).
        if let Ok(Some(mut newest)) = newest_wal(dir) {
            newest.files_version = version;
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
        // The reopened database counts its files version from the start
        // again: the next sync must look for the newest WAL (the record
        // itself stays, for a crash before that sync).
        let record = synced().get_mut(dir).map(|r| {
            r.files_version = None;
            r.clone()
        });
        let Some(record) = record else {
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

#[cfg(test)]
mod tests {
    use super::open_rocksdb;

    /// Fails with `error` the first `failures` times, then opens.
    fn flaky(failures: u32, error: &'static str) -> impl FnMut() -> Result<u32, String> {
        let mut calls = 0;
        move || {
            calls += 1;
            if calls <= failures {
                Err(error.to_string())
            } else {
                Ok(calls)
            }
        }
    }

    const RACE: &str = "Operation aborted: Failed to register periodic task";

    #[test]
    fn any_other_error_is_returned_at_once() {
        assert_eq!(
            open_rocksdb(flaky(1, "IO error: lock held")),
            Err("IO error: lock held".to_string())
        );
    }

    #[cfg(not(madsim))]
    #[test]
    fn production_opens_once() {
        assert_eq!(open_rocksdb(flaky(1, RACE)), Err(RACE.to_string()));
    }

    #[cfg(madsim)]
    #[test]
    fn the_simulation_opens_again_after_the_timer_race_a_bounded_number_of_times() {
        assert_eq!(open_rocksdb(flaky(2, RACE)), Ok(3));
        assert_eq!(
            open_rocksdb(flaky(super::OPEN_ATTEMPTS, RACE)),
            Err(RACE.to_string())
        );
    }
}
