-- Schema version 5 (SQLite): the text index keeps no size per row.
--
-- FTS5 keeps, by default, each row's word count in a table of its own (`_docsize`), for
-- ranking by relevance. LedgerFlow never ranks (a search lists in the list's order), and
-- writing that table was a third of the index's cost in a large import. The index is made
-- again with `columnsize = 0`, the same words, the same row keys and the same triggers.
--
-- It is filled in key order: FTS5 writes a segment each time a key is not larger than the
-- last one, so rows given newest first (as most banks export) cost five times as much.
DROP TRIGGER transactions_fts_insert;
DROP TRIGGER transactions_fts_delete;
DROP TRIGGER transactions_fts_update;
DROP TABLE transactions_fts;
CREATE VIRTUAL TABLE transactions_fts USING fts5(
    body,
    content = '',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2',
    detail = none
);
CREATE TRIGGER transactions_fts_insert AFTER INSERT ON transactions BEGIN
    INSERT INTO transactions_fts (rowid, body)
    VALUES ((COALESCE(CAST(julianday(new.posted_date) AS INTEGER), 0) << 32) | new.id,
            new.payee || ' ' || new.description || ' ' || new.memo);
END;
CREATE TRIGGER transactions_fts_delete AFTER DELETE ON transactions BEGIN
    INSERT INTO transactions_fts (transactions_fts, rowid, body)
    VALUES ('delete', (COALESCE(CAST(julianday(old.posted_date) AS INTEGER), 0) << 32) | old.id,
            old.payee || ' ' || old.description || ' ' || old.memo);
END;
CREATE TRIGGER transactions_fts_update AFTER UPDATE OF payee, description, memo, posted_date ON transactions BEGIN
    INSERT INTO transactions_fts (transactions_fts, rowid, body)
    VALUES ('delete', (COALESCE(CAST(julianday(old.posted_date) AS INTEGER), 0) << 32) | old.id,
            old.payee || ' ' || old.description || ' ' || old.memo);
    INSERT INTO transactions_fts (rowid, body)
    VALUES ((COALESCE(CAST(julianday(new.posted_date) AS INTEGER), 0) << 32) | new.id,
            new.payee || ' ' || new.description || ' ' || new.memo);
END;
INSERT INTO transactions_fts (rowid, body)
SELECT (COALESCE(CAST(julianday(posted_date) AS INTEGER), 0) << 32) | id,
       payee || ' ' || description || ' ' || memo
FROM transactions
ORDER BY 1;
