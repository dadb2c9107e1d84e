//! The Raft state machine *is* the storage engine.
//!
//! OpenRaft calls this adapter from its own tasks; the adapter turns each
//! call into an [`ExecutorJob`] for the storage runtime's worker, which owns
//! the engine, so applied entries and local reads never race. Each entry is
//! applied with its log id and the membership as the engine's *applied
//! stamp*, written in the same RocksDB WriteBatch as the entry's data.
//!
//! Snapshots are RocksDB checkpoints (hard links, cheap) packed into one tar
//! file under `<dir>/snapshots/`; the checkpoint's own applied stamp says
//! which log id it reflects. Installing one unpacks it into a fresh
//! directory `<dir>/db-<index>`, opens it, and then switches the one-line
//! pointer file `<dir>/DBDIR` by an atomic rename: a crash leaves either the
//! old or the new database active, never a mix ([`active_db_dir`] cleans up
//! the loser on start). Two directories rather than a rename dance because
//! RocksDB refuses a second handle on one path even within a process.

use std::fs::{self, File};
use std::io::{self, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use futures_util::{Stream, TryStreamExt};
use kiwi_cmd::metrics::Histogram;
use kiwi_cmd::{Executor, ExecutorJob, ReplicatedBatch};
use kiwi_resp::Frame;
use kiwi_runtime::sync::{mpsc, oneshot};
use kiwi_storage::{Engine, EngineOptions};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};

use crate::codec;
use crate::types::{
    AppliedState, AppliedStateV1, LogId, Request, Response, Snapshot, SnapshotMeta,
    StoredMembership, TypeConfig,
};

/// What one entry does to the engine.
enum Op {
    /// Commands `skip..` of a batch; `stamps[i - skip]` is command i's stamp.
    Commands {
        batch: ReplicatedBatch,
        skip: usize,
        stamps: Vec<Vec<u8>>,
    },
    Expire {
        now_ms: u64,
        max_entries: usize,
    },
    StampOnly,
}

/// Snapshot and read-barrier figures the node reports (INFO raft, metrics).
#[derive(Default)]
pub struct RaftStats {
    pub snapshots_built: AtomicU64,
    pub snapshots_installed: AtomicU64,
    pub snapshot_build: Histogram,
    pub snapshot_install: Histogram,
    pub read_index: Histogram,
    /// Reads whose barrier OpenRaft passed before Kiwi's own leadership
    /// check did (see `crate::leadership`): each waited for a new round.
    pub read_reconfirms: AtomicU64,
}

#[derive(Clone)]
pub struct StateMachine {
    jobs: mpsc::Sender<ExecutorJob>,
    stats: Arc<RaftStats>,
    /// The node's data directory: `db/`, `snapshots/`.
    dir: PathBuf,
    engine_opts: EngineOptions,
    /// Membership as of the last applied entry (part of every stamp).
    membership: StoredMembership,
    /// The last entry applied in full.
    last_applied: Option<LogId>,
    /// An entry a crash interrupted: (its log id, commands already applied).
    partial: Option<(LogId, u32)>,
    /// The log's clock as of the last entry applied (see
    /// `kiwi_cmd::Executor::clock_ms`); part of every stamp.
    log_clock_ms: u64,
}

/// Runs `f` on the storage runtime's worker and returns its result.
pub async fn on_executor<T: Send + 'static>(
    jobs: &mpsc::Sender<ExecutorJob>,
    f: impl FnOnce(&mut Executor) -> T + Send + 'static,
) -> io::Result<T> {
    let (tx, rx) = oneshot::channel();
    let job: ExecutorJob = Box::new(move |ex| {
        let result = f(ex);
        // INFO keyspace sees what the job changed before anyone hears of it.
        ex.publish_key_counts();
        let _ = tx.send(result);
    });
    jobs.send(job)
        .await
        .map_err(|_| io::Error::other("storage runtime stopped"))?;
    rx.await
        .map_err(|_| io::Error::other("storage runtime dropped the job"))
}

fn storage_err(e: kiwi_storage::StorageError) -> io::Error {
    io::Error::other(e.to_string())
}

/// The engine's applied stamp; nothing applied yet is the default state.
fn decode_stamp(stamp: Option<Vec<u8>>) -> io::Result<AppliedState> {
    match stamp {
        // A stamp from before the log clock lacks its last field.
        Some(raw) => codec::decode(&raw)
            .or_else(|_| codec::decode::<AppliedStateV1>(&raw).map(AppliedState::from)),
        None => Ok(AppliedState::default()),
    }
}

fn snapshot_dir(dir: &Path) -> PathBuf {
    dir.join("snapshots")
}

const DB_POINTER: &str = "DBDIR";

/// The engine directory in use under `dir` (`db` until a snapshot is
/// installed), removing directories left by an interrupted install.
pub fn active_db_dir(dir: &Path) -> io::Result<PathBuf> {
    let name = db_pointer(dir)?;
    if dir.exists() {
        for item in fs::read_dir(dir)? {
            let path = item?.path();
            let Some(other) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let stale = other != name && (other == "db" || other.starts_with("db-"));
            if stale && path.is_dir() {
                fs::remove_dir_all(&path)?;
            }
        }
    }
    Ok(dir.join(name))
}

/// The name of the active engine directory (`db` if never switched).
fn db_pointer(dir: &Path) -> io::Result<String> {
    let name = match fs::read_to_string(dir.join(DB_POINTER)) {
        Ok(s) => s.trim().to_string(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => "db".to_string(),
        Err(e) => return Err(e),
    };
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad {DB_POINTER}: {name:?}"),
        ));
    }
    Ok(name)
}

/// Makes `name` the active engine directory (atomic rename of the pointer).
fn switch_db_dir(dir: &Path, name: &str) -> io::Result<()> {
    let tmp = dir.join(format!("{DB_POINTER}.tmp"));
    fs::write(&tmp, name)?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, dir.join(DB_POINTER))?;
    File::open(dir)?.sync_all()
}

impl StateMachine {
    pub fn new(
        jobs: mpsc::Sender<ExecutorJob>,
        stats: Arc<RaftStats>,
        dir: PathBuf,
        engine_opts: EngineOptions,
    ) -> StateMachine {
        StateMachine {
            jobs,
            stats,
            dir,
            engine_opts,
            membership: StoredMembership::default(),
            last_applied: None,
            partial: None,
            log_clock_ms: 0,
        }
    }

    async fn applied(&self) -> io::Result<AppliedState> {
        let stamp = on_executor(&self.jobs, |ex| ex.applied_stamp())
            .await?
            .map_err(storage_err)?;
        decode_stamp(stamp)
    }

    /// The stamp of a complete entry.
    fn stamp(&self, log_id: &LogId) -> io::Result<Vec<u8>> {
        codec::encode(&AppliedState {
            last_applied: Some(*log_id),
            membership: self.membership.clone(),
            partial: None,
            log_clock_ms: self.log_clock_ms,
        })
    }

    /// Stamps for commands `skip..n` of the entry `log_id`: all but the last
    /// say "this far into the entry", the last says "entry complete".
    fn command_stamps(&self, log_id: &LogId, skip: usize, n: usize) -> io::Result<Vec<Vec<u8>>> {
        (skip..n)
            .map(|i| {
                if i + 1 == n {
                    return self.stamp(log_id);
                }
                codec::encode(&AppliedState {
                    last_applied: self.last_applied,
                    membership: self.membership.clone(),
                    partial: Some((*log_id, i as u32 + 1)),
                    log_clock_ms: self.log_clock_ms,
                })
            })
            .collect()
    }

    /// The newest stored snapshot: its meta and the path of its tar file.
    fn latest_snapshot(&self) -> io::Result<Option<(SnapshotMeta, PathBuf)>> {
        let dir = snapshot_dir(&self.dir);
        if !dir.exists() {
            return Ok(None);
        }
        let mut best: Option<(String, PathBuf)> = None;
        for item in fs::read_dir(&dir)? {
            let path = item?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(stem) = name.strip_suffix(".meta") {
                if best.as_ref().is_none_or(|(b, _)| stem > b.as_str()) {
                    best = Some((stem.to_string(), path.clone()));
                }
            }
        }
        let Some((stem, meta_path)) = best else {
            return Ok(None);
        };
        let meta: SnapshotMeta = codec::decode(&fs::read(meta_path)?)?;
        Ok(Some((meta, dir.join(format!("{stem}.tar")))))
    }

    /// Stores `tar` (already complete on disk at a temporary path) as the
    /// current snapshot with `meta`, and drops older ones.
    fn keep_snapshot(&self, meta: &SnapshotMeta, tar: &Path) -> io::Result<PathBuf> {
        let dir = snapshot_dir(&self.dir);
        fs::create_dir_all(&dir)?;
        let index = meta.last_log_id.as_ref().map(|id| id.index()).unwrap_or(0);
        let stem = format!("{index:020}");
        let final_tar = dir.join(format!("{stem}.tar"));
        fs::rename(tar, &final_tar)?;
        let meta_tmp = dir.join(format!("{stem}.meta.tmp"));
        fs::write(&meta_tmp, codec::encode(meta)?)?;
        File::open(&meta_tmp)?.sync_all()?;
        fs::rename(&meta_tmp, dir.join(format!("{stem}.meta")))?;
        // Older snapshots are superseded.
        for item in fs::read_dir(&dir)? {
            let path = item?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let other = name.split('.').next().unwrap_or_default();
            if other < stem.as_str() && (name.ends_with(".tar") || name.ends_with(".meta")) {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(final_tar)
    }
}

/// Packs directory `src` into the tar file `dst`, fsynced.
fn pack(src: &Path, dst: &Path) -> io::Result<()> {
    let file = File::create(dst)?;
    let mut builder = tar::Builder::new(file);
    builder.append_dir_all(".", src)?;
    let file = builder.into_inner()?;
    file.sync_all()
}

/// Unpacks a snapshot tar into `dst` and fsyncs every file.
fn unpack(tar_file: &mut File, dst: &Path) -> io::Result<()> {
    tar_file.rewind()?;
    if dst.exists() {
        fs::remove_dir_all(dst)?;
    }
    fs::create_dir_all(dst)?;
    tar::Archive::new(&mut *tar_file).unpack(dst)?;
    for item in fs::read_dir(dst)? {
        let path = item?.path();
        if path.is_file() {
            File::open(&path)?.sync_all()?;
        }
    }
    File::open(dst)?.sync_all()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = File;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let started = kiwi_runtime::time::instant();
        let snaps = snapshot_dir(&self.dir);
        fs::create_dir_all(&snaps)?;
        let staging = snaps.join("building");
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        let checkpoint_dir = staging.clone();
        // The checkpoint and the stamp read are one job: no entry is applied
        // between them, so the stamp is exactly the checkpoint's state.
        let stamp = on_executor(&self.jobs, move |ex| {
            ex.checkpoint(&checkpoint_dir)?;
            ex.applied_stamp()
        })
        .await?
        .map_err(storage_err)?;
        let applied = decode_stamp(stamp)?;
        if applied.partial.is_some() {
            // Jobs apply whole batches of entries; a checkpoint between
            // two jobs can never see half an entry.
            return Err(io::Error::other(
                "checkpoint taken in the middle of an entry",
            ));
        }
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership,
        };
        let tar_tmp = snaps.join("building.tar");
        let (src, dst) = (staging.clone(), tar_tmp.clone());
        kiwi_runtime::task::blocking(move || pack(&src, &dst)).await??;
        fs::remove_dir_all(&staging)?;
        let path = self.keep_snapshot(&meta, &tar_tmp)?;
        tracing::info!(last_log_id = ?meta.last_log_id, "raft snapshot built");
        self.stats.snapshots_built.fetch_add(1, Relaxed);
        self.stats
            .snapshot_build
            .record_us(started.elapsed().as_micros() as u64);
        Ok(Snapshot {
            meta,
            snapshot: File::open(path)?,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = File;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = self.applied().await?;
        self.membership = applied.membership.clone();
        self.last_applied = applied.last_applied;
        self.partial = applied.partial;
        self.log_clock_ms = applied.log_clock_ms;
        let clock_ms = applied.log_clock_ms;
        on_executor(&self.jobs, move |ex| ex.set_log_clock_ms(clock_ms)).await?;
        Ok((applied.last_applied, applied.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        kiwi_runtime::buggify::delay(0.05, 100).await;
        let mut ops = Vec::new();
        let mut responders = Vec::new();
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id;
            let op = match entry.payload {
                EntryPayload::Blank => Op::StampOnly,
                EntryPayload::Normal(Request::Commands { now_ms, seed, cmds }) => {
                    // Time never goes back in the log, even when a leader's
                    // wall clock is behind its predecessor's.
                    self.log_clock_ms = self.log_clock_ms.max(now_ms);
                    let now_ms = self.log_clock_ms;
                    let batch = ReplicatedBatch { now_ms, seed, cmds };
                    // After a crash mid-entry, resume where it stopped.
                    let skip = match self.partial.take() {
                        Some((id, done)) if id == log_id => done as usize,
                        _ => 0,
                    };
                    let stamps = self.command_stamps(&log_id, skip, batch.cmds.len().max(1))?;
                    Op::Commands {
                        batch,
                        skip,
                        stamps,
                    }
                }
                EntryPayload::Normal(Request::Expire {
                    now_ms,
                    max_entries,
                }) => {
                    self.log_clock_ms = self.log_clock_ms.max(now_ms);
                    Op::Expire {
                        now_ms: self.log_clock_ms,
                        max_entries: max_entries as usize,
                    }
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m);
                    Op::StampOnly
                }
            };
            let stamp = match &op {
                Op::Commands { .. } => Vec::new(),
                _ => self.stamp(&log_id)?,
            };
            ops.push((stamp, op));
            responders.push(responder);
            self.last_applied = Some(log_id);
            self.partial = None;
        }
        if ops.is_empty() {
            return Ok(());
        }
        let replies = on_executor(&self.jobs, move |ex| {
            ops.into_iter()
                .map(|(stamp, op)| match op {
                    Op::Commands {
                        batch,
                        skip,
                        stamps,
                    } => ex.apply_batch(&batch, skip, |i| stamps[i - skip].clone()),
                    Op::Expire {
                        now_ms,
                        max_entries,
                    } => vec![ex.apply_expire(stamp, now_ms, max_entries)],
                    Op::StampOnly => vec![ex.apply_stamp(stamp)],
                })
                .collect::<Vec<Vec<Frame>>>()
        })
        .await?;
        for (responder, frames) in responders.into_iter().zip(replies) {
            if let Some(r) = responder {
                r.send(Response(frames));
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: File,
    ) -> Result<(), io::Error> {
        let started = kiwi_runtime::time::instant();
        let snaps = snapshot_dir(&self.dir);
        fs::create_dir_all(&snaps)?;
        // Keep our own copy: it becomes this node's current snapshot.
        let copy = snaps.join("installing.tar");
        snapshot.rewind()?;
        {
            let mut out = File::create(&copy)?;
            io::copy(&mut snapshot, &mut out)?;
            out.sync_all()?;
        }
        let index = meta.last_log_id.as_ref().map(|id| id.index()).unwrap_or(0);
        let name = format!("db-{index:020}-{:016x}", kiwi_runtime::rand::u64());
        let incoming = self.dir.join(&name);
        let (tar_path, dst) = (copy.clone(), incoming.clone());
        kiwi_runtime::task::blocking(move || unpack(&mut File::open(&tar_path)?, &dst)).await??;
        let dir = self.dir.clone();
        let opts = self.engine_opts.clone();
        let stamp = on_executor(&self.jobs, move |ex| {
            let old = dir.join(db_pointer(&dir)?);
            ex.replace_engine(|| Engine::open(&incoming, &opts))?;
            switch_db_dir(&dir, &name)?;
            // The old engine is closed now; its files can go.
            let _ = fs::remove_dir_all(old);
            let stamp = ex.applied_stamp()?;
            // Reads after this job see the snapshot's clock with its data
            // (an undecodable stamp fails the install just below).
            if let Ok(installed) = decode_stamp(stamp.clone()) {
                ex.set_log_clock_ms(installed.log_clock_ms);
            }
            Ok(stamp)
        })
        .await?
        .map_err(storage_err)?;
        let installed = decode_stamp(stamp)?;
        // The checkpoint's own stamp must be the snapshot's log id.
        if installed.last_applied != meta.last_log_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "snapshot claims {:?} but its data is at {:?}",
                    meta.last_log_id, installed.last_applied
                ),
            ));
        }
        self.membership = meta.last_membership.clone();
        self.last_applied = meta.last_log_id;
        self.partial = None;
        self.log_clock_ms = installed.log_clock_ms;
        self.keep_snapshot(meta, &copy)?;
        tracing::info!(last_log_id = ?meta.last_log_id, "raft snapshot installed");
        self.stats.snapshots_installed.fetch_add(1, Relaxed);
        self.stats
            .snapshot_install
            .record_us(started.elapsed().as_micros() as u64);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        match self.latest_snapshot()? {
            Some((meta, path)) => Ok(Some(Snapshot {
                meta,
                snapshot: File::open(path)?,
            })),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_from_before_the_log_clock_decodes_with_the_clock_at_zero() {
        let v1 = AppliedStateV1 {
            last_applied: None,
            membership: StoredMembership::default(),
            partial: None,
        };
        let decoded = decode_stamp(Some(codec::encode(&v1).expect("encode"))).expect("decode");
        assert_eq!(decoded, AppliedState::from(v1));
        assert_eq!(decoded.log_clock_ms, 0);
        let v2 = AppliedState {
            log_clock_ms: 1_700_000_000_000,
            ..decoded
        };
        let again = decode_stamp(Some(codec::encode(&v2).expect("encode"))).expect("decode");
        assert_eq!(again, v2);
    }
}
