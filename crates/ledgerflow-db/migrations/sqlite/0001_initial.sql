-- LedgerFlow schema version 1 (SQLite). Never edit an applied migration: add a new one.
-- Money is INTEGER minor units; dates are TEXT 'YYYY-MM-DD'; timestamps are RFC 3339 TEXT.
-- CHECKs list allowed values with OR, not IN: SQLite builds a temporary index for every
-- evaluation of an IN list, which made each insert several times slower.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    name                  TEXT    NOT NULL UNIQUE,
    institution           TEXT,
    kind                  TEXT    NOT NULL CHECK (kind = 'checking' OR kind = 'savings' OR kind = 'credit_card' OR kind = 'cash' OR kind = 'loan' OR kind = 'other'),
    currency              TEXT    NOT NULL CHECK (length(currency) = 3),
    opening_balance_minor INTEGER NOT NULL DEFAULT 0,
    archived              INTEGER NOT NULL DEFAULT 0 CHECK (archived = 0 OR archived = 1),
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL
);

-- Names are unique whatever their case: "Checking" and "checking" are one account.
CREATE UNIQUE INDEX accounts_name_lower ON accounts (lower(name));

CREATE TABLE categories (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    parent_id  INTEGER REFERENCES categories (id),
    kind       TEXT    NOT NULL CHECK (kind = 'income' OR kind = 'expense' OR kind = 'transfer'),
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE UNIQUE INDEX categories_sibling_name ON categories (COALESCE(parent_id, 0), lower(name));

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role = 'viewer' OR role = 'editor' OR role = 'admin'),
    password_hash TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled = 0 OR disabled = 1),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE UNIQUE INDEX users_name_lower ON users (lower(name));

CREATE TABLE import_batches (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    file_name      TEXT    NOT NULL,
    file_sha256    TEXT    NOT NULL,
    format         TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    rows_read      INTEGER NOT NULL DEFAULT 0,
    rows_new       INTEGER NOT NULL DEFAULT 0,
    rows_duplicate INTEGER NOT NULL DEFAULT 0,
    rows_flagged   INTEGER NOT NULL DEFAULT 0,
    rows_skipped   INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL
);
-- One file (by its SHA-256) is imported into an account once; undo removes the batch.
CREATE UNIQUE INDEX import_batches_account_file ON import_batches (account_id, file_sha256);

CREATE TABLE transactions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    posted_date     TEXT    NOT NULL CHECK (posted_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    amount_minor    INTEGER NOT NULL,
    currency        TEXT    NOT NULL CHECK (length(currency) = 3),
    payee           TEXT    NOT NULL DEFAULT '',
    description     TEXT    NOT NULL DEFAULT '',
    memo            TEXT    NOT NULL DEFAULT '',
    category_id     INTEGER REFERENCES categories (id),
    status          TEXT    NOT NULL CHECK (status = 'pending' OR status = 'cleared' OR status = 'reconciled'),
    source          TEXT    NOT NULL,
    import_batch_id INTEGER REFERENCES import_batches (id),
    external_id     TEXT,
    fingerprint     BLOB    NOT NULL CHECK (length(fingerprint) = 16),
    transfer_id     INTEGER REFERENCES transactions (id),
    needs_review    INTEGER NOT NULL DEFAULT 0 CHECK (needs_review = 0 OR needs_review = 1),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX transactions_date ON transactions (posted_date, id);
CREATE INDEX transactions_account_date ON transactions (account_id, posted_date, id);
CREATE INDEX transactions_category_date ON transactions (category_id, posted_date, id) WHERE category_id IS NOT NULL;
CREATE INDEX transactions_batch ON transactions (import_batch_id) WHERE import_batch_id IS NOT NULL;
CREATE INDEX transactions_transfer ON transactions (transfer_id) WHERE transfer_id IS NOT NULL;

-- What the user deleted, so a re-import does not bring it back (derived from the journal's
-- delete entries; not itself journaled).
CREATE TABLE deleted_transactions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL,
    posted_date    TEXT    NOT NULL,
    fingerprint    BLOB    NOT NULL,
    external_id    TEXT,
    transaction_id INTEGER NOT NULL,
    deleted_at     TEXT        NOT NULL
);
CREATE INDEX deleted_transactions_account_date ON deleted_transactions (account_id, posted_date);

-- The change journal. Entries are appended in the same transaction as the change they record.
CREATE TABLE journal (
    seq       INTEGER PRIMARY KEY,
    at        TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    entity    TEXT    NOT NULL,
    entity_id INTEGER,
    op        TEXT    NOT NULL,
    before    TEXT,
    after     TEXT,
    payload   BLOB,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL
);
CREATE INDEX journal_entity ON journal (entity, entity_id);

-- The journal's head, kept beside it so a truncated tail is noticed.
CREATE TABLE journal_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB    NOT NULL
);
INSERT INTO journal_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
