//! SQLite's text search: the FTS5 query for a search text, and how a large insert indexes its
//! rows in one statement ([`TextIndex`]).

use ledgerflow_core::model::search_terms;
use ledgerflow_core::store::StoreResult;

use rusqlite::params;

use super::bulk::err;

/// The FTS5 query for a search text: every word, as a prefix when typed `word*`. `None` when
/// it has no words.
pub(super) fn fts_query(text: &str) -> Option<String> {
    let terms = search_terms(text);
    (!terms.is_empty()).then(|| {
        terms
            .iter()
            .map(|t| format!("\"{}\"{}", t.word, if t.prefix { "*" } else { "" }))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Chunks of at least this many rows are indexed for text search in one statement at the end.
pub(super) const DEFER_TEXT_INDEX_AT: usize = 256;

/// How new rows reach the FTS5 text index. Its insert trigger indexes one row per statement,
/// and FTS5 flushes its pending terms at every statement's savepoint: a segment per row, then
/// merges (a million rows took five times as long). A large insert drops the trigger inside its
/// transaction, indexes the new rows with one `INSERT … SELECT`, and puts the same trigger
/// back before it commits; other connections never see the store without it. The rows go in
/// by key: FTS5 flushes a segment whenever a key is not larger than the one before, and a file
/// listed newest first (most banks' order) would otherwise make a segment of nearly every row.
pub(super) enum TextIndex {
    Triggered,
    Deferred { first_id: i64, trigger_sql: String },
}

impl TextIndex {
    pub(super) fn defer(tx: &rusqlite::Transaction<'_>, first_id: i64) -> StoreResult<TextIndex> {
        let trigger_sql: String = tx
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'transactions_fts_insert'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        tx.execute_batch("DROP TRIGGER transactions_fts_insert")
            .map_err(err)?;
        Ok(TextIndex::Deferred {
            first_id,
            trigger_sql,
        })
    }

    /// Indexes the rows from the first deferred one on, whose dates are all within `dates`
    /// (the first and last day of every row written), and puts the trigger back.
    pub(super) fn catch_up(
        self,
        tx: &rusqlite::Transaction<'_>,
        dates: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    ) -> StoreResult<()> {
        if let TextIndex::Deferred {
            first_id,
            trigger_sql,
        } = self
        {
            let (from, to) = dates.unwrap_or_default();
            // Read through the (posted_date, id) index, whose order is the key's: no sort (a
            // million rows sorted in memory cost 150 MB), and only the dates written are read.
            tx.execute(
                "INSERT INTO transactions_fts (rowid, body) \
                 SELECT (COALESCE(CAST(julianday(posted_date) AS INTEGER), 0) << 32) | id, \
                        payee || ' ' || description || ' ' || memo \
                 FROM transactions INDEXED BY transactions_date \
                 WHERE posted_date BETWEEN ?2 AND ?3 AND id >= ?1 ORDER BY posted_date, id",
                params![first_id, from.to_string(), to.to_string()],
            )
            .map_err(err)?;
            tx.execute_batch(&trigger_sql).map_err(err)?;
        }
        Ok(())
    }
}
