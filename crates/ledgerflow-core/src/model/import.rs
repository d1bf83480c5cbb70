//! Imports: a batch (one file into one account), and what duplicate detection and a
//! streamed import exchange with the store.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::*;

/// One import of one file into one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportBatch {
    pub id: i64,
    pub account_id: i64,
    pub file_name: String,
    pub file_sha256: String,
    pub format: String,
    pub actor: String,
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_duplicate: i64,
    pub rows_flagged: i64,
    pub rows_skipped: i64,
    pub created_at: DateTime<Utc>,
}

/// An import about to be recorded.
#[derive(Debug, Clone)]
pub struct NewImportBatch {
    pub account_id: i64,
    pub file_name: String,
    pub file_sha256: String,
    pub format: String,
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_duplicate: i64,
    pub rows_flagged: i64,
    pub rows_skipped: i64,
}

impl NewImportBatch {
    pub fn counts(&self) -> ImportCounts {
        ImportCounts {
            rows_read: self.rows_read,
            rows_new: self.rows_new,
            rows_duplicate: self.rows_duplicate,
            rows_flagged: self.rows_flagged,
            rows_skipped: self.rows_skipped,
        }
    }

    pub fn set_counts(&mut self, c: ImportCounts) {
        self.rows_read = c.rows_read;
        self.rows_new = c.rows_new;
        self.rows_duplicate = c.rows_duplicate;
        self.rows_flagged = c.rows_flagged;
        self.rows_skipped = c.rows_skipped;
    }

    pub fn into_batch(self, id: i64, actor: &Actor, at: DateTime<Utc>) -> ImportBatch {
        ImportBatch {
            id,
            account_id: self.account_id,
            file_name: self.file_name,
            file_sha256: self.file_sha256,
            format: self.format,
            actor: actor.as_str().to_string(),
            rows_read: self.rows_read,
            rows_new: self.rows_new,
            rows_duplicate: self.rows_duplicate,
            rows_flagged: self.rows_flagged,
            rows_skipped: self.rows_skipped,
            created_at: at,
        }
    }
}

/// What duplicate detection needs to know of a stored (or deleted) transaction: compact, so a
/// million of them fit in a few dozen megabytes. The text for near matches is fetched only for
/// the few rows that need it ([`crate::Store::payee_texts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey {
    /// The transaction's id (for a tombstone, the id it had).
    pub id: i64,
    pub posted_date: NaiveDate,
    pub amount_minor: i64,
    pub fingerprint: [u8; 16],
    pub external_id: Option<String>,
    /// A tombstone: the user deleted this transaction.
    pub deleted: bool,
}

/// Held while an import decides its duplicates and writes ([`crate::Store::lock_imports`]);
/// dropping it lets the next import into the account in.
pub struct ImportLock(#[allow(dead_code)] Box<dyn std::any::Any + Send + Sync>);

impl ImportLock {
    /// A lock that lasts as long as `guard` (a locked file, a connection holding a lock).
    pub fn new(guard: impl std::any::Any + Send + Sync) -> Self {
        ImportLock(Box::new(guard))
    }
}

impl std::fmt::Debug for ImportLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImportLock")
    }
}

/// The final counts of a streamed import, sent when every row has been sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_duplicate: i64,
    pub rows_flagged: i64,
    pub rows_skipped: i64,
}

/// One message of a streamed import ([`crate::Store::import_rows`]).
#[derive(Debug)]
pub enum ImportChunk {
    /// Rows to insert (the batch id is set by the store).
    Rows(Vec<NewTransaction>),
    /// Every row was sent: record these counts and commit. A stream that ends without `Done`
    /// is rolled back.
    Done(ImportCounts),
}

impl ImportChunk {
    /// A finished stream of `rows`, for callers that have every row at hand.
    pub fn complete(
        rows: Vec<NewTransaction>,
        counts: ImportCounts,
    ) -> tokio::sync::mpsc::Receiver<ImportChunk> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        // Both messages fit the channel's buffer, so nothing waits for a receiver.
        for m in [ImportChunk::Rows(rows), ImportChunk::Done(counts)] {
            if tx.try_send(m).is_err() {
                // Unreachable with a buffer of two; the stream then ends without `Done` and the
                // store refuses it rather than writing half.
                break;
            }
        }
        rx
    }
}
