//! The production engine: PostgreSQL through a connection pool, `TIMESTAMPTZ` timestamps and
//! `BIGINT` minor units. Writers serialise on the journal head's row lock (`FOR UPDATE`), so
//! journal entries are appended in commit order.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ledgerflow_core::journal::{
    Entity, HeadState, JournalEntry, JournalHead, Op, PendingEntry, RowsDigest,
};
use ledgerflow_core::model::*;
use ledgerflow_core::store::{JournalFilter, Store, StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};
use tracing::instrument;

use crate::OpenMode;
use crate::rows::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    url: String,
}

/// Rows per `INSERT … SELECT FROM UNNEST(…)` statement.
const TX_CHUNK: usize = 10_000;

impl PgStore {
    /// Connects and brings the schema up to date. An empty database in `Existing` mode is
    /// `NotInitialized`; the database itself must exist (create it with `createdb`).
    pub async fn open(url: &str, mode: OpenMode) -> StoreResult<Self> {
        let location = crate::redact_url(url);
        let unavailable = |e: sqlx::Error| StoreError::Unavailable {
            location: location.clone(),
            reason: e.to_string(),
        };
        let opts = PgConnectOptions::from_str(url).map_err(|e| StoreError::InvalidLocation {
            location: location.clone(),
            reason: e.to_string(),
        })?;
        // One direct connection first: it fails fast with the server's own reason (refused,
        // unknown database, bad password) where the pool would only time out.
        let probe = tokio::time::timeout(
            Duration::from_secs(10),
            <PgConnection as sqlx::Connection>::connect_with(&opts),
        )
        .await
        .map_err(|_| StoreError::Unavailable {
            location: location.clone(),
            reason: "no answer from the server within 10 s".into(),
        })?;
        let probe = probe.map_err(unavailable)?;
        let _ = sqlx::Connection::close(probe).await;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await
            .map_err(unavailable)?;
        let store = PgStore {
            pool,
            url: url.to_string(),
        };
        store.migrate(mode).await?;
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
        if mode == OpenMode::AsIs {
            return Ok(());
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("schema migration failed: {e}")))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Begins a write: the journal head's row lock is taken first, so writers are serialised
    /// and each reads the rows it changes after the previous writer committed (no lost
    /// updates, before-images always current).
    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(dberr)?;
        sqlx::query("SELECT 1 FROM journal_head WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        Ok(tx)
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
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
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

    /// Inserts rows (and, for an import, its batch first) with their journal entries in one
    /// transaction.
    /// The one write path for many rows: the batch (if any), then each chunk as it arrives
    /// (ids reserved per chunk, `UNNEST` inserts), its journal entry encoded on a blocking thread
    /// while the next chunk is written; the journal entries are appended (batch first) and the
    /// transaction commits only on `Done`.
    async fn stream(
        &self,
        actor: &Actor,
        batch: Option<NewImportBatch>,
        mut rx: tokio::sync::mpsc::Receiver<ImportChunk>,
    ) -> StoreResult<(Option<ImportBatch>, Vec<i64>)> {
        // The journal head is locked only at the end, for the append and the commit: other
        // writers are not held up while the rows go in (they cannot see them until the commit,
        // and ids come from the sequence one by one, so none is shared).
        let mut tx = self.pool.begin().await.map_err(dberr)?;
        let at = now();
        let batch_id = match &batch {
            Some(b) => Some(
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO import_batches (account_id, file_name, file_sha256, format, actor, rows_read, \
                     rows_new, rows_duplicate, rows_flagged, rows_skipped, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                )
                .bind(b.account_id)
                .bind(&b.file_name)
                .bind(&b.file_sha256)
                .bind(&b.format)
                .bind(actor.as_str())
                .bind(b.rows_read)
                .bind(b.rows_new)
                .bind(b.rows_duplicate)
                .bind(b.rows_flagged)
                .bind(b.rows_skipped)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(
                        "this very file was already imported into this account".into(),
                    ),
                    _ => db_err(e, || format!("account {} does not exist", b.account_id)),
                })?,
            ),
            None => None,
        };
        let (etx, mut erx) = tokio::sync::mpsc::channel::<Vec<Transaction>>(1);
        let encoder = {
            let actor = actor.clone();
            tokio::task::spawn_blocking(move || -> StoreResult<Vec<PendingEntry>> {
                let mut v = Vec::new();
                while let Some(rows) = erx.blocking_recv() {
                    v.push(crate::tx_insert_entry(&actor, &rows)?);
                }
                Ok(v)
            })
        };
        let mut ids = Vec::new();
        let counts = loop {
            match rx.recv().await {
                Some(ImportChunk::Rows(rows)) => {
                    if rows.is_empty() {
                        continue;
                    }
                    let n = rows.len() as i64;
                    let reserved: Vec<i64> = sqlx::query_scalar(
                        "SELECT nextval(pg_get_serial_sequence('transactions', 'id')) \
                         FROM generate_series(1, $1)",
                    )
                    .bind(n)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(dberr)?;
                    let full: Vec<Transaction> = rows
                        .into_iter()
                        .zip(reserved)
                        .map(|(mut r, id)| {
                            r.import_batch_id = batch_id.or(r.import_batch_id);
                            r.into_row(id, at)
                        })
                        .collect();
                    for chunk in full.chunks(TX_CHUNK) {
                        insert_chunk(&mut tx, chunk).await?;
                    }
                    ids.extend(full.iter().map(|t| t.id));
                    if etx.send(full).await.is_err() {
                        break Err(StoreError::Database("the journal encoder stopped".into()));
                    }
                }
                Some(ImportChunk::Done(c)) => break Ok(c),
                None => {
                    break Err(StoreError::Conflict(
                        "the import stopped before its end: nothing was written".into(),
                    ));
                }
            }
        };
        drop(etx);
        let chunk_entries = encoder
            .await
            .map_err(|e| StoreError::Database(format!("journal encoder failed: {e}")))?;
        let (counts, chunk_entries) = (counts?, chunk_entries?);
        let mut entries = Vec::with_capacity(chunk_entries.len() + 1);
        let recorded = match (batch, batch_id) {
            (Some(mut b), Some(id)) => {
                b.set_counts(counts);
                sqlx::query(
                    "UPDATE import_batches SET rows_read = $1, rows_new = $2, rows_duplicate = $3, \
                     rows_flagged = $4, rows_skipped = $5 WHERE id = $6",
                )
                .bind(b.rows_read)
                .bind(b.rows_new)
                .bind(b.rows_duplicate)
                .bind(b.rows_flagged)
                .bind(b.rows_skipped)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(dberr)?;
                let (batch, entry) = crate::recorded_batch(actor, b, id, at)?;
                entries.push(entry);
                Some(batch)
            }
            _ => None,
        };
        entries.extend(chunk_entries);
        append(&mut tx, entries).await?;
        tx.commit().await.map_err(dberr)?;
        Ok((recorded, ids))
    }
}

/// Appends entries after the current head and moves the head (and the rows digest), inside the
/// caller's transaction. The head's row lock is taken here if the caller has not taken it.
async fn append(conn: &mut PgConnection, entries: Vec<PendingEntry>) -> StoreResult<()> {
    let (mut seq, head, digest): (i64, Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT seq, hash, rows_digest FROM journal_head WHERE id = 1 FOR UPDATE")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
    sqlx::query("UPDATE journal_head SET seq = $1, hash = $2, rows_digest = $3 WHERE id = 1")
        .bind(seq)
        .bind(&prev[..])
        .bind(digest.map(|d| d.to_bytes().to_vec()))
        .execute(&mut *conn)
        .await
        .map_err(dberr)?;
    Ok(())
}

/// Applies one patch inside the caller's transaction: the row after, and its journal entry
/// when anything changed.
async fn patch_tx(
    conn: &mut PgConnection,
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
        "UPDATE transactions SET posted_date = $1, amount_minor = $2, payee = $3, description = $4, memo = $5, \
         category_id = $6, status = $7, fingerprint = $8, transfer_id = $9, needs_review = $10, updated_at = $11, \
         bank_date = $12, bank_amount_minor = $13 WHERE id = $14",
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

/// Appends one entry and commits: the change and its journal entry land together or not at all.
async fn commit_journaled(
    mut tx: sqlx::Transaction<'static, Postgres>,
    entry: PendingEntry,
) -> StoreResult<()> {
    append(&mut tx, vec![entry]).await?;
    tx.commit().await.map_err(dberr)
}

/// One row by id, converted to its model type; `NotFound` names `what` and the id.
async fn fetch_by_id<R, T>(
    conn: &mut PgConnection,
    sql: &'static str,
    id: i64,
    what: &str,
) -> StoreResult<T>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
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

async fn fetch_account(conn: &mut PgConnection, id: i64) -> StoreResult<Account> {
    fetch_by_id::<AccountRow, _>(conn, "SELECT * FROM accounts WHERE id = $1", id, "account").await
}

async fn fetch_category(conn: &mut PgConnection, id: i64) -> StoreResult<Category> {
    fetch_by_id::<CategoryRow, _>(
        conn,
        "SELECT * FROM categories WHERE id = $1",
        id,
        "category",
    )
    .await
}

async fn fetch_tx(conn: &mut PgConnection, id: i64) -> StoreResult<Transaction> {
    fetch_by_id::<TxRow, _>(
        conn,
        "SELECT * FROM transactions WHERE id = $1",
        id,
        "transaction",
    )
    .await
}

async fn fetch_user(conn: &mut PgConnection, id: i64) -> StoreResult<User> {
    fetch_by_id::<UserRow, _>(conn, "SELECT * FROM users WHERE id = $1", id, "user").await
}

#[async_trait]
impl Store for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn location(&self) -> String {
        crate::redact_url(&self.url)
    }

    fn known_schema_version(&self) -> i64 {
        crate::latest_version(&MIGRATOR)
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(dberr)?;
        if !has_table {
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
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
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
        // LedgerFlow makes no triggers, rules or views on PostgreSQL, and two functions.
        let have: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT 'trigger', tgname::text, '' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE NOT t.tgisinternal AND n.nspname = current_schema() \
             UNION ALL SELECT 'rule', rulename::text, '' FROM pg_rules WHERE schemaname = current_schema() \
             UNION ALL SELECT 'view', viewname::text, '' FROM pg_views WHERE schemaname = current_schema() \
             UNION ALL SELECT 'function', p.proname::text, '' FROM pg_proc p \
               JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() \
             ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)?;
        let want: Vec<(String, String, String)> = if self.schema_version().await? >= 3 {
            ["ledgerflow_fold", "ledgerflow_search_words"]
                .iter()
                .map(|f| ("function".to_string(), f.to_string(), String::new()))
                .collect()
        } else {
            Vec::new()
        };
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
        sqlx::query("UPDATE journal_head SET rows_digest = $1 WHERE id = 1")
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
        self.pool.close().await;
    }

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_account(&self, actor: &Actor, new: &NewAccount) -> StoreResult<Account> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (name, institution, kind, currency, opening_balance_minor, archived, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7) RETURNING id",
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
            "UPDATE accounts SET name = $1, institution = $2, kind = $3, opening_balance_minor = $4, archived = $5, updated_at = $6 WHERE id = $7",
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
        sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts WHERE lower(name) = lower($1)")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(dberr)?
            .map(Account::try_from)
            .transpose()
    }

    async fn list_accounts(&self, include_archived: bool) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query_as::<_, AccountRow>(
            "SELECT * FROM accounts WHERE NOT archived OR $1 ORDER BY lower(name)",
        )
        .bind(include_archived)
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)?;
        convert(rows)
    }

    async fn account_sums(&self) -> StoreResult<Vec<(i64, i64)>> {
        sqlx::query_as(
            "SELECT account_id, SUM(amount_minor)::BIGINT FROM transactions GROUP BY account_id ORDER BY account_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)
    }

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_category(&self, actor: &Actor, new: &NewCategory) -> StoreResult<Category> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO categories (name, parent_id, kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
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
            "UPDATE categories SET name = $1, parent_id = $2, kind = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&after.name)
        .bind(after.parent_id)
        .bind(after.kind.as_str())
        .bind(after.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("a category named \"{}\" already exists there", after.name)))?;
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
        let rx = ImportChunk::complete(rows, ImportCounts::default());
        self.stream(actor, None, rx).await.map(|(_, ids)| ids)
    }

    #[instrument(skip_all, fields(file = %batch.file_name))]
    async fn import_rows(
        &self,
        actor: &Actor,
        batch: NewImportBatch,
        rows: tokio::sync::mpsc::Receiver<ImportChunk>,
    ) -> StoreResult<ImportBatch> {
        self.stream(actor, Some(batch), rows)
            .await?
            .0
            .ok_or_else(|| StoreError::Database("the import batch was not recorded".into()))
    }

    async fn find_import(
        &self,
        account_id: i64,
        file_sha256: &str,
    ) -> StoreResult<Option<ImportBatch>> {
        Ok(sqlx::query_as::<_, BatchRow>(
            "SELECT * FROM import_batches WHERE account_id = $1 AND file_sha256 = $2 ORDER BY id LIMIT 1",
        )
        .bind(account_id)
        .bind(file_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(dberr)?
        .map(ImportBatch::from))
    }

    async fn get_import(&self, id: i64) -> StoreResult<ImportBatch> {
        sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches WHERE id = $1")
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
            sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches WHERE id = $1")
                .bind(batch_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(dberr)?
                .map(ImportBatch::from)
                .ok_or_else(|| StoreError::NotFound(format!("import batch {batch_id}")))?;
        let rows: Vec<Transaction> = convert(
            sqlx::query_as::<_, TxRow>(
                "SELECT * FROM transactions WHERE import_batch_id = $1 ORDER BY id",
            )
            .bind(batch_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?,
        )?;
        sqlx::query("DELETE FROM transactions WHERE import_batch_id = $1")
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("a transaction of import batch {batch_id} is linked as a transfer: unlink it first")
                })
            })?;
        sqlx::query("DELETE FROM import_batches WHERE id = $1")
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        append(&mut tx, crate::undo_entries(actor, &batch, &rows)?).await?;
        tx.commit().await.map_err(dberr)?;
        Ok(rows.len())
    }

    async fn account_has_history(&self, account_id: i64) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM transactions WHERE account_id = $1) \
             OR EXISTS (SELECT 1 FROM deleted_transactions WHERE account_id = $1)",
        )
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
        use futures::TryStreamExt;
        let mut rows = sqlx::query_as::<_, crate::rows::DedupRow>(
            "SELECT id, COALESCE(bank_date, posted_date) AS posted_date, \
             COALESCE(bank_amount_minor, amount_minor) AS amount_minor, fingerprint, external_id, 0 AS deleted \
             FROM transactions WHERE account_id = $1 AND posted_date BETWEEN $2 AND $3 AND bank_date IS NULL \
             UNION ALL \
             SELECT id, bank_date, COALESCE(bank_amount_minor, amount_minor), fingerprint, external_id, 0 \
             FROM transactions WHERE account_id = $1 AND bank_date BETWEEN $2 AND $3 \
             UNION ALL \
             SELECT transaction_id, posted_date, 0::bigint, fingerprint, external_id, 1 \
             FROM deleted_transactions WHERE account_id = $1 AND posted_date BETWEEN $2 AND $3",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch(&self.pool);
        while let Some(r) = rows.try_next().await.map_err(dberr)? {
            f(DedupKey::try_from(r)?);
        }
        Ok(())
    }

    async fn payee_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(10_000) {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, CASE WHEN payee <> '' THEN payee ELSE description END \
                 FROM transactions WHERE id = ANY($1)",
            )
            .bind(chunk)
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
             VALUES ($1, $2, $3, $4, $5, $6)",
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
        sqlx::query("DELETE FROM transactions WHERE id = $1")
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
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT t.* FROM transactions t WHERE 1=1");
        let terms = f.text.as_deref().map(search_terms).unwrap_or_default();
        if !terms.is_empty() {
            // Each word ('word', or 'word':* typed as `word*`), over the indexed expression
            // (0003_web.sql).
            let tsquery = terms
                .iter()
                .map(|t| format!("'{}'{}", t.word, if t.prefix { ":*" } else { "" }))
                .collect::<Vec<_>>()
                .join(" & ");
            q.push(" AND ledgerflow_search_words(t.payee, t.description, t.memo) @@ to_tsquery('simple', ledgerflow_fold(")
                .push_bind(tsquery)
                .push("))");
        }
        push_tx_filters(&mut q, f, limit);
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
            "INSERT INTO users (name, role, password_hash, disabled, created_at, updated_at) VALUES ($1, $2, $3, FALSE, $4, $5) RETURNING id",
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
            "UPDATE users SET role = $1, password_hash = $2, disabled = $3, updated_at = $4 WHERE id = $5",
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
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE lower(name) = lower($1)")
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
                "DELETE FROM credentials WHERE kind = 'session' AND expires_at < $1 RETURNING *",
            )
            .bind(at)
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
            entries.extend(crate::expired_sessions(actor, &expired)?);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO credentials (kind, user_id, name, secret_sha256, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
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
        let Some(row) = sqlx::query_as::<_, CredentialRow>(
            "SELECT * FROM credentials WHERE secret_sha256 = $1",
        )
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
        sqlx::query("UPDATE credentials SET last_used_at = $1 WHERE id = $2")
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
        let mut q = revoke_credentials_query::<Postgres>(id, user_id, kind);
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
        let mut q = list_credentials_query::<Postgres>(kind, user_id);
        let rows: Vec<CredentialRow> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    async fn journal_entries(&self, f: &JournalFilter) -> StoreResult<Vec<JournalEntry>> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM journal WHERE seq > ");
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
                    " WHERE id > $1 ORDER BY id LIMIT $2"
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
                    "SELECT * FROM import_batches WHERE id > $1 ORDER BY id LIMIT $2",
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
                    "SELECT * FROM credentials WHERE id > $1 ORDER BY id LIMIT $2",
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
                     FROM deleted_transactions WHERE transaction_id > $1 ORDER BY transaction_id LIMIT $2",
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

/// One `INSERT … SELECT FROM UNNEST` of column arrays: a single round trip per chunk.
async fn insert_chunk(conn: &mut PgConnection, chunk: &[Transaction]) -> StoreResult<()> {
    let n = chunk.len();
    let mut id = Vec::with_capacity(n);
    let mut account = Vec::with_capacity(n);
    let mut date = Vec::with_capacity(n);
    let mut amount = Vec::with_capacity(n);
    let mut currency = Vec::with_capacity(n);
    let mut payee = Vec::with_capacity(n);
    let mut description = Vec::with_capacity(n);
    let mut memo = Vec::with_capacity(n);
    let mut category = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut source = Vec::with_capacity(n);
    let mut batch = Vec::with_capacity(n);
    let mut external = Vec::with_capacity(n);
    let mut fp = Vec::with_capacity(n);
    let mut transfer = Vec::with_capacity(n);
    let mut review = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    for t in chunk {
        id.push(t.id);
        account.push(t.account_id);
        date.push(t.posted_date);
        amount.push(t.amount_minor);
        currency.push(t.currency.code().to_string());
        payee.push(t.payee.as_str());
        description.push(t.description.as_str());
        memo.push(t.memo.as_str());
        category.push(t.category_id);
        status.push(t.status.as_str());
        source.push(t.source.as_str());
        batch.push(t.import_batch_id);
        external.push(t.external_id.as_deref());
        fp.push(fingerprint_bytes(&t.fingerprint)?);
        transfer.push(t.transfer_id);
        review.push(t.needs_review);
        created.push(t.created_at);
        updated.push(t.updated_at);
    }
    sqlx::query(
        "INSERT INTO transactions (id, account_id, posted_date, amount_minor, currency, payee, description, memo, \
         category_id, status, source, import_batch_id, external_id, fingerprint, transfer_id, needs_review, created_at, updated_at) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::date[], $4::bigint[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::bigint[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::bytea[], $15::bigint[], \
         $16::boolean[], $17::timestamptz[], $18::timestamptz[])",
    )
    .bind(id)
    .bind(account)
    .bind(date)
    .bind(amount)
    .bind(currency)
    .bind(payee)
    .bind(description)
    .bind(memo)
    .bind(category)
    .bind(status)
    .bind(source)
    .bind(batch)
    .bind(external)
    .bind(fp)
    .bind(transfer)
    .bind(review)
    .bind(created)
    .bind(updated)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        db_err(e, || {
            "a transaction refers to an account, category or batch that does not exist".to_string()
        })
    })?;
    Ok(())
}

pub(crate) fn migration_versions() -> Vec<i64> {
    MIGRATOR.iter().map(|m| m.version).collect()
}

/// Drops and recreates the `public` schema: every table, the journal and the migration history.
pub(crate) async fn wipe(url: &str) -> StoreResult<()> {
    use sqlx::{ConnectOptions as _, Connection as _};
    let mut conn = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidLocation {
            location: crate::redact_url(url),
            reason: e.to_string(),
        })?
        .connect()
        .await
        .map_err(dberr)?;
    let mut tx = conn.begin().await.map_err(dberr)?;
    for sql in ["DROP SCHEMA public CASCADE", "CREATE SCHEMA public"] {
        sqlx::query(sql).execute(&mut *tx).await.map_err(dberr)?;
    }
    tx.commit().await.map_err(dberr)?;
    Ok(())
}
