//! The SQLite bulk-insert path. Inserting a million rows through sqlx's per-argument binding
//! costs ~18 µs of CPU per row; a cached rusqlite statement on a dedicated connection costs a
//! fraction of that. The journal payload (canonical JSON, compressed) is built on a second thread
//! while the rows are written, and appended in the same transaction before it commits.
//!
//! rusqlite is pinned to the version that links the same SQLite as sqlx, so both drivers share
//! one library and its file locks: this connection's `BEGIN IMMEDIATE` waits for, and blocks,
//! the pool's writers like any other writer would.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::SecondsFormat;
use ledgerflow_core::journal::PendingEntry;
use ledgerflow_core::model::{
    Actor, DedupKey, ImportBatch, ImportChunk, ImportCounts, NewImportBatch, NewTransaction,
    Transaction, now,
};
use ledgerflow_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::fts::{DEFER_TEXT_INDEX_AT, TextIndex};
use crate::chain::{Chain, INSERT_ENTRY, MOVE_HEAD, READ_HEAD};
use crate::rows::fingerprint_bytes;

pub(crate) struct BulkWriter {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

pub(super) fn err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(
                "a transaction refers to an account, category or batch that does not exist".into(),
            )
        }
        _ => StoreError::Database(e.to_string()),
    }
}

/// The text sqlx writes for a timestamp, so rows read back the same whichever driver wrote them.
pub(super) fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

impl BulkWriter {
    pub(crate) fn new(path: PathBuf) -> Self {
        BulkWriter {
            path,
            conn: Mutex::new(None),
        }
    }

    fn open(&self) -> StoreResult<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        c.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        c.execute_batch(
            // Foreign keys are checked once per chunk by `check_references` instead of twice
            // per row: the write lock is held, so no referenced row can go away meanwhile.
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF; \
             PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;",
        )
        .map_err(err)?;
        Ok(c)
    }

    /// Closes the connection (so the WAL can be checkpointed and removed on close).
    pub(crate) fn close(&self) {
        if let Ok(mut g) = self.conn.lock() {
            g.take();
        }
    }

    fn with_conn<R>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<R>) -> StoreResult<R> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Database("bulk writer lock poisoned".into()))?;
        if guard.is_none() {
            *guard = Some(self.open()?);
        }
        let conn = guard
            .as_mut()
            .ok_or_else(|| StoreError::Database("bulk writer has no connection".into()))?;
        f(conn)
    }

    /// Inserts `rows` and their journal entry in one `BEGIN IMMEDIATE` transaction. Blocking.
    pub(crate) fn insert(&self, actor: &Actor, rows: Vec<NewTransaction>) -> StoreResult<Vec<i64>> {
        let rx = ImportChunk::complete(rows, ImportCounts::default());
        self.stream(actor, None, rx).map(|(_, ids)| ids)
    }

    /// Records `batch` and inserts the rows streamed through `rows`, all in one `BEGIN
    /// IMMEDIATE` transaction that commits on [`ImportChunk::Done`]. Blocking.
    pub(crate) fn import(
        &self,
        actor: &Actor,
        batch: NewImportBatch,
        rows: tokio::sync::mpsc::Receiver<ImportChunk>,
    ) -> StoreResult<ImportBatch> {
        self.stream(actor, Some(batch), rows)?
            .0
            .ok_or_else(|| StoreError::Database("the import batch was not recorded".into()))
    }

    /// The one write path: the batch (if any), then each chunk as it arrives, its journal entry
    /// encoded on a second thread while the next chunk is written; the journal entries are
    /// appended (batch first) and the transaction commits only on `Done`.
    fn stream(
        &self,
        actor: &Actor,
        batch: Option<NewImportBatch>,
        mut rx: tokio::sync::mpsc::Receiver<ImportChunk>,
    ) -> StoreResult<(Option<ImportBatch>, Vec<i64>)> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(err)?;
            let at = now();
            let stamp = ts(&at);
            let batch_id = match &batch {
                Some(b) => Some(insert_batch(&tx, actor, b, &stamp)?),
                None => None,
            };
            let next: i64 = tx
                .query_row(
                    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'transactions'), 0), \
                            COALESCE((SELECT MAX(id) FROM transactions), 0)) + 1",
                    [],
                    |r| r.get(0),
                )
                .map_err(err)?;
            let mut ids = Vec::new();
            let mut text_index = TextIndex::Triggered;
            let (mut inserting, mut waiting_rows, mut waiting_journal) =
                (Duration::ZERO, Duration::ZERO, Duration::ZERO);
            let mut dates: Option<(chrono::NaiveDate, chrono::NaiveDate)> = None;
            let (counts, chunk_entries) = std::thread::scope(|s| {
                // Three threads besides the rows' reader: the rows made whole (ids, fingerprints),
                // written, and their journal entry encoded, each on the next chunk.
                let (ptx, prx) = std::sync::mpsc::sync_channel::<Vec<Transaction>>(1);
                let preparer = s.spawn(move || -> StoreResult<ImportCounts> {
                    let mut next = next;
                    loop {
                        match rx.blocking_recv() {
                            Some(ImportChunk::Rows(rows)) if rows.is_empty() => {}
                            Some(ImportChunk::Rows(rows)) => {
                                let full = crate::imported_rows(rows, next.., batch_id, at);
                                next += full.len() as i64;
                                if ptx.send(full).is_err() {
                                    // The writer stopped, and says why.
                                    return Err(crate::import_cut_short());
                                }
                            }
                            Some(ImportChunk::Done(c)) => return Ok(c),
                            None => return Err(crate::import_cut_short()),
                        }
                    }
                });
                let (etx, erx) = std::sync::mpsc::sync_channel::<Vec<Transaction>>(1);
                let encoder = s.spawn(move || -> StoreResult<Vec<PendingEntry>> {
                    erx.into_iter()
                        .map(|rows| crate::tx_insert_entry(actor, &rows))
                        .collect()
                });
                let written = loop {
                    let started = Instant::now();
                    let next_chunk = prx.recv();
                    waiting_rows += started.elapsed();
                    let Ok(full) = next_chunk else {
                        break Ok(());
                    };
                    if matches!(text_index, TextIndex::Triggered)
                        && full.len() >= DEFER_TEXT_INDEX_AT
                    {
                        match TextIndex::defer(&tx, full[0].id) {
                            Ok(d) => text_index = d,
                            Err(e) => break Err(e),
                        }
                    }
                    let started = Instant::now();
                    if let Err(e) = insert_rows(&tx, &full, &stamp)
                        .and_then(|()| check_references(&tx, &full))
                    {
                        break Err(e);
                    }
                    inserting += started.elapsed();
                    ids.extend(full.iter().map(|t| t.id));
                    for t in &full {
                        let (lo, hi) = dates.get_or_insert((t.posted_date, t.posted_date));
                        *lo = (*lo).min(t.posted_date);
                        *hi = (*hi).max(t.posted_date);
                    }
                    let started = Instant::now();
                    if etx.send(full).is_err() {
                        break Err(crate::encoder_stopped());
                    }
                    waiting_journal += started.elapsed();
                };
                drop(prx);
                drop(etx);
                let counts = preparer
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::Database("the row preparer panicked".into())));
                let started = Instant::now();
                let entries = encoder
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::Database("journal encoder panicked".into())));
                waiting_journal += started.elapsed();
                // The writer's own error first: the others only saw it stop.
                (written.and(counts), entries)
            });
            let started = Instant::now();
            let (counts, chunk_entries) = (counts?, chunk_entries?);
            text_index.catch_up(&tx, dates)?;
            let indexing = started.elapsed();
            let started = Instant::now();
            let mut entries = Vec::with_capacity(chunk_entries.len() + 1);
            let recorded = match (batch, batch_id) {
                (Some(mut b), Some(id)) => {
                    b.set_counts(counts);
                    tx.execute(
                        "UPDATE import_batches SET rows_read = ?1, rows_new = ?2, rows_duplicate = ?3, \
                         rows_flagged = ?4, rows_skipped = ?5 WHERE id = ?6",
                        params![
                            b.rows_read,
                            b.rows_new,
                            b.rows_duplicate,
                            b.rows_flagged,
                            b.rows_skipped,
                            id
                        ],
                    )
                    .map_err(err)?;
                    let (batch, entry) = crate::recorded_batch(actor, b, id, at)?;
                    entries.push(entry);
                    Some(batch)
                }
                _ => None,
            };
            entries.extend(chunk_entries);
            append(&tx, entries)?;
            let journaling = started.elapsed();
            let started = Instant::now();
            tx.commit().map_err(err)?;
            tracing::debug!(
                rows = ids.len(),
                inserting_ms = inserting.as_millis() as u64,
                waiting_for_rows_ms = waiting_rows.as_millis() as u64,
                waiting_for_journal_ms = waiting_journal.as_millis() as u64,
                text_index_ms = indexing.as_millis() as u64,
                journal_ms = journaling.as_millis() as u64,
                commit_ms = started.elapsed().as_millis() as u64,
                "rows written"
            );
            Ok((recorded, ids))
        })
    }

    /// Sends every dedup key of an account between two dates through `out`, in chunks.
    pub(crate) fn scan_dedup_keys(
        &self,
        account_id: i64,
        from: &str,
        to: &str,
        out: &tokio::sync::mpsc::Sender<Vec<DedupKey>>,
    ) -> StoreResult<()> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, posted_date, COALESCE(bank_amount_minor, amount_minor), fingerprint, external_id, 0 \
                     FROM transactions WHERE account_id = ?1 AND posted_date BETWEEN ?2 AND ?3 AND bank_date IS NULL \
                     UNION ALL \
                     SELECT id, bank_date, COALESCE(bank_amount_minor, amount_minor), fingerprint, external_id, 0 \
                     FROM transactions WHERE account_id = ?1 AND bank_date BETWEEN ?2 AND ?3 \
                     UNION ALL \
                     SELECT transaction_id, posted_date, 0, fingerprint, external_id, 1 \
                     FROM deleted_transactions WHERE account_id = ?1 AND posted_date BETWEEN ?2 AND ?3",
                )
                .map_err(err)?;
            let mut rows = stmt.query(params![account_id, from, to]).map_err(err)?;
            let mut chunk = Vec::with_capacity(DEDUP_CHUNK);
            while let Some(r) = rows.next().map_err(err)? {
                let date: String = r.get(1).map_err(err)?;
                let fp: Vec<u8> = r.get(3).map_err(err)?;
                chunk.push(DedupKey {
                    id: r.get(0).map_err(err)?,
                    posted_date: iso_date(&date).ok_or_else(|| {
                        StoreError::Database(format!("stored date \"{date}\" is not a date"))
                    })?,
                    amount_minor: r.get(2).map_err(err)?,
                    fingerprint: crate::rows::fingerprint_array(&fp)?,
                    external_id: r.get(4).map_err(err)?,
                    deleted: r.get::<_, i64>(5).map_err(err)? != 0,
                });
                if chunk.len() == DEDUP_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(DEDUP_CHUNK));
                    if out.blocking_send(full).is_err() {
                        return Ok(());
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = out.blocking_send(chunk);
            }
            Ok(())
        })
    }
}

const DEDUP_CHUNK: usize = 8192;

/// A stored `YYYY-MM-DD` date, read without chrono's general parser (a million per import).
pub(super) fn iso_date(s: &str) -> Option<chrono::NaiveDate> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        chrono::NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
    } else {
        s.parse().ok()
    }
}

/// What the foreign keys would check, once per chunk: every account, category, batch and
/// transfer the rows refer to exists.
fn check_references(tx: &rusqlite::Transaction<'_>, rows: &[Transaction]) -> StoreResult<()> {
    use std::collections::BTreeSet;
    let sets: [(&str, BTreeSet<i64>); 4] = [
        ("accounts", rows.iter().map(|t| t.account_id).collect()),
        (
            "categories",
            rows.iter().filter_map(|t| t.category_id).collect(),
        ),
        (
            "import_batches",
            rows.iter().filter_map(|t| t.import_batch_id).collect(),
        ),
        (
            "transactions",
            rows.iter().filter_map(|t| t.transfer_id).collect(),
        ),
    ];
    for (table, ids) in sets {
        if ids.is_empty() {
            continue;
        }
        let list: Vec<i64> = ids.iter().copied().collect();
        let json = serde_json::to_string(&list).map_err(|e| StoreError::Database(e.to_string()))?;
        let found: i64 = tx
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM {table} WHERE id IN (SELECT value FROM json_each(?1))"
                ),
                params![json],
                |r| r.get(0),
            )
            .map_err(err)?;
        if found != list.len() as i64 {
            return Err(StoreError::Conflict(
                "a transaction refers to an account, category or batch that does not exist".into(),
            ));
        }
    }
    Ok(())
}

fn insert_batch(
    tx: &rusqlite::Transaction<'_>,
    actor: &Actor,
    b: &NewImportBatch,
    stamp: &str,
) -> StoreResult<i64> {
    tx.query_row(
        "INSERT INTO import_batches (account_id, file_name, file_sha256, format, actor, rows_read, \
         rows_new, rows_duplicate, rows_flagged, rows_skipped, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
        params![
            b.account_id,
            b.file_name,
            b.file_sha256,
            b.format,
            actor.as_str(),
            b.rows_read,
            b.rows_new,
            b.rows_duplicate,
            b.rows_flagged,
            b.rows_skipped,
            stamp,
        ],
        |r| r.get(0),
    )
    .map_err(|e| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            StoreError::Conflict("this very file was already imported into this account".into())
        }
        _ => err(e),
    })
}

/// Rows per `INSERT` statement of a bulk write: a statement's start and end (opening the table's
/// and its indexes' cursors, closing them) cost as much as a row, so they are shared by many
/// (18 parameters a row: 1,152 of SQLite's 32,766).
const ROWS_PER_INSERT: usize = 64;

/// The `INSERT` of `n` rows.
fn insert_sql(n: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO transactions (id, account_id, posted_date, amount_minor, currency, payee, description, memo, \
         category_id, status, source, import_batch_id, external_id, fingerprint, transfer_id, needs_review, \
         created_at, updated_at) VALUES ",
    );
    for k in 0..n {
        if k > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..INSERT_COLUMNS {
            if c > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("?{}", k * INSERT_COLUMNS + c + 1));
        }
        sql.push(')');
    }
    sql
}

const INSERT_COLUMNS: usize = 18;

/// Writes new rows, all stamped `stamp` (they were all created at the same instant), many to a
/// statement.
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Transaction],
    stamp: &str,
) -> StoreResult<()> {
    static MANY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| insert_sql(ROWS_PER_INSERT));
    static ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(1));
    let mut many = tx.prepare_cached(&MANY).map_err(err)?;
    let mut batches = rows.chunks_exact(ROWS_PER_INSERT);
    for batch in batches.by_ref() {
        bind_rows(&mut many, batch, stamp)?;
        many.raw_execute().map_err(err)?;
    }
    let rest = batches.remainder();
    if !rest.is_empty() {
        let mut one = tx.prepare_cached(&ONE).map_err(err)?;
        for row in rest {
            bind_rows(&mut one, std::slice::from_ref(row), stamp)?;
            one.raw_execute().map_err(err)?;
        }
    }
    Ok(())
}

/// Binds `rows` to a statement made by [`insert_sql`] for as many rows.
fn bind_rows(
    stmt: &mut rusqlite::CachedStatement<'_>,
    rows: &[Transaction],
    stamp: &str,
) -> StoreResult<()> {
    let mut date = [0u8; 10];
    for (k, t) in rows.iter().enumerate() {
        let at = k * INSERT_COLUMNS;
        let fp = fingerprint_bytes(&t.fingerprint)?;
        let b = |stmt: &mut rusqlite::CachedStatement<'_>, c: usize, v: &dyn rusqlite::ToSql| {
            stmt.raw_bind_parameter(at + c, v).map_err(err)
        };
        b(stmt, 1, &t.id)?;
        b(stmt, 2, &t.account_id)?;
        b(stmt, 3, &iso(&t.posted_date, &mut date))?;
        b(stmt, 4, &t.amount_minor)?;
        b(stmt, 5, &t.currency.code())?;
        b(stmt, 6, &t.payee)?;
        b(stmt, 7, &t.description)?;
        b(stmt, 8, &t.memo)?;
        b(stmt, 9, &t.category_id)?;
        b(stmt, 10, &t.status.as_str())?;
        b(stmt, 11, &t.source)?;
        b(stmt, 12, &t.import_batch_id)?;
        b(stmt, 13, &t.external_id)?;
        b(stmt, 14, &fp)?;
        b(stmt, 15, &t.transfer_id)?;
        b(stmt, 16, &t.needs_review)?;
        b(stmt, 17, &stamp)?;
        b(stmt, 18, &stamp)?;
    }
    Ok(())
}

/// `YYYY-MM-DD` without the formatter (a million per import); years outside 0..=9999 as
/// chrono writes them.
fn iso<'a>(d: &chrono::NaiveDate, buf: &'a mut [u8; 10]) -> std::borrow::Cow<'a, str> {
    use chrono::Datelike;
    let (y, m, day) = (d.year(), d.month(), d.day());
    if !(0..=9999).contains(&y) {
        return std::borrow::Cow::Owned(d.to_string());
    }
    let y = y as u32;
    let digits = [
        y / 1000,
        y / 100 % 10,
        y / 10 % 10,
        y % 10,
        m / 10,
        m % 10,
        day / 10,
        day % 10,
    ];
    let at = [0, 1, 2, 3, 5, 6, 8, 9];
    buf[4] = b'-';
    buf[7] = b'-';
    for (i, v) in at.iter().zip(digits) {
        buf[*i] = b'0' + v as u8;
    }
    std::borrow::Cow::Borrowed(std::str::from_utf8(buf).unwrap_or_default())
}

fn append(tx: &rusqlite::Transaction<'_>, entries: Vec<PendingEntry>) -> StoreResult<()> {
    let (seq, head, digest): (i64, Vec<u8>, Option<Vec<u8>>) = tx
        .query_row(READ_HEAD, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(err)?;
    let mut chain = Chain::after(seq, &head, digest.as_deref())?;
    let mut insert = tx.prepare_cached(INSERT_ENTRY).map_err(err)?;
    for entry in entries {
        let e = chain.seal(entry);
        insert
            .execute(params![
                e.seq,
                ts(&e.at),
                e.actor,
                e.entity.as_str(),
                e.entity_id,
                e.op.as_str(),
                e.before,
                e.after,
                e.payload,
                &e.prev_hash[..],
                &e.hash[..],
                e.rows_digest.map(|d| d.to_bytes().to_vec()),
            ])
            .map_err(err)?;
    }
    let (seq, hash, digest) = chain.head();
    tx.execute(MOVE_HEAD, params![seq, hash, digest])
        .map_err(err)?;
    Ok(())
}

/// A timestamp as sqlx writes it (`2026-11-27T02:00:00.123456+00:00`), read back.
pub(super) fn stamp(s: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| StoreError::Database(format!("stored time \"{s}\" is not a time")))
}

pub(super) fn date(s: &str) -> StoreResult<chrono::NaiveDate> {
    iso_date(s).ok_or_else(|| StoreError::Database(format!("stored date \"{s}\" is not a date")))
}
