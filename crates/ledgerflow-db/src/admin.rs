//! Maintenance of a store as a whole, for backups and restores: a consistent snapshot of the
//! live store as one file, and a restore of that file into an isolated scratch store, with the
//! standard tools a user would use. The engine-specific work is in `sqlite/admin.rs` and
//! `postgres/admin.rs`; this module picks the engine from the [`Location`].
//!
//! - SQLite: SQLite's online backup, page by page in one read transaction (a consistent snapshot
//!   while LedgerFlow keeps serving, as `sqlite3 .backup` takes it); the scratch store is a copy
//!   in a temporary directory, checked with `PRAGMA quick_check` right after a backup and
//!   `PRAGMA integrity_check` on `backup verify` and restore.
//! - PostgreSQL: `pg_dump --format=custom` into a file (never through a pipe that could hide a
//!   failed exit code), after comparing its version with the server's; the scratch store is a
//!   temporary database on the same server filled by `pg_restore`, dropped afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledgerflow_core::{Store, StoreError};

use crate::postgres::admin as pg;
use crate::sqlite::admin as lite;
use crate::{Location, OpenMode};

pub use crate::postgres::admin::{database_exists, database_of, other_connections, pg_tool};
pub use crate::sqlite::admin::{integrity_check, set_rollback_journal};

/// Why a snapshot, a test restore or a switch of databases failed. The backup crate keeps the
/// distinction: `Environment` says nothing about a backup, the others do.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the snapshot failed: {0}")]
    Snapshot(String),
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("the test restore failed: {0}")]
    Restore(String),
    #[error("{0}")]
    Refused(String),
    /// The work could not run here (a tool or the server is missing, no CREATEDB, a full
    /// disk): says nothing about the backup itself.
    #[error("{0}")]
    Environment(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Location {
    /// The member name of the snapshot inside an archive.
    pub fn member_name(&self) -> &'static str {
        match self {
            Location::Sqlite(_) => "db.sqlite",
            Location::Postgres(_) => "db.pgdump",
        }
    }

    /// The engine's name as manifests and the catalog write it.
    pub fn engine_name(&self) -> &'static str {
        self.engine().as_str()
    }

    /// The name of a snapshot file's kind, as pre-restore copies are named.
    pub fn snapshot_kind(&self) -> &'static str {
        match self {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "pgdump",
        }
    }
}

/// Writes a snapshot of the live store to `out` (which must not exist).
pub async fn snapshot(
    location: &Location,
    out: &Path,
    pg_bin_dir: Option<&Path>,
) -> Result<(), AdminError> {
    match location {
        Location::Sqlite(db) => lite::snapshot(db, out).await,
        Location::Postgres(url) => pg::dump(url, out, pg_bin_dir).await,
    }
}

/// Whether a store (a SQLite file, a database of the URL's name) is there.
pub async fn exists(location: &Location) -> Result<bool, AdminError> {
    match location {
        Location::Sqlite(p) => Ok(p.exists()),
        Location::Postgres(url) => database_exists(url).await,
    }
}

/// Why the store cannot be replaced now, if someone else has it open. SQLite: leaving WAL mode
/// (which the swap needs) fails unless ours is the only connection; PostgreSQL: other
/// connections to the database.
pub async fn in_use(location: &Location) -> Result<Option<String>, AdminError> {
    Ok(match location {
        Location::Sqlite(path) => set_rollback_journal(path).await.err(),
        Location::Postgres(url) => match other_connections(url).await? {
            0 => None,
            n => Some(format!("{n} other connection(s)")),
        },
    })
}

/// Why a restored snapshot does not open as a store. A schema newer than this binary's says
/// nothing against the backup (a newer LedgerFlow wrote it): that is this machine's, and the
/// backup keeps its state.
pub(crate) fn not_opened(e: StoreError) -> AdminError {
    match e {
        StoreError::SchemaTooNew { store, binary } => AdminError::Environment(format!(
            "the backup holds schema {store}, newer than this LedgerFlow's ({binary}): upgrade LedgerFlow to check or restore it"
        )),
        e => AdminError::Restore(format!("the restored store does not open: {e}")),
    }
}

/// What becomes of the database a restore replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldDatabase {
    /// There must be none (`--to-new`): refused if one appeared.
    MustNotExist,
    /// A LedgerFlow store with a verified safety backup: dropped after the switch.
    Drop,
    /// Not a LedgerFlow store: renamed aside and kept.
    KeepAside,
}

/// A restored copy of a snapshot, opened as a store; removed when dropped (SQLite) or by
/// [`Scratch::discard`] (PostgreSQL).
pub struct Scratch {
    pub store: Arc<dyn Store>,
    pub(crate) pg: Option<pg::PgScratch>,
    /// The scratch SQLite file (for its integrity check).
    pub(crate) sqlite: Option<PathBuf>,
    /// The scratch copy's directory, removed when the scratch store is dropped.
    pub(crate) _dir: Option<tempfile::TempDir>,
    /// The SQLite file is a snapshot being compressed meanwhile: it is checked without a byte
    /// written beside it.
    pub(crate) frozen: bool,
}

impl Scratch {
    /// Restores `member` (a snapshot file) into an isolated scratch store and checks its
    /// integrity.
    pub async fn restore(
        location: &Location,
        member: &Path,
        pg_bin_dir: Option<&Path>,
    ) -> Result<Scratch, AdminError> {
        let scratch = Self::restore_unchecked(location, member, pg_bin_dir).await?;
        if let Err(e) = scratch.integrity(false).await {
            scratch.discard().await;
            return Err(e);
        }
        Ok(scratch)
    }

    /// The SQLite integrity check of a scratch store (`quick`: `PRAGMA quick_check`, every page,
    /// record and constraint but not the index-against-table comparison, which `backup verify`
    /// runs). PostgreSQL's `pg_restore --exit-on-error` has checked it already.
    pub async fn integrity(&self, quick: bool) -> Result<(), AdminError> {
        match &self.sqlite {
            Some(path) => integrity_check(path, quick, self.frozen).await,
            None => Ok(()),
        }
    }

    /// A SQLite snapshot just written (`member`), opened where it is without a byte written to
    /// it (it is being compressed meanwhile); a snapshot of another schema version (a backup
    /// before a migration) is restored into a copy instead ([`Scratch::restore_unchecked`]).
    pub async fn open_in_place(
        location: &Location,
        member: &Path,
        pg_bin_dir: Option<&Path>,
    ) -> Result<Scratch, AdminError> {
        if matches!(location, Location::Sqlite(_))
            && let Ok(store) = crate::open_snapshot(member).await
        {
            return Ok(Scratch {
                store,
                pg: None,
                sqlite: Some(member.to_path_buf()),
                _dir: None,
                frozen: true,
            });
        }
        Self::restore_unchecked(location, member, pg_bin_dir).await
    }

    /// `member` (a snapshot file the caller unpacked and owns) made a store with no copy:
    /// SQLite opens the file itself (migrating an older schema forward, refusing a newer one),
    /// PostgreSQL restores it into a scratch database on the server of `location`. Unchecked:
    /// the caller runs [`Scratch::integrity`] beside its other checks.
    pub async fn restore_in_place(
        location: &Location,
        member: &Path,
        pg_bin_dir: Option<&Path>,
    ) -> Result<Scratch, AdminError> {
        match location {
            Location::Sqlite(_) => {
                let store =
                    crate::open(&Location::Sqlite(member.to_path_buf()), OpenMode::Existing)
                        .await
                        .map_err(not_opened)?;
                Ok(Scratch {
                    store,
                    pg: None,
                    sqlite: Some(member.to_path_buf()),
                    _dir: None,
                    frozen: false,
                })
            }
            Location::Postgres(url) => pg::scratch_restore(url, member, pg_bin_dir).await,
        }
    }

    /// [`Scratch::restore`] without the integrity check, for a caller that runs it (with
    /// [`Scratch::integrity`]) beside its other checks.
    pub async fn restore_unchecked(
        location: &Location,
        member: &Path,
        pg_bin_dir: Option<&Path>,
    ) -> Result<Scratch, AdminError> {
        match location {
            Location::Sqlite(_) => lite::scratch_copy(member).await,
            Location::Postgres(url) => pg::scratch_restore(url, member, pg_bin_dir).await,
        }
    }

    /// Makes this scratch database the database of `live_url` (PostgreSQL): in one
    /// transaction on the server the live database, if any, is renamed aside and the scratch
    /// database takes its name, so a kill at any moment leaves one or the other whole. The old
    /// one is dropped after. Refused, with nothing changed, while anyone else is connected to the
    /// live database.
    pub async fn promote(
        self,
        live_url: &str,
        old: OldDatabase,
    ) -> Result<Option<String>, AdminError> {
        let Some(db) = &self.pg else {
            return Err(AdminError::Restore(
                "only a PostgreSQL scratch store is promoted".into(),
            ));
        };
        self.store.close().await;
        let result = pg::promote(&db.name, live_url, old).await;
        if result.is_err() {
            db.drop_db().await;
        }
        result
    }

    /// Closes the scratch store and removes it.
    pub async fn discard(self) {
        self.store.close().await;
        if let Some(db) = &self.pg {
            db.drop_db().await;
        }
    }
}
