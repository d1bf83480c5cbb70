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
use std::time::Duration;

use chrono::SecondsFormat;
use ledgerflow_core::journal::PendingEntry;
use ledgerflow_core::model::{
    Actor, ImportBatch, NewImportBatch, NewTransaction, Transaction, now,
};
use ledgerflow_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use crate::rows::fingerprint_bytes;

pub(crate) struct BulkWriter {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

fn err(e: rusqlite::Error) -> StoreError {
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
fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
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
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
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

    /// Inserts `rows` and their journal entry in one `BEGIN IMMEDIATE` transaction; with a
    /// batch, first records the batch and tags every row with it. Blocking.
    pub(crate) fn insert(
        &self,
        actor: &Actor,
        batch: Option<NewImportBatch>,
        mut rows: Vec<NewTransaction>,
    ) -> StoreResult<(Option<ImportBatch>, Vec<i64>)> {
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
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let at = now();
        let mut entries = Vec::new();
        let batch = match batch {
            Some(b) => {
                let id: i64 = tx
                    .query_row(
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
                            ts(&at),
                        ],
                        |r| r.get(0),
                    )
                    .map_err(|e| match &e {
                        rusqlite::Error::SqliteFailure(f, _)
                            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                        {
                            StoreError::Conflict(
                                "this very file was already imported into this account".into(),
                            )
                        }
                        _ => err(e),
                    })?;
                let (batch, entry) = crate::recorded_batch(actor, b, id, at, &mut rows)?;
                entries.push(entry);
                Some(batch)
            }
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
        let full: Vec<Transaction> = rows
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.into_row(next + i as i64, at))
            .collect();
        let (entry, inserted) = std::thread::scope(|s| {
            let encoder = s.spawn(|| {
                if full.is_empty() {
                    return Ok(None);
                }
                crate::tx_insert_entry(actor, &full).map(Some)
            });
            let inserted = insert_rows(&tx, &full, &ts(&at));
            let entry = encoder
                .join()
                .unwrap_or_else(|_| Err(StoreError::Database("journal encoder panicked".into())));
            (entry, inserted)
        });
        inserted?;
        entries.extend(entry?);
        append(&tx, entries)?;
        tx.commit().map_err(err)?;
        Ok((batch, full.iter().map(|t| t.id).collect()))
    }
}

/// Writes new rows, all stamped `stamp` (they were all created at the same instant).
fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Transaction],
    stamp: &str,
) -> StoreResult<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO transactions (id, account_id, posted_date, amount_minor, currency, payee, description, memo, \
             category_id, status, source, import_batch_id, external_id, fingerprint, transfer_id, needs_review, \
             created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )
        .map_err(err)?;
    for t in rows {
        let fp = fingerprint_bytes(&t.fingerprint)?;
        stmt.execute(params![
            t.id,
            t.account_id,
            t.posted_date.to_string(),
            t.amount_minor,
            t.currency.code(),
            t.payee,
            t.description,
            t.memo,
            t.category_id,
            t.status.as_str(),
            t.source,
            t.import_batch_id,
            t.external_id,
            fp,
            t.transfer_id,
            t.needs_review,
            stamp,
            stamp,
        ])
        .map_err(err)?;
    }
    Ok(())
}

fn append(tx: &rusqlite::Transaction<'_>, entries: Vec<PendingEntry>) -> StoreResult<()> {
    let (mut seq, head): (i64, Vec<u8>) = tx
        .query_row("SELECT seq, hash FROM journal_head WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(err)?;
    let mut prev: [u8; 32] = head
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::Database("journal head hash is not 32 bytes".into()))?;
    for entry in entries {
        seq += 1;
        let e = entry.seal(seq, prev);
        tx.execute(
        "INSERT INTO journal (seq, at, actor, entity, entity_id, op, before, after, payload, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
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
        ],
    )
    .map_err(err)?;
        prev = e.hash;
    }
    tx.execute(
        "UPDATE journal_head SET seq = ?1, hash = ?2 WHERE id = 1",
        params![seq, &prev[..]],
    )
    .map_err(err)?;
    Ok(())
}
