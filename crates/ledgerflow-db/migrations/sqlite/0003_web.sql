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

-- Text search over payee, description and memo: an FTS5 index kept by triggers (external
-- content: the text is stored once, in transactions). Words are matched by prefix, whatever
-- their case or accents.
CREATE VIRTUAL TABLE transactions_fts USING fts5(
    payee, description, memo,
    content = 'transactions', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER transactions_fts_insert AFTER INSERT ON transactions BEGIN
    INSERT INTO transactions_fts (rowid, payee, description, memo)
    VALUES (new.id, new.payee, new.description, new.memo);
END;
CREATE TRIGGER transactions_fts_delete AFTER DELETE ON transactions BEGIN
    INSERT INTO transactions_fts (transactions_fts, rowid, payee, description, memo)
    VALUES ('delete', old.id, old.payee, old.description, old.memo);
END;
CREATE TRIGGER transactions_fts_update AFTER UPDATE OF payee, description, memo ON transactions BEGIN
    INSERT INTO transactions_fts (transactions_fts, rowid, payee, description, memo)
    VALUES ('delete', old.id, old.payee, old.description, old.memo);
    INSERT INTO transactions_fts (rowid, payee, description, memo)
    VALUES (new.id, new.payee, new.description, new.memo);
END;
INSERT INTO transactions_fts (transactions_fts) VALUES ('rebuild');
