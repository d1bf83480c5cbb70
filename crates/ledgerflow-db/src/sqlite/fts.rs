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
/// back before it commits; other connections never see the store without it.
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

    pub(super) fn catch_up(self, tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
        if let TextIndex::Deferred {
            first_id,
            trigger_sql,
        } = self
        {
            tx.execute(
                "INSERT INTO transactions_fts (rowid, body) \
                 SELECT (COALESCE(CAST(julianday(posted_date) AS INTEGER), 0) << 32) | id, \
                        payee || ' ' || description || ' ' || memo \
                 FROM transactions WHERE id >= ?1",
                params![first_id],
            )
            .map_err(err)?;
            tx.execute_batch(&trigger_sql).map_err(err)?;
        }
        Ok(())
    }
}
