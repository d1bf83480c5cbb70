-- LedgerFlow schema version 1 (PostgreSQL). Never edit an applied migration: add a new one.
-- Money is BIGINT minor units; dates are DATE; timestamps are TIMESTAMPTZ.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                    BIGSERIAL PRIMARY KEY,
    name                  TEXT        NOT NULL UNIQUE,
    institution           TEXT,
    kind                  TEXT        NOT NULL CHECK (kind IN ('checking','savings','credit_card','cash','loan','other')),
    currency              CHAR(3)     NOT NULL,
    opening_balance_minor BIGINT      NOT NULL DEFAULT 0,
    archived              BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

-- Names are unique whatever their case: "Checking" and "checking" are one account.
CREATE UNIQUE INDEX accounts_name_lower ON accounts (lower(name));

CREATE TABLE categories (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT        NOT NULL,
    parent_id  BIGINT REFERENCES categories (id),
    kind       TEXT        NOT NULL CHECK (kind IN ('income','expense','transfer')),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX categories_sibling_name ON categories (COALESCE(parent_id, 0), lower(name));

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT        NOT NULL UNIQUE,
    role          TEXT        NOT NULL CHECK (role IN ('viewer','editor','admin')),
    password_hash TEXT,
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX users_name_lower ON users (lower(name));

CREATE TABLE import_batches (
    id             BIGSERIAL PRIMARY KEY,
    account_id     BIGINT      NOT NULL REFERENCES accounts (id),
    file_name      TEXT        NOT NULL,
    file_sha256    TEXT        NOT NULL,
    format         TEXT        NOT NULL,
    actor          TEXT        NOT NULL,
    rows_read      BIGINT      NOT NULL DEFAULT 0,
    rows_new       BIGINT      NOT NULL DEFAULT 0,
    rows_duplicate BIGINT      NOT NULL DEFAULT 0,
    rows_flagged   BIGINT      NOT NULL DEFAULT 0,
    rows_skipped   BIGINT      NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL
);
-- One file (by its SHA-256) is imported into an account once; undo removes the batch.
CREATE UNIQUE INDEX import_batches_account_file ON import_batches (account_id, file_sha256);

CREATE TABLE transactions (
    id              BIGSERIAL PRIMARY KEY,
    account_id      BIGINT      NOT NULL REFERENCES accounts (id),
    posted_date     DATE        NOT NULL,
    amount_minor    BIGINT      NOT NULL,
    currency        CHAR(3)     NOT NULL,
    payee           TEXT        NOT NULL DEFAULT '',
    description     TEXT        NOT NULL DEFAULT '',
    memo            TEXT        NOT NULL DEFAULT '',
    category_id     BIGINT REFERENCES categories (id),
    status          TEXT        NOT NULL CHECK (status IN ('pending','cleared','reconciled')),
    source          TEXT        NOT NULL,
    import_batch_id BIGINT REFERENCES import_batches (id),
    external_id     TEXT,
    fingerprint     BYTEA       NOT NULL CHECK (octet_length(fingerprint) = 16),
    transfer_id     BIGINT REFERENCES transactions (id),
    needs_review    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX transactions_date ON transactions (posted_date, id);
CREATE INDEX transactions_account_date ON transactions (account_id, posted_date, id);
CREATE INDEX transactions_category_date ON transactions (category_id, posted_date, id) WHERE category_id IS NOT NULL;
CREATE INDEX transactions_batch ON transactions (import_batch_id) WHERE import_batch_id IS NOT NULL;
CREATE INDEX transactions_transfer ON transactions (transfer_id) WHERE transfer_id IS NOT NULL;

-- What the user deleted, so a re-import does not bring it back (derived from the journal's
-- delete entries; not itself journaled).
CREATE TABLE deleted_transactions (
    id             BIGSERIAL PRIMARY KEY,
    account_id     BIGINT  NOT NULL,
    posted_date    DATE    NOT NULL,
    fingerprint    BYTEA   NOT NULL,
    external_id    TEXT,
    transaction_id BIGINT  NOT NULL,
    deleted_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX deleted_transactions_account_date ON deleted_transactions (account_id, posted_date);

-- The change journal. Entries are appended in the same transaction as the change they record.
CREATE TABLE journal (
    seq       BIGINT PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT        NOT NULL,
    entity    TEXT        NOT NULL,
    entity_id BIGINT,
    op        TEXT        NOT NULL,
    before    TEXT,
    after     TEXT,
    payload   BYTEA,
    prev_hash BYTEA       NOT NULL,
    hash      BYTEA       NOT NULL
);
CREATE INDEX journal_entity ON journal (entity, entity_id);

-- The journal's head, kept beside it so a truncated tail is noticed; its row lock serialises writers.
CREATE TABLE journal_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA  NOT NULL
);
INSERT INTO journal_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));
