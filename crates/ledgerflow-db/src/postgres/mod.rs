//! The production engine: PostgreSQL through a connection pool, `TIMESTAMPTZ` timestamps and
//! `BIGINT` minor units. Writers serialise on the journal head's row lock (`FOR UPDATE`), so
//! journal entries are appended in commit order.

use std::str::FromStr;
use std::time::Duration;

use ledgerflow_core::journal::{PendingEntry, RowsDigest};
use ledgerflow_core::model::*;
use ledgerflow_core::store::{Store, StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};
use tracing::instrument;

use crate::OpenMode;
use crate::rows::*;

// ---- What `common/` needs of this engine: its types and the statements that differ.
type Db = Postgres;
type Conn = PgConnection;
type This = PgStore;
const ENGINE: Engine = Engine::Postgres;
/// The journal head, read for an append, its row locked: writers append in commit order.
const HEAD_FOR_WRITE: &str =
    "SELECT seq, hash, rows_digest FROM journal_head WHERE id = 1 FOR UPDATE";
/// Whether the migrator runs on a store already at this binary's schema: the migrator runs at every open (it also checks the applied migrations' checksums).
const MIGRATE_WHEN_CURRENT: bool = true;
/// Whether sqlx's migration table exists.
const HAS_MIGRATIONS: &str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";

crate::engine_common_modules!();
use write::*;

pub(crate) mod admin;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
    url: String,
    import_turns: crate::ImportTurns,
}

/// The first key of the advisory lock an import into an account holds ("LFIM").
const IMPORT_LOCK_CLASS: i32 = 0x4C46_494D;

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
            import_turns: Default::default(),
        };
        store.migrate(mode).await?;
        Ok(store)
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
            Some(b) => Some(insert_batch(&mut tx, actor, b, at).await?),
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
                    let full = crate::imported_rows(rows, reserved, batch_id, at);
                    for chunk in full.chunks(TX_CHUNK) {
                        insert_chunk(&mut tx, chunk).await?;
                    }
                    ids.extend(full.iter().map(|t| t.id));
                    if etx.send(full).await.is_err() {
                        break Err(crate::encoder_stopped());
                    }
                }
                Some(ImportChunk::Done(c)) => break Ok(c),
                None => break Err(crate::import_cut_short()),
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

/// What this engine does its own way (called by `common/store.rs`).
impl PgStore {
    fn location_text(&self) -> String {
        crate::redact_url(&self.url)
    }

    async fn native_foreign_schema_objects(&self) -> StoreResult<Vec<String>> {
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

    async fn native_compute_rows_digest(&self) -> StoreResult<RowsDigest> {
        ledgerflow_core::store::digest_by_pages(self, |_| true).await
    }

    /// Nothing to tidy after an undo.
    async fn after_undo(&self) {}

    /// A session advisory lock on (`IMPORT_LOCK_CLASS`, the account), held by a connection taken
    /// out of the pool: dropping the lock closes that connection, which releases it. One waiter
    /// per account in this process tries it, every [`crate::IMPORT_LOCK_POLL`] (no backend is
    /// left waiting when the import is given up); the others wait without a connection.
    async fn native_lock_imports(&self, account_id: i64) -> StoreResult<ImportLock> {
        let turn = self.import_turns.take(account_id).await;
        let mut conn = self.pool.acquire().await.map_err(dberr)?.detach();
        loop {
            let locked: bool =
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2::TEXT))")
                    .bind(IMPORT_LOCK_CLASS)
                    .bind(account_id)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(dberr)?;
            if locked {
                return Ok(ImportLock::new((turn, conn)));
            }
            tokio::time::sleep(crate::IMPORT_LOCK_POLL).await;
        }
    }

    async fn native_close(&self) {
        self.pool.close().await;
    }

    async fn native_account_sums(&self) -> StoreResult<Vec<(i64, i64)>> {
        sqlx::query_as(
            "SELECT account_id, SUM(amount_minor)::BIGINT FROM transactions GROUP BY account_id ORDER BY account_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)
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
        let rx = ImportChunk::complete(rows, ImportCounts::default());
        self.stream(actor, None, rx).await.map(|(_, ids)| ids)
    }

    #[instrument(skip_all, fields(file = %batch.file_name))]
    async fn native_import_rows(
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

    async fn native_scan_dedup_keys(
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

    async fn native_payee_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
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

    async fn native_list_transactions(&self, f: &TxFilter) -> StoreResult<TxPage> {
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
}

/// The import batch's row, before its rows. Its counts start at zero and are set, in the same
/// transaction, when the rows are all in (`stream` commits only then).
async fn insert_batch(
    conn: &mut PgConnection,
    actor: &Actor,
    b: &NewImportBatch,
    at: chrono::DateTime<chrono::Utc>,
) -> StoreResult<i64> {
    sqlx::query_scalar::<_, i64>(
        "INSERT INTO import_batches (account_id, file_name, file_sha256, format, actor, rows_read, \
         rows_new, rows_duplicate, rows_flagged, rows_skipped, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 0, 0, $6) RETURNING id",
    )
    .bind(b.account_id)
    .bind(&b.file_name)
    .bind(&b.file_sha256)
    .bind(&b.format)
    .bind(actor.as_str())
    .bind(at)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict("this very file was already imported into this account".into())
        }
        _ => db_err(e, || format!("account {} does not exist", b.account_id)),
    })
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
