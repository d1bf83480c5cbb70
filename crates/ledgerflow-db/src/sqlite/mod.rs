//! The embedded engine: SQLite in WAL mode with `synchronous=FULL`, foreign keys on and a busy
//! timeout. Writers take the lock up front (`BEGIN IMMEDIATE`) so two writers never deadlock
//! on a lock upgrade.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ledgerflow_core::journal::{Entity, RowsDigest};
use ledgerflow_core::model::*;
use ledgerflow_core::store::{Store, StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use tracing::instrument;

use crate::OpenMode;
use crate::rows::*;
use bulk::BulkWriter;

// ---- What `common/` needs of this engine: its types and the statements that differ.
type Db = Sqlite;
type Conn = SqliteConnection;
type This = SqliteStore;
const ENGINE: Engine = Engine::Sqlite;
/// The journal head, read for an append (writers hold the database lock since `BEGIN IMMEDIATE`).
const HEAD_FOR_WRITE: &str = crate::chain::READ_HEAD;
/// Whether the migrator runs on a store already at this binary's schema: a current store is opened without the migrator (a read-only store on a full disk takes no write lock).
const MIGRATE_WHEN_CURRENT: bool = false;
/// Whether sqlx's migration table exists.
const HAS_MIGRATIONS: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')";

crate::engine_common_modules!();

pub(crate) mod admin;
mod bulk;
mod fts;
mod read;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    bulk: Arc<BulkWriter>,
    /// Opened as an unchanging snapshot ([`SqliteStore::open_snapshot`]): read without locks
    /// and nothing created beside it.
    immutable: bool,
    import_turns: crate::ImportTurns,
}

/// The import lock file, created when missing (never through a symlink) and opened for reading
/// only (a lock needs no more, so a file another user created does not stop this one); a
/// symlink, a FIFO, a directory or a device there is refused, never waited on.
fn open_import_lock(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true).mode(0o644);
    match crate::files::open_regular(path, &mut create) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::PermissionDenied
            ) => {}
        Err(e) => return Err(e),
    }
    crate::files::open_regular(path, std::fs::OpenOptions::new().read(true))
}

fn lock_error(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Database(format!(
        "the import lock {} cannot be used ({e}): remove it if it is not LedgerFlow's",
        path.display()
    ))
}

impl SqliteStore {
    fn with_pool(pool: SqlitePool, path: &Path, immutable: bool) -> Self {
        SqliteStore {
            pool,
            path: path.to_path_buf(),
            bulk: Arc::new(BulkWriter::new(path.to_path_buf())),
            immutable,
            import_turns: Default::default(),
        }
    }

    /// Opens (and in `Create` mode creates) the database file, then brings its schema up to
    /// date. A missing file in `Existing` mode is `NotInitialized`.
    pub async fn open(path: &Path, mode: OpenMode) -> StoreResult<Self> {
        let location = path.display().to_string();
        let exists = path.exists();
        if !exists && mode != OpenMode::Create {
            return Err(StoreError::NotInitialized { location });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
                location: location.clone(),
                reason: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(mode == OpenMode::Create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            // Temporary b-trees in a file (SQLite's own default; it stays in the page cache until
            // it is large): a statement over a million rows, such as the undo's delete whose
            // trigger keeps every old row until it ends, would otherwise hold them all in memory
            // (400 MB for a million rows).
            .pragma("temp_store", "file");
        let pool = match SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
        {
            Ok(pool) => pool,
            Err(e) if mode != OpenMode::Create && crate::disk_full(path) => {
                read_only_on_a_full_disk(path, &location, e).await?
            }
            Err(e) => {
                return Err(StoreError::Unavailable {
                    location: location.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let store = SqliteStore::with_pool(pool, path, false);
        store.migrate(mode).await?;
        Ok(store)
    }

    /// Opens a snapshot file that nothing writes to (a backup's test restore) read-only and
    /// `immutable`: no lock, no WAL index or journal created beside it, not a byte written — it
    /// can be compressed at the same time. Its schema must be this binary's (nothing is
    /// migrated); anything else is `SchemaTooNew`/`NotInitialized`-like refusal for the caller
    /// to fall back to a copy.
    pub async fn open_snapshot(path: &Path) -> StoreResult<Self> {
        let location = path.display().to_string();
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(true)
            .foreign_keys(true)
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable {
                location: location.clone(),
                reason: e.to_string(),
            })?;
        let store = SqliteStore::with_pool(pool, path, true);
        let (applied, known) = (
            store.schema_version().await?,
            crate::latest_version(&MIGRATOR),
        );
        if applied != known {
            store.pool.close().await;
            return Err(StoreError::Database(format!(
                "the snapshot's schema is version {applied}, not {known}"
            )));
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(dberr)
    }
}

/// What this engine does its own way (called by `common/store.rs`).
impl SqliteStore {
    fn location_text(&self) -> String {
        self.path.display().to_string()
    }

    async fn native_foreign_schema_objects(&self) -> StoreResult<Vec<String>> {
        // What this binary's migrations make, in a database in memory, against the store's.
        let fresh = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .map_err(dberr)?;
        let applied = self.schema_version().await?;
        for m in MIGRATOR.iter().filter(|m| m.version <= applied) {
            sqlx::raw_sql(m.sql.clone())
                .execute(&fresh)
                .await
                .map_err(|e| StoreError::Database(format!("schema reference: {e}")))?;
        }
        let objects = "SELECT type, name, COALESCE(sql, '') FROM sqlite_master \
                       WHERE name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY type, name";
        let want: Vec<(String, String, String)> = sqlx::query_as(objects)
            .fetch_all(&fresh)
            .await
            .map_err(dberr)?;
        fresh.close().await;
        let have: Vec<(String, String, String)> = sqlx::query_as(objects)
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        Ok(crate::schema_difference(&want, &have))
    }

    /// One lock file beside the database file itself (`NAME.import-lock`, after symlinks), locked
    /// exclusively: imports into any account of this store take turns (SQLite writes one at a
    /// time anyway). Tried every [`crate::IMPORT_LOCK_POLL`], so a wait holds no thread and ends
    /// when the import is given up.
    async fn native_lock_imports(&self, _account_id: i64) -> StoreResult<ImportLock> {
        let turn = self.import_turns.take(0).await;
        let db = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let mut name = db.into_os_string();
        name.push(".import-lock");
        let path = PathBuf::from(name);
        let opened = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || open_import_lock(&path))
        };
        let file = opened
            .await
            .map_err(|e| StoreError::Database(format!("the import lock: {e}")))?
            .map_err(|e| lock_error(&path, &e))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(ImportLock::new((turn, file))),
                Err(std::fs::TryLockError::WouldBlock) => {
                    tokio::time::sleep(crate::IMPORT_LOCK_POLL).await
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(&path, &e)),
            }
        }
    }

    async fn native_close(&self) {
        self.bulk.close();
        self.pool.close().await;
    }

    async fn native_account_sums(&self) -> StoreResult<Vec<(i64, i64)>> {
        // One pass over the table summed in memory: SQLite would sort a million rows to group
        // them, or look each one up through the account index.
        let (path, immutable) = (self.path.clone(), self.immutable);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| read::account_sums(&path, immutable)))
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?
    }

    #[instrument(skip_all, fields(rows = rows.len()))]
    async fn native_insert_transactions(
        &self,
        actor: &Actor,
        rows: Vec<NewTransaction>,
    ) -> StoreResult<Vec<i64>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let bulk = self.bulk.clone();
        let actor = actor.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| bulk.insert(&actor, rows)))
            .await
            .map_err(|e| StoreError::Database(format!("bulk insert task failed: {e}")))?
    }

    #[instrument(skip_all, fields(file = %batch.file_name))]
    async fn native_import_rows(
        &self,
        actor: &Actor,
        batch: NewImportBatch,
        rows: tokio::sync::mpsc::Receiver<ImportChunk>,
    ) -> StoreResult<ImportBatch> {
        let bulk = self.bulk.clone();
        let actor = actor.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| bulk.import(&actor, batch, rows)))
            .await
            .map_err(|e| StoreError::Database(format!("import task failed: {e}")))?
    }

    async fn native_scan_dedup_keys(
        &self,
        account_id: i64,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        f: &mut (dyn FnMut(DedupKey) + Send),
    ) -> StoreResult<()> {
        // rusqlite on the bulk connection: sqlx's per-row cost would dominate at a million keys.
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let bulk = self.bulk.clone();
        let producer = tokio::task::spawn_blocking(move || {
            bulk.scan_dedup_keys(account_id, &from.to_string(), &to.to_string(), &tx)
        });
        while let Some(chunk) = rx.recv().await {
            chunk.into_iter().for_each(&mut *f);
        }
        producer
            .await
            .map_err(|e| StoreError::Database(format!("dedup scan failed: {e}")))?
    }

    async fn native_payee_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(10_000) {
            let list =
                serde_json::to_string(chunk).map_err(|e| StoreError::Database(e.to_string()))?;
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, CASE WHEN payee <> '' THEN payee ELSE description END \
                 FROM transactions WHERE id IN (SELECT value FROM json_each(?))",
            )
            .bind(list)
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
            out.extend(rows);
        }
        Ok(out)
    }

    async fn native_list_transactions(&self, f: &TxFilter) -> StoreResult<TxPage> {
        let limit = page_limit(f.limit);
        let search = f.text.as_deref().and_then(fts::fts_query);
        let mut q: QueryBuilder<Sqlite>;
        match (&search, f.sort) {
            // Newest (or oldest) first: the index's rowid is the list's order, so it is read
            // in order and stops after a page, however many rows hold the words.
            (Some(m), TxSort::DateDesc | TxSort::DateAsc) => {
                q = QueryBuilder::new(
                    "SELECT t.* FROM transactions_fts CROSS JOIN transactions t \
                     ON t.id = (transactions_fts.rowid & 4294967295) WHERE transactions_fts MATCH ",
                );
                q.push_bind(m.clone());
                push_tx_conditions(&mut q, f);
                let (after, order) = match f.sort {
                    TxSort::DateAsc => (">", " ORDER BY transactions_fts.rowid ASC"),
                    _ => ("<", " ORDER BY transactions_fts.rowid DESC"),
                };
                if let Some(c) = f.after {
                    q.push(format!(
                        " AND transactions_fts.rowid {after} ((COALESCE(CAST(julianday("
                    ))
                    .push_bind(c.posted_date)
                    .push(") AS INTEGER), 0) << 32) | ")
                    .push_bind(c.id)
                    .push(")");
                }
                q.push(order).push(" LIMIT ").push_bind(limit + 1);
            }
            (Some(m), TxSort::AmountDesc | TxSort::AmountAsc) => {
                q = QueryBuilder::new(
                    "SELECT t.* FROM transactions t WHERE t.id IN \
                     (SELECT rowid & 4294967295 FROM transactions_fts WHERE transactions_fts MATCH ",
                );
                q.push_bind(m.clone()).push(")");
                push_tx_filters(&mut q, f, limit);
            }
            (None, _) => {
                q = QueryBuilder::new("SELECT t.* FROM transactions t WHERE 1=1");
                push_tx_filters(&mut q, f, limit);
            }
        }
        let rows: Vec<TxRow> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        Ok(into_page(convert(rows)?, limit))
    }

    async fn native_compute_rows_digest(&self) -> StoreResult<RowsDigest> {
        // The large tables with rusqlite on a blocking thread (a million rows are read, rebuilt
        // and hashed without sqlx's per-row cost); the small ones page through `scan_rows`.
        let (path, immutable) = (self.path.clone(), self.immutable);
        let span = tracing::Span::current();
        let large = tokio::task::spawn_blocking(move || {
            span.in_scope(|| read::large_tables_digest(&path, immutable))
        });
        let small = ledgerflow_core::store::digest_by_pages(self, |e| {
            !matches!(e, Entity::Transaction | Entity::Tombstone)
        })
        .await?;
        let large = large
            .await
            .map_err(|e| StoreError::Database(format!("rows digest task failed: {e}")))??;
        Ok(small.plus(large))
    }

    /// FTS5 records deletions as more index data until its segments merge: merge them after an
    /// undo, so a store whose rows went is small again (the backups' size check relies on it).
    async fn after_undo(&self) {
        if let Err(e) =
            sqlx::query("INSERT INTO transactions_fts (transactions_fts) VALUES ('optimize')")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "the text index was not optimised after the undo");
        }
    }
}

pub(crate) fn migration_versions() -> Vec<i64> {
    MIGRATOR.iter().map(|m| m.version).collect()
}

/// Opens a store whose disk is full, read-only and without the shared-memory index SQLite would
/// have to create beside it (`immutable`): reads, and so a backup to another disk, still work
/// exactly when one is needed; every write is refused. Only when the write-ahead log is empty:
/// then nothing can be written to the file while the disk is full, and nothing committed is
/// missed.
async fn read_only_on_a_full_disk(
    path: &Path,
    location: &str,
    first: sqlx::Error,
) -> StoreResult<SqlitePool> {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let pending = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let dir = path.parent().map(Path::display);
    if pending > 0 {
        return Err(StoreError::Unavailable {
            location: location.to_string(),
            reason: format!(
                "the disk holding it is full, and {} holds changes not yet in the database file: \
                 free some space on that disk, then try again; nothing was changed ({first})",
                wal.display()
            ),
        });
    }
    tracing::warn!(
        store = %location,
        "the data disk is full: the store is open read-only (backups work; writes are refused until space is freed)"
    );
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .foreign_keys(true)
        .pragma("temp_store", "memory");
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .map_err(|e| StoreError::Unavailable {
            location: location.to_string(),
            reason: format!(
                "the disk holding it ({}) is full and even a read-only open failed: {e} (first: {first})",
                dir.map(|d| d.to_string()).unwrap_or_default()
            ),
        })
}
