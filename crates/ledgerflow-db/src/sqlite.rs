//! The embedded engine: SQLite in WAL mode with `synchronous=FULL`, foreign keys on and a busy
//! timeout. Writers take the lock up front (`BEGIN IMMEDIATE`) so two writers never deadlock
//! on a lock upgrade.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ledgerflow_core::journal::{
    Entity, HeadState, JournalEntry, JournalHead, Op, PendingEntry, RowsDigest,
};
use ledgerflow_core::model::*;
use ledgerflow_core::store::{JournalFilter, Store, StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use tracing::instrument;

use crate::OpenMode;
use crate::rows::*;
use crate::sqlite_bulk::BulkWriter;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    bulk: Arc<BulkWriter>,
    /// Opened as an unchanging snapshot ([`SqliteStore::open_snapshot`]): read without locks
    /// and nothing created beside it.
    immutable: bool,
}

impl SqliteStore {
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
            .pragma("temp_store", "memory");
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
        let store = SqliteStore {
            pool,
            path: path.to_path_buf(),
            bulk: Arc::new(BulkWriter::new(path.to_path_buf())),
            immutable: false,
        };
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
        let store = SqliteStore {
            pool,
            path: path.to_path_buf(),
            bulk: Arc::new(BulkWriter::new(path.to_path_buf())),
            immutable: true,
        };
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

    async fn migrate(&self, mode: OpenMode) -> StoreResult<()> {
        let known = crate::latest_version(&MIGRATOR);
        let applied = self.schema_version().await?;
        if applied > known {
            return Err(StoreError::SchemaTooNew {
                store: applied,
                binary: known,
            });
        }
        if applied == 0 && mode != OpenMode::Create {
            return Err(StoreError::NotInitialized {
                location: self.location(),
            });
        }
        if mode == OpenMode::AsIs || applied == known {
            return Ok(());
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("schema migration failed: {e}")))
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

    /// Changes the store's facts and journals the change, in one transaction
    /// ([`crate::meta_change`]).
    async fn change_meta(
        &self,
        actor: &Actor,
        change: impl FnOnce(StoreMeta) -> StoreMeta,
    ) -> StoreResult<StoreMeta> {
        let mut tx = self.begin().await?;
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM meta")
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
        let (after, entry) = crate::meta_change(
            actor,
            rows,
            self.schema_version().await?,
            self.location(),
            change,
        )?;
        for (k, v) in crate::meta_pairs(&after) {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        }
        append(&mut tx, vec![entry]).await?;
        tx.commit().await.map_err(dberr)?;
        Ok(after)
    }
}

/// Appends entries after the current head and moves the head (and the rows digest), inside the
/// caller's transaction.
async fn append(conn: &mut SqliteConnection, entries: Vec<PendingEntry>) -> StoreResult<()> {
    let (mut seq, head, digest): (i64, Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT seq, hash, rows_digest FROM journal_head WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .map_err(dberr)?;
    let mut prev = crate::head(seq, &head)?.head_hash;
    let mut digest = crate::digest_of(digest.as_deref())?;
    for p in entries {
        seq += 1;
        let e = p.seal(seq, prev, digest);
        sqlx::query(
            "INSERT INTO journal (seq, at, actor, entity, entity_id, op, before, after, payload, prev_hash, hash, rows_digest) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.seq)
        .bind(e.at)
        .bind(&e.actor)
        .bind(e.entity.as_str())
        .bind(e.entity_id)
        .bind(e.op.as_str())
        .bind(&e.before)
        .bind(&e.after)
        .bind(&e.payload)
        .bind(&e.prev_hash[..])
        .bind(&e.hash[..])
        .bind(e.rows_digest.map(|d| d.to_bytes().to_vec()))
        .execute(&mut *conn)
        .await
        .map_err(dberr)?;
        prev = e.hash;
        digest = e.rows_digest;
    }
    sqlx::query("UPDATE journal_head SET seq = ?, hash = ?, rows_digest = ? WHERE id = 1")
        .bind(seq)
        .bind(&prev[..])
        .bind(digest.map(|d| d.to_bytes().to_vec()))
        .execute(&mut *conn)
        .await
        .map_err(dberr)?;
    Ok(())
}

/// Appends one entry and commits: the change and its journal entry land together or not at all.
async fn commit_journaled(
    mut tx: sqlx::Transaction<'static, Sqlite>,
    entry: PendingEntry,
) -> StoreResult<()> {
    append(&mut tx, vec![entry]).await?;
    tx.commit().await.map_err(dberr)
}

/// One row by id, converted to its model type; `NotFound` names `what` and the id.
async fn fetch_by_id<R, T>(
    conn: &mut SqliteConnection,
    sql: &'static str,
    id: i64,
    what: &str,
) -> StoreResult<T>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    T: TryFrom<R, Error = StoreError>,
{
    sqlx::query_as::<_, R>(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(dberr)?
        .ok_or_else(|| StoreError::NotFound(format!("{what} {id}")))?
        .try_into()
}

async fn fetch_account(conn: &mut SqliteConnection, id: i64) -> StoreResult<Account> {
    fetch_by_id::<AccountRow, _>(conn, "SELECT * FROM accounts WHERE id = ?", id, "account").await
}

async fn fetch_category(conn: &mut SqliteConnection, id: i64) -> StoreResult<Category> {
    fetch_by_id::<CategoryRow, _>(
        conn,
        "SELECT * FROM categories WHERE id = ?",
        id,
        "category",
    )
    .await
}

async fn fetch_tx(conn: &mut SqliteConnection, id: i64) -> StoreResult<Transaction> {
    fetch_by_id::<TxRow, _>(
        conn,
        "SELECT * FROM transactions WHERE id = ?",
        id,
        "transaction",
    )
    .await
}

async fn fetch_user(conn: &mut SqliteConnection, id: i64) -> StoreResult<User> {
    fetch_by_id::<UserRow, _>(conn, "SELECT * FROM users WHERE id = ?", id, "user").await
}

/// The FTS5 query for a search text: every word, as a prefix when typed `word*`. `None` when
/// it has no words.
fn fts_query(text: &str) -> Option<String> {
    let terms = search_terms(text);
    (!terms.is_empty()).then(|| {
        terms
            .iter()
            .map(|t| format!("\"{}\"{}", t.word, if t.prefix { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Applies one patch inside the caller's transaction: the row after, and its journal entry
/// when anything changed.
async fn patch_tx(
    conn: &mut SqliteConnection,
    actor: &Actor,
    id: i64,
    patch: &TransactionPatch,
) -> StoreResult<(Transaction, Option<PendingEntry>)> {
    let before = fetch_tx(conn, id).await?;
    let after = patch.apply(&before);
    if crate::unchanged!(before, after) {
        return Ok((before, None));
    }
    sqlx::query(
        "UPDATE transactions SET posted_date = ?, amount_minor = ?, payee = ?, description = ?, memo = ?, \
         category_id = ?, status = ?, fingerprint = ?, transfer_id = ?, needs_review = ?, updated_at = ?, \
         bank_date = ?, bank_amount_minor = ? WHERE id = ?",
    )
    .bind(after.posted_date)
    .bind(after.amount_minor)
    .bind(&after.payee)
    .bind(&after.description)
    .bind(&after.memo)
    .bind(after.category_id)
    .bind(after.status.as_str())
    .bind(fingerprint_bytes(&after.fingerprint)?)
    .bind(after.transfer_id)
    .bind(after.needs_review)
    .bind(after.updated_at)
    .bind(after.bank_date)
    .bind(after.bank_amount_minor)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, || "the category or transfer it refers to does not exist".into()))?;
    let entry = PendingEntry::row(
        actor,
        Entity::Transaction,
        id,
        Op::Update,
        Some(&before),
        Some(&after),
    )?;
    Ok((after, Some(entry)))
}

#[async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn known_schema_version(&self) -> i64 {
        crate::latest_version(&MIGRATOR)
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        let has_table: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(dberr)?;
        if has_table.is_none() {
            return Ok(0);
        }
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)?;
        Ok(crate::applied_version(
            &versions,
            crate::latest_version(&MIGRATOR),
        ))
    }

    async fn meta(&self) -> StoreResult<Option<StoreMeta>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM meta")
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        crate::meta_from_pairs(rows, self.schema_version().await?)
    }

    #[instrument(skip_all, fields(env = %env))]
    async fn initialize(&self, actor: &Actor, env: Environment) -> StoreResult<StoreMeta> {
        let mut tx = self.begin().await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'lineage_id'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(dberr)?;
        if let Some(lineage) = existing {
            return Err(StoreError::AlreadyInitialized {
                location: self.location(),
                lineage,
            });
        }
        let meta = crate::new_meta(env, self.schema_version().await?);
        for (k, v) in crate::meta_pairs(&meta) {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(dberr)?;
        }
        append(&mut tx, vec![crate::init_entry(actor, &meta)?]).await?;
        tx.commit().await.map_err(dberr)?;
        Ok(meta)
    }

    #[instrument(skip_all, fields(protected))]
    async fn set_protected(&self, actor: &Actor, protected: bool) -> StoreResult<StoreMeta> {
        self.change_meta(actor, |m| StoreMeta { protected, ..m })
            .await
    }

    async fn counts(&self) -> StoreResult<Counts> {
        let (accounts, transactions, categories, users, import_batches): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM transactions), \
                 (SELECT COUNT(*) FROM categories), (SELECT COUNT(*) FROM users), \
                 (SELECT COUNT(*) FROM import_batches)",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(dberr)?;
        Ok(Counts {
            accounts,
            transactions,
            categories,
            users,
            import_batches,
        })
    }

    async fn journal_head(&self) -> StoreResult<JournalHead> {
        let (seq, hash): (i64, Vec<u8>) =
            sqlx::query_as("SELECT seq, hash FROM journal_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(dberr)?;
        crate::head(seq, &hash)
    }

    async fn foreign_schema_objects(&self) -> StoreResult<Vec<String>> {
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

    async fn head_state(&self) -> StoreResult<HeadState> {
        let (seq, hash, digest): (i64, Vec<u8>, Option<Vec<u8>>) =
            sqlx::query_as("SELECT seq, hash, rows_digest FROM journal_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(dberr)?;
        crate::head_state(seq, &hash, digest.as_deref())
    }

    async fn compute_rows_digest(&self) -> StoreResult<RowsDigest> {
        // The large tables with rusqlite on a blocking thread (a million rows are read, rebuilt
        // and hashed without sqlx's per-row cost); the small ones page through `scan_rows`.
        let (path, immutable) = (self.path.clone(), self.immutable);
        let span = tracing::Span::current();
        let large = tokio::task::spawn_blocking(move || {
            span.in_scope(|| crate::sqlite_bulk::large_tables_digest(&path, immutable))
        });
        let mut sum = RowsDigest::default();
        for &entity in Entity::ROWS {
            if matches!(entity, Entity::Transaction | Entity::Tombstone) {
                continue;
            }
            let mut after = 0i64;
            loop {
                let page = self.scan_rows(entity, after, 5_000).await?;
                let Some((last, _)) = page.last() else {
                    break;
                };
                after = *last;
                for (_, bytes) in &page {
                    sum.add_row(entity, bytes);
                }
            }
        }
        let large = large
            .await
            .map_err(|e| StoreError::Database(format!("rows digest task failed: {e}")))??;
        Ok(sum.plus(large))
    }

    async fn adopt_rows_digest(&self, actor: &Actor, digest: RowsDigest) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let set: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT rows_digest FROM journal_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await
                .map_err(dberr)?;
        if set.is_some() {
            return Ok(());
        }
        sqlx::query("UPDATE journal_head SET rows_digest = ? WHERE id = 1")
            .bind(digest.to_bytes().to_vec())
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        let rows: Vec<CredentialRow> = sqlx::query_as("SELECT * FROM credentials ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
        let records: Vec<CredentialRecord> = rows
            .iter()
            .map(CredentialRecord::try_from)
            .collect::<StoreResult<_>>()?;
        if let Some(entry) = crate::adopted_credentials(actor, &records)? {
            append(&mut tx, vec![entry]).await?;
        }
        tx.commit().await.map_err(dberr)
    }

    async fn mark_restored(&self, actor: &Actor, from: &str, fork: bool) -> StoreResult<StoreMeta> {
        self.change_meta(actor, |m| crate::restored(m, from, fork))
            .await
    }

    async fn close(&self) {
        self.bulk.close();
        self.pool.close().await;
    }

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_account(&self, actor: &Actor, new: &NewAccount) -> StoreResult<Account> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (name, institution, kind, currency, opening_balance_minor, archived, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 0, ?, ?) RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.institution)
        .bind(new.kind.as_str())
        .bind(new.currency.code())
        .bind(new.opening_balance_minor)
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("an account named \"{}\" already exists", new.name)))?;
        let account = crate::new_account_row(id, new, at);
        commit_journaled(
            tx,
            PendingEntry::row(actor, Entity::Account, id, Op::Insert, None, Some(&account))?,
        )
        .await?;
        Ok(account)
    }

    #[instrument(skip_all, fields(id))]
    async fn update_account(
        &self,
        actor: &Actor,
        id: i64,
        patch: &AccountPatch,
    ) -> StoreResult<Account> {
        let mut tx = self.begin().await?;
        let before = fetch_account(&mut tx, id).await?;
        let after = patch.apply(&before);
        if crate::unchanged!(before, after) {
            return Ok(before);
        }
        sqlx::query(
            "UPDATE accounts SET name = ?, institution = ?, kind = ?, opening_balance_minor = ?, archived = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&after.name)
        .bind(&after.institution)
        .bind(after.kind.as_str())
        .bind(after.opening_balance_minor)
        .bind(after.archived)
        .bind(after.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("an account named \"{}\" already exists", after.name)))?;
        commit_journaled(
            tx,
            PendingEntry::row(
                actor,
                Entity::Account,
                id,
                Op::Update,
                Some(&before),
                Some(&after),
            )?,
        )
        .await?;
        Ok(after)
    }

    async fn get_account(&self, id: i64) -> StoreResult<Account> {
        let mut conn = self.pool.acquire().await.map_err(dberr)?;
        fetch_account(&mut conn, id).await
    }

    async fn find_account(&self, name: &str) -> StoreResult<Option<Account>> {
        sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts WHERE lower(name) = lower(?)")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(dberr)?
            .map(Account::try_from)
            .transpose()
    }

    async fn list_accounts(&self, include_archived: bool) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query_as::<_, AccountRow>(
            "SELECT * FROM accounts WHERE archived = 0 OR ? ORDER BY lower(name)",
        )
        .bind(include_archived)
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)?;
        convert(rows)
    }

    async fn account_sums(&self) -> StoreResult<Vec<(i64, i64)>> {
        // One pass over the table summed in memory: SQLite would sort a million rows to group
        // them, or look each one up through the account index.
        let (path, immutable) = (self.path.clone(), self.immutable);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| crate::sqlite_bulk::account_sums(&path, immutable))
        })
        .await
        .map_err(|e| StoreError::Database(e.to_string()))?
    }

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_category(&self, actor: &Actor, new: &NewCategory) -> StoreResult<Category> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO categories (name, parent_id, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&new.name)
        .bind(new.parent_id)
        .bind(new.kind.as_str())
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("a category named \"{}\" already exists there", new.name)))?;
        let cat = Category {
            id,
            name: new.name.clone(),
            parent_id: new.parent_id,
            kind: new.kind,
            created_at: at,
            updated_at: at,
        };
        commit_journaled(
            tx,
            PendingEntry::row(actor, Entity::Category, id, Op::Insert, None, Some(&cat))?,
        )
        .await?;
        Ok(cat)
    }

    #[instrument(skip_all, fields(id))]
    async fn update_category(
        &self,
        actor: &Actor,
        id: i64,
        patch: &CategoryPatch,
    ) -> StoreResult<Category> {
        let mut tx = self.begin().await?;
        let before = fetch_category(&mut tx, id).await?;
        let after = patch.apply(&before);
        if crate::unchanged!(before, after) {
            return Ok(before);
        }
        sqlx::query(
            "UPDATE categories SET name = ?, parent_id = ?, kind = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&after.name)
        .bind(after.parent_id)
        .bind(after.kind.as_str())
        .bind(after.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            db_err(e, || {
                format!("a category named \"{}\" already exists there", after.name)
            })
        })?;
        commit_journaled(
            tx,
            PendingEntry::row(
                actor,
                Entity::Category,
                id,
                Op::Update,
                Some(&before),
                Some(&after),
            )?,
        )
        .await?;
        Ok(after)
    }

    async fn list_categories(&self) -> StoreResult<Vec<Category>> {
        let rows = sqlx::query_as::<_, CategoryRow>("SELECT * FROM categories ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    #[instrument(skip_all, fields(rows = rows.len()))]
    async fn insert_transactions(
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
    async fn import_rows(
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

    async fn find_import(
        &self,
        account_id: i64,
        file_sha256: &str,
    ) -> StoreResult<Option<ImportBatch>> {
        Ok(sqlx::query_as::<_, BatchRow>(
            "SELECT * FROM import_batches WHERE account_id = ? AND file_sha256 = ? ORDER BY id LIMIT 1",
        )
        .bind(account_id)
        .bind(file_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(dberr)?
        .map(ImportBatch::from))
    }

    async fn get_import(&self, id: i64) -> StoreResult<ImportBatch> {
        sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(dberr)?
            .map(ImportBatch::from)
            .ok_or_else(|| StoreError::NotFound(format!("import batch {id}")))
    }

    async fn list_imports(&self) -> StoreResult<Vec<ImportBatch>> {
        Ok(
            sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(dberr)?
                .into_iter()
                .map(ImportBatch::from)
                .collect(),
        )
    }

    #[instrument(skip_all, fields(batch_id))]
    async fn undo_import(&self, actor: &Actor, batch_id: i64) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        let batch: ImportBatch =
            sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches WHERE id = ?")
                .bind(batch_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(dberr)?
                .map(ImportBatch::from)
                .ok_or_else(|| StoreError::NotFound(format!("import batch {batch_id}")))?;
        let rows: Vec<Transaction> = convert(
            sqlx::query_as::<_, TxRow>(
                "SELECT * FROM transactions WHERE import_batch_id = ? ORDER BY id",
            )
            .bind(batch_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?,
        )?;
        sqlx::query("DELETE FROM transactions WHERE import_batch_id = ?")
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("a transaction of import batch {batch_id} is linked as a transfer: unlink it first")
                })
            })?;
        sqlx::query("DELETE FROM import_batches WHERE id = ?")
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        append(&mut tx, crate::undo_entries(actor, &batch, &rows)?).await?;
        tx.commit().await.map_err(dberr)?;
        // FTS5 records deletions as more index data until its segments merge: merge them now,
        // so a store whose rows went is small again (the backups' size check relies on it).
        if let Err(e) =
            sqlx::query("INSERT INTO transactions_fts (transactions_fts) VALUES ('optimize')")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "the text index was not optimised after the undo");
        }
        Ok(rows.len())
    }

    async fn account_has_history(&self, account_id: i64) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM transactions WHERE account_id = ?) \
             OR EXISTS (SELECT 1 FROM deleted_transactions WHERE account_id = ?)",
        )
        .bind(account_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(dberr)?;
        Ok(found.is_some())
    }

    async fn scan_dedup_keys(
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

    async fn payee_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
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

    async fn get_transaction(&self, id: i64) -> StoreResult<Transaction> {
        let mut conn = self.pool.acquire().await.map_err(dberr)?;
        fetch_tx(&mut conn, id).await
    }

    #[instrument(skip_all, fields(id = id))]
    async fn update_transaction(
        &self,
        actor: &Actor,
        id: i64,
        patch: &TransactionPatch,
    ) -> StoreResult<Transaction> {
        let mut tx = self.begin().await?;
        let (after, entry) = patch_tx(&mut tx, actor, id, patch).await?;
        if let Some(entry) = entry {
            commit_journaled(tx, entry).await?;
        }
        Ok(after)
    }

    #[instrument(skip_all, fields(rows = changes.len()))]
    async fn update_transactions(
        &self,
        actor: &Actor,
        changes: &[(i64, TransactionPatch)],
    ) -> StoreResult<Vec<Transaction>> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(changes.len());
        let mut entries = Vec::new();
        for (id, patch) in changes {
            let (after, entry) = patch_tx(&mut tx, actor, *id, patch).await?;
            out.push(after);
            entries.extend(entry);
        }
        if !entries.is_empty() {
            append(&mut tx, entries).await?;
            tx.commit().await.map_err(dberr)?;
        }
        Ok(out)
    }

    #[instrument(skip_all, fields(id))]
    async fn delete_transaction(&self, actor: &Actor, id: i64) -> StoreResult<Transaction> {
        let mut tx = self.begin().await?;
        let before = fetch_tx(&mut tx, id).await?;
        let tomb = Tombstone::of(&before);
        sqlx::query(
            "INSERT INTO deleted_transactions (account_id, posted_date, fingerprint, external_id, transaction_id, deleted_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(tomb.account_id)
        .bind(tomb.posted_date)
        .bind(fingerprint_bytes(&tomb.fingerprint)?)
        .bind(&tomb.external_id)
        .bind(id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(dberr)?;
        sqlx::query("DELETE FROM transactions WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("transaction {id} is linked as a transfer from another transaction: unlink it first")
                })
            })?;
        commit_journaled(
            tx,
            PendingEntry::row(
                actor,
                Entity::Transaction,
                id,
                Op::Delete,
                Some(&before),
                None,
            )?,
        )
        .await?;
        Ok(before)
    }

    async fn list_transactions(&self, f: &TxFilter) -> StoreResult<TxPage> {
        let limit = page_limit(f.limit);
        let search = f.text.as_deref().and_then(fts_query);
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

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_user(&self, actor: &Actor, new: &NewUser) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (name, role, password_hash, disabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?) RETURNING id",
        )
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("a user named \"{}\" already exists", new.name)))?;
        let user = User {
            id,
            name: new.name.clone(),
            role: new.role,
            password_hash: new.password_hash.clone(),
            disabled: false,
            created_at: at,
            updated_at: at,
        };
        commit_journaled(
            tx,
            PendingEntry::row(actor, Entity::User, id, Op::Insert, None, Some(&user))?,
        )
        .await?;
        Ok(user)
    }

    #[instrument(skip_all, fields(id))]
    async fn update_user(&self, actor: &Actor, id: i64, patch: &UserPatch) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let before = fetch_user(&mut tx, id).await?;
        let after = patch.apply(&before);
        if crate::unchanged!(before, after) {
            return Ok(before);
        }
        sqlx::query(
            "UPDATE users SET role = ?, password_hash = ?, disabled = ?, updated_at = ? WHERE id = ?",
        )
        .bind(after.role.as_str())
        .bind(&after.password_hash)
        .bind(after.disabled)
        .bind(after.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(dberr)?;
        commit_journaled(
            tx,
            PendingEntry::row(
                actor,
                Entity::User,
                id,
                Op::Update,
                Some(&before),
                Some(&after),
            )?,
        )
        .await?;
        Ok(after)
    }

    async fn find_user(&self, name: &str) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE lower(name) = lower(?)")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(dberr)?
            .map(User::try_from)
            .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query_as::<_, UserRow>("SELECT * FROM users ORDER BY lower(name)")
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    async fn create_credential(
        &self,
        actor: &Actor,
        new: &NewCredential,
    ) -> StoreResult<Credential> {
        let mut tx = self.begin().await?;
        let at = now();
        let mut entries = Vec::new();
        if new.kind == CredentialKind::Session {
            let expired: Vec<CredentialRow> = sqlx::query_as(
                "DELETE FROM credentials WHERE kind = 'session' AND expires_at < ? RETURNING *",
            )
            .bind(at)
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
            entries.extend(crate::expired_sessions(actor, &expired)?);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO credentials (kind, user_id, name, secret_sha256, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(new.user_id)
        .bind(&new.name)
        .bind(&new.secret_sha256[..])
        .bind(at)
        .bind(new.expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(dberr)?;
        entries.push(PendingEntry::row(
            actor,
            Entity::Credential,
            id,
            Op::Insert,
            None,
            Some(&new_credential_record(id, new, at)),
        )?);
        append(&mut tx, entries).await?;
        tx.commit().await.map_err(dberr)?;
        Ok(new_credential(id, new, at))
    }

    async fn find_credential(
        &self,
        secret_sha256: &[u8; 32],
    ) -> StoreResult<Option<(Credential, User)>> {
        let Some(row) =
            sqlx::query_as::<_, CredentialRow>("SELECT * FROM credentials WHERE secret_sha256 = ?")
                .bind(&secret_sha256[..])
                .fetch_optional(&self.pool)
                .await
                .map_err(dberr)?
        else {
            return Ok(None);
        };
        let cred = Credential::try_from(row)?;
        let mut conn = self.pool.acquire().await.map_err(dberr)?;
        let user = fetch_user(&mut conn, cred.user_id).await?;
        Ok(Some((cred, user)))
    }

    async fn touch_credential(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE credentials SET last_used_at = ? WHERE id = ?")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(dberr)?;
        Ok(())
    }

    async fn revoke_credentials(
        &self,
        actor: &Actor,
        id: Option<i64>,
        user_id: Option<i64>,
        kind: Option<CredentialKind>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let mut q = revoke_credentials_query::<Sqlite>(id, user_id, kind);
        let revoked: Vec<CredentialRow> = q
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
        let entries = crate::revocations(actor, &revoked)?;
        if !entries.is_empty() {
            append(&mut tx, entries).await?;
            tx.commit().await.map_err(dberr)?;
        }
        Ok(revoked.len() as u64)
    }

    async fn list_credentials(
        &self,
        kind: CredentialKind,
        user_id: Option<i64>,
    ) -> StoreResult<Vec<Credential>> {
        let mut q = list_credentials_query::<Sqlite>(kind, user_id);
        let rows: Vec<CredentialRow> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    async fn journal_entries(&self, f: &JournalFilter) -> StoreResult<Vec<JournalEntry>> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM journal WHERE seq > ");
        q.push_bind(f.after_seq);
        if let Some(e) = f.entity {
            q.push(" AND entity = ").push_bind(e.as_str());
        }
        if let Some(id) = f.entity_id {
            q.push(" AND entity_id = ").push_bind(id);
        }
        if let Some(since) = f.since {
            q.push(" AND at >= ").push_bind(since);
        }
        q.push(" ORDER BY seq LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        let rows: Vec<JournalRow> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    async fn scan_rows(
        &self,
        entity: Entity,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Vec<u8>)>> {
        let limit = i64::from(limit.max(1));
        macro_rules! scan {
            ($row:ty, $model:ty, $table:literal) => {{
                let rows = sqlx::query_as::<_, $row>(concat!(
                    "SELECT * FROM ",
                    $table,
                    " WHERE id > ? ORDER BY id LIMIT ?"
                ))
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(dberr)?;
                let models: Vec<$model> = convert(rows)?;
                canonical(models, |m| m.id)
            }};
        }
        match entity {
            Entity::Account => scan!(AccountRow, Account, "accounts"),
            Entity::Category => scan!(CategoryRow, Category, "categories"),
            Entity::Transaction => scan!(TxRow, Transaction, "transactions"),
            Entity::User => scan!(UserRow, User, "users"),
            Entity::ImportBatch => {
                let rows = sqlx::query_as::<_, BatchRow>(
                    "SELECT * FROM import_batches WHERE id > ? ORDER BY id LIMIT ?",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(dberr)?;
                canonical(
                    rows.into_iter().map(ImportBatch::from).collect(),
                    |m: &ImportBatch| m.id,
                )
            }
            Entity::Store => crate::store_facts_rows(self.meta().await?, after_id),
            Entity::Credential => {
                let rows = sqlx::query_as::<_, CredentialRow>(
                    "SELECT * FROM credentials WHERE id > ? ORDER BY id LIMIT ?",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(dberr)?;
                let records: Vec<CredentialRecord> = rows
                    .iter()
                    .map(CredentialRecord::try_from)
                    .collect::<StoreResult<_>>()?;
                canonical(records, |m| m.id)
            }
            Entity::Tombstone => {
                let rows = sqlx::query_as::<_, TombstoneRow>(
                    "SELECT transaction_id, account_id, posted_date, fingerprint, external_id \
                     FROM deleted_transactions WHERE transaction_id > ? ORDER BY transaction_id LIMIT ?",
                )
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(dberr)?;
                canonical(rows.into_iter().map(Tombstone::from).collect(), |m| m.id)
            }
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
