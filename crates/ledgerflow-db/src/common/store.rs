//! [`Store`] for this engine, compiled once per engine (this file is a module of
//! `sqlite/mod.rs` and of `postgres/mod.rs`, under their `Db`, `Conn` and `This`). The SQL is the
//! same on both: `$N` placeholders, `TRUE`/`FALSE`, standard SQL. Where an engine really
//! differs, the method calls its own `native_*` method, written in the engine's module: the
//! text search, bulk writes and scans (rusqlite on SQLite, `UNNEST` and `COPY`-like batches on
//! PostgreSQL), the schema check, the sums and the rows digest.

use async_trait::async_trait;
use ledgerflow_core::journal::{
    Entity, HeadState, JournalEntry, JournalHead, Op, PendingEntry, RowsDigest,
};
use ledgerflow_core::model::*;
use ledgerflow_core::store::{JournalFilter, Store, StoreError, StoreResult};
use chrono::SubsecRound as _;
use sqlx::QueryBuilder;
use tracing::instrument;

use super::write::*;
use super::{Db, MIGRATOR, This};
use crate::rows::*;

#[async_trait]
impl Store for This {
    fn engine(&self) -> Engine {
        super::ENGINE
    }

    fn location(&self) -> String {
        self.location_text()
    }

    fn known_schema_version(&self) -> i64 {
        crate::latest_version(&MIGRATOR)
    }

    async fn schema_version(&self) -> StoreResult<i64> {
        let has_table: bool = sqlx::query_scalar(super::HAS_MIGRATIONS)
            .fetch_one(&self.pool)
            .await
            .map_err(dberr)?;
        if !has_table {
            return Ok(0);
        }
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)?;
        Ok(crate::applied_version(
            &versions,
            crate::latest_version(&MIGRATOR),
        ))
    }

    async fn meta(&self) -> StoreResult<Option<StoreMeta>> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM meta")
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        crate::meta_from_pairs(rows, self.schema_version().await?)
    }

    #[instrument(skip_all, fields(env = %env))]
    async fn initialize(&self, actor: &Actor, env: Environment) -> StoreResult<StoreMeta> {
        let mut tx = self.begin().await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'lineage_id'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(dberr)?;
        if let Some(lineage) = existing {
            return Err(StoreError::AlreadyInitialized {
                location: self.location(),
                lineage,
            });
        }
        let meta = crate::new_meta(env, self.schema_version().await?);
        for (k, v) in crate::meta_pairs(&meta) {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(dberr)?;
        }
        append(&mut tx, vec![crate::init_entry(actor, &meta)?]).await?;
        tx.commit().await.map_err(dberr)?;
        Ok(meta)
    }

    #[instrument(skip_all, fields(protected = protected))]
    async fn set_protected(&self, actor: &Actor, protected: bool) -> StoreResult<StoreMeta> {
        self.change_meta(actor, |m| StoreMeta { protected, ..m })
            .await
    }

    async fn counts(&self) -> StoreResult<Counts> {
        let (accounts, transactions, categories, users, import_batches): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM transactions), \
                 (SELECT COUNT(*) FROM categories), (SELECT COUNT(*) FROM users), \
                 (SELECT COUNT(*) FROM import_batches)",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(dberr)?;
        Ok(Counts {
            accounts,
            transactions,
            categories,
            users,
            import_batches,
        })
    }

    async fn journal_head(&self) -> StoreResult<JournalHead> {
        let (seq, hash): (i64, Vec<u8>) =
            sqlx::query_as("SELECT seq, hash FROM journal_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(dberr)?;
        crate::head(seq, &hash)
    }

    async fn foreign_schema_objects(&self) -> StoreResult<Vec<String>> {
        self.native_foreign_schema_objects().await
    }

    async fn head_state(&self) -> StoreResult<HeadState> {
        let (seq, hash, digest): (i64, Vec<u8>, Option<Vec<u8>>) =
            sqlx::query_as("SELECT seq, hash, rows_digest FROM journal_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(dberr)?;
        crate::head_state(seq, &hash, digest.as_deref())
    }

    async fn compute_rows_digest(&self) -> StoreResult<RowsDigest> {
        self.native_compute_rows_digest().await
    }

    async fn adopt_rows_digest(&self, actor: &Actor, digest: RowsDigest) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let set: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT rows_digest FROM journal_head WHERE id = 1")
                .fetch_one(&mut *tx)
                .await
                .map_err(dberr)?;
        if set.is_some() {
            return Ok(());
        }
        sqlx::query("UPDATE journal_head SET rows_digest = $1 WHERE id = 1")
            .bind(digest.to_bytes().to_vec())
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        let rows: Vec<CredentialRow> = sqlx::query_as("SELECT * FROM credentials ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
        let records = credential_records(rows)?;
        if let Some(entry) = crate::adopted_credentials(actor, &records)? {
            append(&mut tx, vec![entry]).await?;
        }
        tx.commit().await.map_err(dberr)
    }

    async fn mark_restored(&self, actor: &Actor, from: &str, fork: bool) -> StoreResult<StoreMeta> {
        self.change_meta(actor, |m| crate::restored(m, from, fork))
            .await
    }

    async fn close(&self) {
        self.native_close().await
    }

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_account(&self, actor: &Actor, new: &NewAccount) -> StoreResult<Account> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (name, institution, kind, currency, opening_balance_minor, archived, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, FALSE, $6, $7) RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.institution)
        .bind(new.kind.as_str())
        .bind(new.currency.code())
        .bind(new.opening_balance_minor)
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("an account named \"{}\" already exists", new.name)))?;
        let account = crate::new_account_row(id, new, at);
        commit_journaled(
            tx,
            PendingEntry::row(actor, Entity::Account, id, Op::Insert, None, Some(&account))?,
        )
        .await?;
        Ok(account)
    }

    #[instrument(skip_all, fields(id = id))]
    async fn update_account(
        &self,
        actor: &Actor,
        id: i64,
        patch: &AccountPatch,
    ) -> StoreResult<Account> {
        let mut tx = self.begin().await?;
        let before = fetch_account(&mut tx, id).await?;
        let after = patch.apply(&before);
        if crate::unchanged!(before, after) {
            return Ok(before);
        }
        sqlx::query(
            "UPDATE accounts SET name = $1, institution = $2, kind = $3, opening_balance_minor = $4, archived = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(&after.name)
        .bind(&after.institution)
        .bind(after.kind.as_str())
        .bind(after.opening_balance_minor)
        .bind(after.archived)
        .bind(after.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("an account named \"{}\" already exists", after.name)))?;
        commit_update(tx, actor, Entity::Account, id, &before, &after).await?;
        Ok(after)
    }

    async fn get_account(&self, id: i64) -> StoreResult<Account> {
        let mut conn = self.pool.acquire().await.map_err(dberr)?;
        fetch_account(&mut conn, id).await
    }

    async fn find_account(&self, name: &str) -> StoreResult<Option<Account>> {
        sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts WHERE lower(name) = lower($1)")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(dberr)?
            .map(Account::try_from)
            .transpose()
    }

    async fn list_accounts(&self, include_archived: bool) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query_as::<_, AccountRow>(
            "SELECT * FROM accounts WHERE NOT archived OR $1 ORDER BY lower(name)",
        )
        .bind(include_archived)
        .fetch_all(&self.pool)
        .await
        .map_err(dberr)?;
        convert(rows)
    }

    async fn account_sums(&self) -> StoreResult<Vec<(i64, i64)>> {
        self.native_account_sums().await
    }

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_category(&self, actor: &Actor, new: &NewCategory) -> StoreResult<Category> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO categories (name, parent_id, kind, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&new.name)
        .bind(new.parent_id)
        .bind(new.kind.as_str())
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("a category named \"{}\" already exists there", new.name)))?;
        let cat = Category {
            id,
            name: new.name.clone(),
            parent_id: new.parent_id,
            kind: new.kind,
            created_at: at,
            updated_at: at,
        };
        commit_journaled(
            tx,
            PendingEntry::row(actor, Entity::Category, id, Op::Insert, None, Some(&cat))?,
        )
        .await?;
        Ok(cat)
    }

    #[instrument(skip_all, fields(id = id))]
    async fn update_category(
        &self,
        actor: &Actor,
        id: i64,
        patch: &CategoryPatch,
    ) -> StoreResult<Category> {
        let mut tx = self.begin().await?;
        let before = fetch_category(&mut tx, id).await?;
        let after = patch.apply(&before);
        if crate::unchanged!(before, after) {
            return Ok(before);
        }
        sqlx::query(
            "UPDATE categories SET name = $1, parent_id = $2, kind = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&after.name)
        .bind(after.parent_id)
        .bind(after.kind.as_str())
        .bind(after.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("a category named \"{}\" already exists there", after.name)))?;
        commit_update(tx, actor, Entity::Category, id, &before, &after).await?;
        Ok(after)
    }

    async fn list_categories(&self) -> StoreResult<Vec<Category>> {
        let rows = sqlx::query_as::<_, CategoryRow>("SELECT * FROM categories ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    #[instrument(skip_all, fields(rows = rows.len()))]
    async fn insert_transactions(
        &self,
        actor: &Actor,
        rows: Vec<NewTransaction>,
    ) -> StoreResult<Vec<i64>> {
        self.native_insert_transactions(actor, rows).await
    }

    #[instrument(skip_all, fields(file = %batch.file_name))]
    async fn import_rows(
        &self,
        actor: &Actor,
        batch: NewImportBatch,
        rows: tokio::sync::mpsc::Receiver<ImportChunk>,
    ) -> StoreResult<ImportBatch> {
        self.native_import_rows(actor, batch, rows).await
    }

    async fn lock_imports(&self, account_id: i64) -> StoreResult<ImportLock> {
        self.native_lock_imports(account_id).await
    }

    async fn find_import(
        &self,
        account_id: i64,
        file_sha256: &str,
    ) -> StoreResult<Option<ImportBatch>> {
        Ok(sqlx::query_as::<_, BatchRow>(
            "SELECT * FROM import_batches WHERE account_id = $1 AND file_sha256 = $2 ORDER BY id LIMIT 1",
        )
        .bind(account_id)
        .bind(file_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(dberr)?
        .map(ImportBatch::from))
    }

    async fn get_import(&self, id: i64) -> StoreResult<ImportBatch> {
        sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(dberr)?
            .map(ImportBatch::from)
            .ok_or_else(|| StoreError::NotFound(format!("import batch {id}")))
    }

    async fn list_imports(&self) -> StoreResult<Vec<ImportBatch>> {
        Ok(
            sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(dberr)?
                .into_iter()
                .map(ImportBatch::from)
                .collect(),
        )
    }

    async fn batch_total(&self, batch_id: i64) -> StoreResult<i128> {
        // Summed in two parts that each fit an i64 whatever the batch holds (a row's amount
        // is an i64, so its millions and its remainder are each a million times smaller);
        // the whole is put together wide.
        let (millions, rest): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT CAST(SUM(amount_minor / 1000000) AS BIGINT), CAST(SUM(amount_minor % 1000000) AS BIGINT) \
             FROM transactions WHERE import_batch_id = $1",
        )
        .bind(batch_id)
        .fetch_one(&self.pool)
        .await
        .map_err(dberr)?;
        Ok(i128::from(millions.unwrap_or(0)) * 1_000_000 + i128::from(rest.unwrap_or(0)))
    }

    #[instrument(skip_all, fields(batch_id = batch_id))]
    async fn undo_import(&self, actor: &Actor, batch_id: i64) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        let batch: ImportBatch =
            sqlx::query_as::<_, BatchRow>("SELECT * FROM import_batches WHERE id = $1")
                .bind(batch_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(dberr)?
                .map(ImportBatch::from)
                .ok_or_else(|| StoreError::NotFound(format!("import batch {batch_id}")))?;
        // Its rows are read in id order and handed, a chunk at a time, to the journal's encoder:
        // a million rows never sit in memory at once.
        let (etx, encoder) = crate::undo_encoder(actor, &batch);
        let mut removed = 0usize;
        let read: StoreResult<()> = async {
            use futures::TryStreamExt as _;
            let mut rows = sqlx::query_as::<_, TxRow>(
                "SELECT * FROM transactions WHERE import_batch_id = $1 ORDER BY id",
            )
            .bind(batch_id)
            .fetch(&mut *tx);
            let mut chunk = Vec::with_capacity(crate::UNDO_CHUNK);
            loop {
                let row = rows.try_next().await.map_err(dberr)?;
                let end = row.is_none();
                if let Some(r) = row {
                    chunk.push(Transaction::try_from(r)?);
                }
                if chunk.len() == crate::UNDO_CHUNK || (end && !chunk.is_empty()) {
                    removed += chunk.len();
                    etx.send(std::mem::take(&mut chunk))
                        .await
                        .map_err(|_| crate::encoder_stopped())?;
                }
                if end {
                    return Ok(());
                }
            }
        }
        .await;
        drop(etx);
        let entries = encoder
            .await
            .map_err(|e| StoreError::Database(format!("journal encoder failed: {e}")))?;
        read?;
        let entries = entries?;
        sqlx::query("DELETE FROM transactions WHERE import_batch_id = $1")
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("a transaction of import batch {batch_id} is linked as a transfer: unlink it first")
                })
            })?;
        sqlx::query("DELETE FROM import_batches WHERE id = $1")
            .bind(batch_id)
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        append(&mut tx, entries).await?;
        tx.commit().await.map_err(dberr)?;
        self.after_undo().await;
        Ok(removed)
    }

    async fn account_has_history(&self, account_id: i64) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM transactions WHERE account_id = $1) \
             OR EXISTS (SELECT 1 FROM deleted_transactions WHERE account_id = $1)",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(dberr)?;
        Ok(found.is_some())
    }

    async fn scan_dedup_keys(
        &self,
        account_id: i64,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        f: &mut (dyn FnMut(DedupKey) + Send),
    ) -> StoreResult<()> {
        self.native_scan_dedup_keys(account_id, from, to, f).await
    }

    async fn payee_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
        self.native_payee_texts(ids).await
    }

    async fn get_transaction(&self, id: i64) -> StoreResult<Transaction> {
        let mut conn = self.pool.acquire().await.map_err(dberr)?;
        fetch_tx(&mut conn, id).await
    }

    #[instrument(skip_all, fields(id = id))]
    async fn update_transaction(
        &self,
        actor: &Actor,
        id: i64,
        patch: &TransactionPatch,
    ) -> StoreResult<Transaction> {
        let mut tx = self.begin().await?;
        let (after, entry) = patch_tx(&mut tx, actor, id, patch).await?;
        if let Some(entry) = entry {
            commit_journaled(tx, entry).await?;
        }
        Ok(after)
    }

    #[instrument(skip_all, fields(rows = changes.len()))]
    async fn update_transactions(
        &self,
        actor: &Actor,
        changes: &[(i64, TransactionPatch)],
    ) -> StoreResult<Vec<Transaction>> {
        let mut tx = self.begin().await?;
        let mut out = Vec::with_capacity(changes.len());
        let mut entries = Vec::new();
        for (id, patch) in changes {
            let (after, entry) = patch_tx(&mut tx, actor, *id, patch).await?;
            out.push(after);
            entries.extend(entry);
        }
        if !entries.is_empty() {
            append(&mut tx, entries).await?;
            tx.commit().await.map_err(dberr)?;
        }
        Ok(out)
    }

    #[instrument(skip_all, fields(id = id))]
    async fn delete_transaction(&self, actor: &Actor, id: i64) -> StoreResult<Transaction> {
        let mut tx = self.begin().await?;
        let before = fetch_tx(&mut tx, id).await?;
        let tomb = Tombstone::of(&before);
        sqlx::query(
            "INSERT INTO deleted_transactions (account_id, posted_date, fingerprint, external_id, transaction_id, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tomb.account_id)
        .bind(tomb.posted_date)
        .bind(fingerprint_bytes(&tomb.fingerprint)?)
        .bind(&tomb.external_id)
        .bind(id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(dberr)?;
        sqlx::query("DELETE FROM transactions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("transaction {id} is linked as a transfer from another transaction: unlink it first")
                })
            })?;
        commit_journaled(
            tx,
            PendingEntry::row(
                actor,
                Entity::Transaction,
                id,
                Op::Delete,
                Some(&before),
                None,
            )?,
        )
        .await?;
        Ok(before)
    }

    async fn list_transactions(&self, f: &TxFilter) -> StoreResult<TxPage> {
        self.native_list_transactions(f).await
    }

    #[instrument(skip_all, fields(name = %new.name))]
    async fn create_user(&self, actor: &Actor, new: &NewUser) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (name, role, password_hash, disabled, created_at, updated_at) VALUES ($1, $2, $3, FALSE, $4, $5) RETURNING id",
        )
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_err(e, || format!("a user named \"{}\" already exists", new.name)))?;
        let user = User {
            id,
            name: new.name.clone(),
            role: new.role,
            password_hash: new.password_hash.clone(),
            disabled: false,
            created_at: at,
            updated_at: at,
        };
        commit_journaled(
            tx,
            PendingEntry::row(actor, Entity::User, id, Op::Insert, None, Some(&user))?,
        )
        .await?;
        Ok(user)
    }

    #[instrument(skip_all, fields(id = id))]
    async fn update_user(&self, actor: &Actor, id: i64, patch: &UserPatch) -> StoreResult<User> {
        let mut tx = self.begin().await?;
        let before = fetch_user(&mut tx, id).await?;
        let after = patch.apply(&before);
        if crate::unchanged!(before, after) {
            return Ok(before);
        }
        sqlx::query(
            "UPDATE users SET role = $1, password_hash = $2, disabled = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(after.role.as_str())
        .bind(&after.password_hash)
        .bind(after.disabled)
        .bind(after.updated_at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(dberr)?;
        commit_update(tx, actor, Entity::User, id, &before, &after).await?;
        Ok(after)
    }

    async fn find_user(&self, name: &str) -> StoreResult<Option<User>> {
        sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE lower(name) = lower($1)")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(dberr)?
            .map(User::try_from)
            .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query_as::<_, UserRow>("SELECT * FROM users ORDER BY lower(name)")
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    async fn create_credential(
        &self,
        actor: &Actor,
        new: &NewCredential,
    ) -> StoreResult<Credential> {
        // Times are kept to the microsecond, as PostgreSQL keeps them: the journal must hold
        // what the row holds.
        let new = &NewCredential {
            expires_at: new.expires_at.map(|t| t.trunc_subsecs(6)),
            ..new.clone()
        };
        let mut tx = self.begin().await?;
        let at = now();
        let mut entries = Vec::new();
        if new.kind == CredentialKind::Session {
            let expired: Vec<CredentialRow> = sqlx::query_as(
                "DELETE FROM credentials WHERE kind = 'session' AND expires_at < $1 RETURNING *",
            )
            .bind(at)
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
            entries.extend(crate::expired_sessions(actor, &expired)?);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO credentials (kind, user_id, name, secret_sha256, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(new.kind.as_str())
        .bind(new.user_id)
        .bind(&new.name)
        .bind(&new.secret_sha256[..])
        .bind(at)
        .bind(new.expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(dberr)?;
        entries.push(PendingEntry::row(
            actor,
            Entity::Credential,
            id,
            Op::Insert,
            None,
            Some(&new_credential_record(id, new, at)),
        )?);
        append(&mut tx, entries).await?;
        tx.commit().await.map_err(dberr)?;
        Ok(new_credential(id, new, at))
    }

    async fn find_credential(
        &self,
        secret_sha256: &[u8; 32],
    ) -> StoreResult<Option<(Credential, User)>> {
        let Some(row) = sqlx::query_as::<_, CredentialRow>(
            "SELECT * FROM credentials WHERE secret_sha256 = $1",
        )
        .bind(&secret_sha256[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(dberr)?
        else {
            return Ok(None);
        };
        let cred = Credential::try_from(row)?;
        let mut conn = self.pool.acquire().await.map_err(dberr)?;
        let user = fetch_user(&mut conn, cred.user_id).await?;
        Ok(Some((cred, user)))
    }

    async fn touch_credential(&self, id: i64) -> StoreResult<()> {
        sqlx::query("UPDATE credentials SET last_used_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(dberr)?;
        Ok(())
    }

    async fn revoke_credentials(
        &self,
        actor: &Actor,
        id: Option<i64>,
        user_id: Option<i64>,
        kind: Option<CredentialKind>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let mut q = revoke_credentials_query::<Db>(id, user_id, kind);
        let revoked: Vec<CredentialRow> = q
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
        let entries = crate::revocations(actor, &revoked)?;
        if !entries.is_empty() {
            append(&mut tx, entries).await?;
            tx.commit().await.map_err(dberr)?;
        }
        Ok(revoked.len() as u64)
    }

    async fn list_credentials(
        &self,
        kind: CredentialKind,
        user_id: Option<i64>,
    ) -> StoreResult<Vec<Credential>> {
        let mut q = list_credentials_query::<Db>(kind, user_id);
        let rows: Vec<CredentialRow> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    async fn journal_entries(&self, f: &JournalFilter) -> StoreResult<Vec<JournalEntry>> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new("SELECT * FROM journal WHERE seq > ");
        q.push_bind(f.after_seq);
        if let Some(e) = f.entity {
            q.push(" AND entity = ").push_bind(e.as_str());
        }
        if let Some(id) = f.entity_id {
            q.push(" AND entity_id = ").push_bind(id);
        }
        if let Some(since) = f.since {
            q.push(" AND at >= ").push_bind(since);
        }
        q.push(" ORDER BY seq LIMIT ")
            .push_bind(i64::from(f.limit.max(1)));
        let rows: Vec<JournalRow> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(dberr)?;
        convert(rows)
    }

    async fn scan_rows(
        &self,
        entity: Entity,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Vec<u8>)>> {
        super::scan::scan_rows(self, entity, after_id, limit).await
    }
}
