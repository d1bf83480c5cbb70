-- Schema version 3: the web app.
--
-- Credentials: sign-in sessions and personal API tokens. Only the SHA-256 of each secret is
-- kept, so a copy of the database (a backup) does not let anyone sign in. They are access, not
-- ledger data, and are not journaled.
CREATE TABLE credentials (
    id            BIGSERIAL   PRIMARY KEY,
    kind          TEXT        NOT NULL CHECK (kind IN ('session', 'token')),
    user_id       BIGINT      NOT NULL REFERENCES users (id),
    name          TEXT        NOT NULL DEFAULT '',
    secret_sha256 BYTEA       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX credentials_user_kind ON credentials (user_id, kind);

-- Text search over payee, description and memo: a GIN index over the words, matched by prefix.
-- Words are runs of anything but ASCII punctuation and spaces; common Latin accents are folded
-- (café = cafe), as SQLite's FTS5 index does. The same function folds the query's words, and
-- queries call it exactly as the index does, so the index is used.
CREATE FUNCTION ledgerflow_fold(t TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT translate(lower(t),
        'àáâãäåāăąèéêëēĕėęěìíîïĩīĭįòóôõöøōŏőùúûüũūŭůűųýÿçćĉċčñńņňśŝşšźżžďđğĝġģĥħĵķĺļľłŕŗřţťŧŵŷÀÁÂÃÄÅĀĂĄÈÉÊËĒĔĖĘĚÌÍÎÏĨĪĬĮÒÓÔÕÖØŌŎŐÙÚÛÜŨŪŬŮŰŲÝŸÇĆĈĊČÑŃŅŇŚŜŞŠŹŻŽĎĐĞĜĠĢĤĦĴĶĹĻĽŁŔŖŘŢŤŦŴŶ',
        'aaaaaaaaaeeeeeeeeeiiiiiiiiooooooooouuuuuuuuuuyycccccnnnnsssszzzddgggghhjkllllrrrtttwyaaaaaaaaaeeeeeeeeeiiiiiiiiooooooooouuuuuuuuuuyycccccnnnnsssszzzddgggghhjkllllrrrtttwy') $$;
-- The index function names no other function of ours: pg_restore runs it with an empty
-- search_path, so it folds the accents itself (the same letters as ledgerflow_fold).
CREATE FUNCTION ledgerflow_search_words(payee TEXT, description TEXT, memo TEXT) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_tsvector('simple'::regconfig, regexp_replace(
        translate(lower(payee || ' ' || description || ' ' || memo),
            'àáâãäåāăąèéêëēĕėęěìíîïĩīĭįòóôõöøōŏőùúûüũūŭůűųýÿçćĉċčñńņňśŝşšźżžďđğĝġģĥħĵķĺļľłŕŗřţťŧŵŷÀÁÂÃÄÅĀĂĄÈÉÊËĒĔĖĘĚÌÍÎÏĨĪĬĮÒÓÔÕÖØŌŎŐÙÚÛÜŨŪŬŮŰŲÝŸÇĆĈĊČÑŃŅŇŚŜŞŠŹŻŽĎĐĞĜĠĢĤĦĴĶĹĻĽŁŔŖŘŢŤŦŴŶ',
            'aaaaaaaaaeeeeeeeeeiiiiiiiiooooooooouuuuuuuuuuyycccccnnnnsssszzzddgggghhjkllllrrrtttwyaaaaaaaaaeeeeeeeeeiiiiiiiiooooooooouuuuuuuuuuyycccccnnnnsssszzzddgggghhjkllllrrrtttwy'),
        '[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+', ' ', 'g')) $$;
CREATE INDEX transactions_search ON transactions
    USING gin (ledgerflow_search_words(payee, description, memo));
