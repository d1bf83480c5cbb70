//! The one storage trait. Each engine (SQLite, PostgreSQL) implements it with native SQL in
//! `ledgerflow-db`; nothing above this trait knows which engine it talks to.
//!
//! Every write method changes rows **and** appends its journal entries in one database
//! transaction, so the journal can never disagree with the data because of a crash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::journal::{Entity, HeadState, JournalEntry, JournalHead, RowsDigest};
use crate::model::*;

pub use crate::error::{StoreError, StoreResult};

/// Which journal entries to list.
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub entity: Option<Entity>,
    /// Entries of one row (with `entity`).
    pub entity_id: Option<i64>,
    pub after_seq: i64,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
}

#[async_trait]
pub trait Store: Send + Sync {
    fn engine(&self) -> Engine;

    /// Where the data lives, with any password redacted.
    fn location(&self) -> String;

    /// The newest schema version this binary knows.
    fn known_schema_version(&self) -> i64;

    /// The schema version applied to the store (0 when empty).
    async fn schema_version(&self) -> StoreResult<i64>;

    /// The store's facts, or `None` when it was never initialised.
    async fn meta(&self) -> StoreResult<Option<StoreMeta>>;

    /// Records a new lineage, the environment and the creation time. Fails if already done.
    async fn initialize(&self, actor: &Actor, env: Environment) -> StoreResult<StoreMeta>;

    /// Protects the store (nuke refuses a protected store) or lifts the protection; journaled.
    async fn set_protected(&self, actor: &Actor, protected: bool) -> StoreResult<StoreMeta>;

    async fn counts(&self) -> StoreResult<Counts>;

    async fn journal_head(&self) -> StoreResult<JournalHead>;

    /// The journal head and the rows digest the store keeps beside it.
    async fn head_state(&self) -> StoreResult<HeadState>;
    /// Schema objects LedgerFlow's migrations did not create, or that differ from theirs (a
    /// trigger planted behind its back would change rows on the next write, after every check
    /// passed), each named; empty when the schema is exactly LedgerFlow's.
    async fn foreign_schema_objects(&self) -> StoreResult<Vec<String>>;

    /// The rows digest of every row the store holds now, each row read once (what the head
    /// entry of its journal must record when nothing was changed behind LedgerFlow's back).
    async fn compute_rows_digest(&self) -> StoreResult<RowsDigest>;

    /// Once, after the migration to schema 4: sets the rows digest (`digest`, built from the
    /// journal) and journals the credentials that were written before they were journaled. A
    /// no-op when the digest is already set.
    async fn adopt_rows_digest(&self, actor: &Actor, digest: RowsDigest) -> StoreResult<()>;

    /// Records, journaled, that this store was restored from the backup `from` now. `fork`: it
    /// is a copy beside the ledger (`restore --to-new`), and gets a lineage of its own.
    async fn mark_restored(&self, actor: &Actor, from: &str, fork: bool) -> StoreResult<StoreMeta>;

    /// Closes connections (flushes the SQLite WAL).
    async fn close(&self);

    // ---- accounts
    async fn create_account(&self, actor: &Actor, new: &NewAccount) -> StoreResult<Account>;
    async fn update_account(
        &self,
        actor: &Actor,
        id: i64,
        patch: &AccountPatch,
    ) -> StoreResult<Account>;
    async fn get_account(&self, id: i64) -> StoreResult<Account>;
    async fn find_account(&self, name: &str) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self, include_archived: bool) -> StoreResult<Vec<Account>>;
    /// Sum of transaction amounts per account id (minor units), without opening balances.
    async fn account_sums(&self) -> StoreResult<Vec<(i64, i64)>>;

    // ---- categories
    async fn create_category(&self, actor: &Actor, new: &NewCategory) -> StoreResult<Category>;
    async fn update_category(
        &self,
        actor: &Actor,
        id: i64,
        patch: &CategoryPatch,
    ) -> StoreResult<Category>;
    async fn list_categories(&self) -> StoreResult<Vec<Category>>;

    // ---- transactions
    /// Inserts all rows in one database transaction. One row is journaled as an `insert`;
    /// several as one `bulk_insert` entry carrying every row. Returns the new ids in order.
    async fn insert_transactions(
        &self,
        actor: &Actor,
        rows: Vec<NewTransaction>,
    ) -> StoreResult<Vec<i64>>;
    async fn get_transaction(&self, id: i64) -> StoreResult<Transaction>;
    async fn update_transaction(
        &self,
        actor: &Actor,
        id: i64,
        patch: &TransactionPatch,
    ) -> StoreResult<Transaction>;
    /// Applies every patch in one database transaction: all of them or none (a missing id
    /// changes nothing). Rows a patch leaves unchanged are not written. Returns the rows after.
    async fn update_transactions(
        &self,
        actor: &Actor,
        changes: &[(i64, TransactionPatch)],
    ) -> StoreResult<Vec<Transaction>>;
    async fn delete_transaction(&self, actor: &Actor, id: i64) -> StoreResult<Transaction>;
    async fn list_transactions(&self, filter: &TxFilter) -> StoreResult<TxPage>;

    // ---- imports
    /// Records an import batch and inserts the rows streamed through `rows` (each tagged with
    /// the batch) in one database transaction: one journal entry for the batch and one per
    /// chunk. Commits when [`ImportChunk::Done`] arrives; a stream that ends without it (the
    /// sender dropped: a parse failure, an interrupted upload) is rolled back and nothing is
    /// written.
    async fn import_rows(
        &self,
        actor: &Actor,
        batch: NewImportBatch,
        rows: tokio::sync::mpsc::Receiver<ImportChunk>,
    ) -> StoreResult<ImportBatch>;

    /// [`Store::import_rows`] with every row at hand.
    async fn create_import(
        &self,
        actor: &Actor,
        batch: NewImportBatch,
        rows: Vec<NewTransaction>,
    ) -> StoreResult<ImportBatch> {
        let rx = ImportChunk::complete(rows, batch.counts());
        self.import_rows(actor, batch, rx).await
    }
    /// Waits until no other import into `account_id` runs (from this process or another) and
    /// holds the others off until the returned lock is dropped. An import decides its duplicates
    /// and writes under it: two at once would each miss the other's rows and both add them.
    async fn lock_imports(&self, account_id: i64) -> StoreResult<ImportLock>;
    /// The batch that imported the file with this SHA-256 into this account, if any.
    async fn find_import(
        &self,
        account_id: i64,
        file_sha256: &str,
    ) -> StoreResult<Option<ImportBatch>>;
    async fn get_import(&self, id: i64) -> StoreResult<ImportBatch>;
    async fn list_imports(&self) -> StoreResult<Vec<ImportBatch>>;
    /// Removes exactly the batch's rows and the batch, journaled. Returns the rows removed.
    async fn undo_import(&self, actor: &Actor, batch_id: i64) -> StoreResult<usize>;
    /// The sum of the batch's rows' amounts, exact (it may exceed an `i64`).
    async fn batch_total(&self, batch_id: i64) -> StoreResult<i128>;
    /// Whether the account has any transaction, live or deleted (a first import into an account
    /// without history needs no duplicate detection and is written in one pass).
    async fn account_has_history(&self, account_id: i64) -> StoreResult<bool>;
    /// Calls `f` with every stored and deleted transaction of an account between two dates,
    /// for duplicate detection, without holding them all in memory.
    async fn scan_dedup_keys(
        &self,
        account_id: i64,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        f: &mut (dyn FnMut(DedupKey) + Send),
    ) -> StoreResult<()>;
    /// Payee (or description, when the payee is empty) of the given transactions, for
    /// near-match similarity. Ids that do not exist are left out.
    async fn payee_texts(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String)>>;

    // ---- users
    async fn create_user(&self, actor: &Actor, new: &NewUser) -> StoreResult<User>;
    async fn update_user(&self, actor: &Actor, id: i64, patch: &UserPatch) -> StoreResult<User>;
    async fn find_user(&self, name: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;

    // ---- credentials (sessions and API tokens), journaled with the SHA-256 of their secret;
    // when one was last used is not journaled.
    /// Stores a credential by the SHA-256 of its secret. Creating a session also removes
    /// sessions that have expired.
    async fn create_credential(
        &self,
        actor: &Actor,
        new: &NewCredential,
    ) -> StoreResult<Credential>;
    /// The credential with this secret hash and its user, whatever its state (the caller
    /// checks [`Credential::is_live`] and [`User::disabled`]).
    async fn find_credential(
        &self,
        secret_sha256: &[u8; 32],
    ) -> StoreResult<Option<(Credential, User)>>;
    /// Records that the credential was used now.
    async fn touch_credential(&self, id: i64) -> StoreResult<()>;
    /// Revokes one credential (`id`) or every live one of a user and kind; returns how many.
    async fn revoke_credentials(
        &self,
        actor: &Actor,
        id: Option<i64>,
        user_id: Option<i64>,
        kind: Option<CredentialKind>,
    ) -> StoreResult<u64>;
    /// Credentials of a kind, newest first, optionally of one user.
    async fn list_credentials(
        &self,
        kind: CredentialKind,
        user_id: Option<i64>,
    ) -> StoreResult<Vec<Credential>>;

    // ---- journal
    async fn journal_entries(&self, filter: &JournalFilter) -> StoreResult<Vec<JournalEntry>>;

    /// Rows of `entity` with id > `after_id`, in id order, as (id, canonical JSON).
    async fn scan_rows(
        &self,
        entity: Entity,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, Vec<u8>)>>;
}

/// The rows digest of the tables `which` picks, read a page of rows at a time through
/// [`Store::scan_rows`]: what [`Store::compute_rows_digest`] is, where an engine has no faster
/// way for a table.
pub async fn digest_by_pages(
    store: &dyn Store,
    which: impl Fn(Entity) -> bool,
) -> StoreResult<RowsDigest> {
    let mut sum = RowsDigest::default();
    for &entity in Entity::ROWS.iter().filter(|e| which(**e)) {
        let mut after = 0i64;
        loop {
            let page = store.scan_rows(entity, after, 5_000).await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = *last;
            for (_, bytes) in &page {
                sum.add_row(entity, bytes);
            }
        }
    }
    Ok(sum)
}
