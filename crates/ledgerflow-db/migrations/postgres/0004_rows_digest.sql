-- Schema version 4 (PostgreSQL): data-loss and correctness fixes.
--
-- * The date and amount the bank sent, kept when the user edits an imported row, so the next
--   overlapping import still recognises it (duplicate detection matches on what the bank sent).
-- * The rows digest: every journal entry records the digest of all rows after it, and the head
--   keeps the current one, so a snapshot is checked against its journal by reading each row once
--   (see ledgerflow_core::journal::RowsDigest). An empty journal starts at zero; a store with
--   history gets its digest from its journal when it is first opened after this migration.
ALTER TABLE transactions ADD COLUMN bank_date DATE, ADD COLUMN bank_amount_minor BIGINT;
CREATE INDEX transactions_bank_date ON transactions (account_id, bank_date) WHERE bank_date IS NOT NULL;

ALTER TABLE journal ADD COLUMN rows_digest BYTEA CHECK (rows_digest IS NULL OR length(rows_digest) = 16);
ALTER TABLE journal_head ADD COLUMN rows_digest BYTEA CHECK (rows_digest IS NULL OR length(rows_digest) = 16);
UPDATE journal_head SET rows_digest = decode(repeat('00', 16), 'hex') WHERE seq = 0;
