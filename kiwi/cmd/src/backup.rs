//! SAVE and BGSAVE: an online backup of the node's data while it serves.
//!
//! Redis writes `dump.rdb`; Kiwi's data already lives on disk in RocksDB,
//! so a save is a RocksDB checkpoint (hard links to the immutable SST files
//! plus a memtable flush: cheap, and consistent at one point in the command
//! stream because it runs on the storage thread between commands). It lands
//! in `<dir>/backup/db`, laid out as a data directory, so restoring is
//! `kiwi-server --dir <a copy of dir/backup>`. The new backup is built
//! beside the old one and renamed into place: a failed save leaves the
//! previous backup whole.
//!
//! BGSAVE replies as Redis does, but the checkpoint is taken before the
//! reply rather than in a forked child: it is fast enough that a child
//! would buy nothing, and LASTSAVE has moved by the time the client reads
//! the reply.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use kiwi_resp::Frame;

use crate::args::is;
use crate::error::{err, syntax, CmdResult};
use crate::exec::Ctx;

/// The backup's directory under the data directory.
pub const BACKUP_DIR: &str = "backup";

pub fn save(ctx: &mut Ctx<'_>) -> CmdResult {
    checkpoint(ctx)?;
    Ok(Frame::ok())
}

pub fn bgsave(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "SCHEDULE") => {}
        _ => return Err(syntax()),
    }
    checkpoint(ctx)?;
    Ok(Frame::simple("Background saving started"))
}

/// Replaces `<dir>/backup` with a checkpoint of the engine and records the
/// save in the persistence figures (LASTSAVE, INFO persistence).
fn checkpoint(ctx: &mut Ctx<'_>) -> CmdResult<()> {
    let started_ms = kiwi_runtime::time::now_ms();
    let dir = ctx.shared.config().dir.clone();
    let result = replace_backup(ctx, &dir);
    let stats = &ctx.shared.stats;
    stats.last_save_failed.store(result.is_err(), Relaxed);
    if let Err(e) = result {
        tracing::warn!(error = %e, "backup failed");
        return Err(err(format!("ERR backup failed: {e}")));
    }
    let now_ms = kiwi_runtime::time::now_ms();
    stats
        .last_save_duration_ms
        .store(now_ms.saturating_sub(started_ms), Relaxed);
    stats.rdb_saves.fetch_add(1, Relaxed);
    stats.dirty.store(0, Relaxed);
    ctx.shared.lastsave_s.store(now_ms / 1000, Relaxed);
    tracing::info!(path = %dir.join(BACKUP_DIR).display(), "backup saved");
    Ok(())
}

fn replace_backup(ctx: &mut Ctx<'_>, dir: &Path) -> Result<(), String> {
    let building = dir.join("backup.building");
    let retired = dir.join("backup.retired");
    let target = dir.join(BACKUP_DIR);
    for stale in [&building, &retired] {
        if stale.exists() {
            std::fs::remove_dir_all(stale).map_err(|e| format!("{}: {e}", stale.display()))?;
        }
    }
    std::fs::create_dir_all(&building).map_err(|e| format!("{}: {e}", building.display()))?;
    ctx.engine
        .checkpoint(&building.join("db"))
        .map_err(|e| e.to_string())?;
    if target.exists() {
        std::fs::rename(&target, &retired).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    std::fs::rename(&building, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    if retired.exists() {
        std::fs::remove_dir_all(&retired).map_err(|e| format!("{}: {e}", retired.display()))?;
    }
    Ok(())
}

/// This family's command handlers, for the registry (see [`crate::registry`]).
pub(crate) fn register(r: &mut crate::registry::Registry) {
    r.handle("save", |ctx, _| save(ctx));
    r.handle("bgsave", bgsave);
}
