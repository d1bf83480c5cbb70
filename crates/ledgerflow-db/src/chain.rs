//! The journal append, once for every write path (sqlx on both engines, rusqlite for SQLite's
//! bulk writes): [`Chain`] seals entries after the head that was read, and the two statements
//! that store an entry and move the head. Each caller only runs them on its own connection.

use ledgerflow_core::journal::{JournalEntry, PendingEntry, RowsDigest};
use ledgerflow_core::store::StoreResult;

/// Reads the head for an append (SQLite; PostgreSQL adds `FOR UPDATE`, see each engine's
/// `HEAD_FOR_WRITE`).
pub(crate) const READ_HEAD: &str = "SELECT seq, hash, rows_digest FROM journal_head WHERE id = 1";

/// Stores one sealed entry ([`Chain::seal`]); parameters in [`JournalEntry`]'s field order.
pub(crate) const INSERT_ENTRY: &str = "INSERT INTO journal (seq, at, actor, entity, entity_id, op, before, after, payload, prev_hash, hash, rows_digest) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Moves the head to [`Chain::head`].
pub(crate) const MOVE_HEAD: &str =
    "UPDATE journal_head SET seq = $1, hash = $2, rows_digest = $3 WHERE id = 1";

/// The chain from the head as read: each sealed entry follows the previous one.
pub(crate) struct Chain {
    seq: i64,
    prev: [u8; 32],
    digest: Option<RowsDigest>,
}

impl Chain {
    /// From the head row as stored (`seq`, `hash`, `rows_digest`); a malformed row is corrupt.
    pub(crate) fn after(seq: i64, hash: &[u8], digest: Option<&[u8]>) -> StoreResult<Chain> {
        Ok(Chain {
            seq,
            prev: crate::head(seq, hash)?.head_hash,
            digest: crate::digest_of(digest)?,
        })
    }

    /// The next entry, sealed after the previous one.
    pub(crate) fn seal(&mut self, entry: PendingEntry) -> JournalEntry {
        self.seq += 1;
        let e = entry.seal(self.seq, self.prev, self.digest);
        self.prev = e.hash;
        self.digest = e.rows_digest;
        e
    }

    /// The head after the entries sealed so far: the parameters of [`MOVE_HEAD`].
    pub(crate) fn head(&self) -> (i64, Vec<u8>, Option<Vec<u8>>) {
        (
            self.seq,
            self.prev.to_vec(),
            self.digest.map(|d| d.to_bytes().to_vec()),
        )
    }
}
