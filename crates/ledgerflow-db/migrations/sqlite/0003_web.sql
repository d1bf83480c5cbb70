-- Schema version 3: the web app.
--
-- Credentials: sign-in sessions and personal API tokens. Only the SHA-256 of each secret is
-- kept, so a copy of the database (a backup) does not let anyone sign in. They are access, not
-- ledger data, and are not journaled.
CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL CHECK (kind = 'session' OR kind = 'token'),
    user_id       INTEGER NOT NULL REFERENCES users (id),
    name          TEXT    NOT NULL DEFAULT '',
    secret_sha256 BLOB    NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at    TEXT    NOT NULL,
    expires_at    TEXT,
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX credentials_user_kind ON credentials (user_id, kind);

-- Text search over payee, description and memo: an FTS5 index of the words (whatever their
-- case or accents), kept by triggers. It is contentless (the text lives in transactions) and
-- its rowid is the list's order: (julian day << 32) | id, so a search newest first reads the
-- index backwards and stops after a page, however common the word. `detail = none` keeps which
-- rows hold a word, not where: searches are words, not phrases, and the index is smaller and
-- quicker to build. Deleting from a contentless index takes the values it was given: the
-- triggers recompute them from the old row.
CREATE VIRTUAL TABLE transactions_fts USING fts5(
    body,
    content = '',
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
FROM transactions;
