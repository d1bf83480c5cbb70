//! The import service: a bank file becomes one import batch, with duplicates decided right in
//! both directions. The CLI's `ledgerflow import` and the web upload (preview = dry run) call
//! [`import_file`].
//!
//! Rules:
//! - The very same file (same SHA-256) into the same account again is a no-op that says so.
//! - A bank id (OFX FITID, CAMT reference) that is present and unique within the file decides:
//!   a stored row with that id is a duplicate.
//! - Otherwise rows are counted per fingerprint (account, date, amount, normalised text): the
//!   file adds, per fingerprint, only the occurrences beyond those already stored. Two identical
//!   $4.50 coffees on one day in one statement are both kept; an overlapping export adds nothing
//!   twice.
//! - A near match (same amount, date within three days, similar text, different fingerprint) is
//!   imported and flagged for review, never merged or dropped. An import never modifies an
//!   existing row.
//! - A transaction the user deleted does not come back unless `include_deleted`.
//! - Bad rows refuse the whole file (nothing is written) unless `skip_invalid`. A payee or memo
//!   over the limits of manual entry (`ledgerflow_core::service::check_text`) is a bad row: never
//!   cut short. The file's name is cut to a label of [`MAX_FILE_NAME`] characters.
//!
//! How (bounded memory whatever the file's size):
//! 1. Hash the file (SHA-256) and stop if this account already imported it.
//! 2. Scan: read the rows once, keeping 32 bytes per row (fingerprint, date, amount, bank-id
//!    reference). CSV files are streamed; OFX, QIF and CAMT files (small by nature) and CSV files
//!    that are not UTF-8 are parsed in memory.
//! 3. Decide: stream the stored keys of the account over the file's dates (plus a week either
//!    side) from the store, and settle every row by merging the two lists sorted by fingerprint;
//!    near matches are found by a sweep over (amount, date), and only their stored texts are
//!    fetched.
//! 4. Write: read the rows again and stream the new ones to the store in chunks, all in one
//!    database transaction that commits only if the file still has the hash of step 1.
//!
//! Steps 1 to 4 of a real import run under the store's import lock for the account
//! (`Store::lock_imports`): two imports at once, from one process or two, take turns, so the
//! second decides against what the first wrote.
//!
//! Each step of [`import_file`] (numbered in its body) has its own file: `source` (1: where the
//! bytes are, their hash), `rows` (2: how the rows are read, and each checked), `scan` (3),
//! `dedup` (4), `write` (5), `report` (the summary) and `error`.

mod dedup;
mod error;
mod report;
mod rows;
mod scan;
mod source;
mod write;

use std::sync::Arc;
use std::time::Instant;

use ledgerflow_core::model::{Account, Actor, ImportLock};
use ledgerflow_core::{Store, StoreError};
use tracing::instrument;

pub use error::{ImportError, ReadError};
pub use report::{Decision, ImportSummary, MAX_FILE_NAME, RowDecision, file_label};
pub use source::{SharedBytes, Source, sha256_hex};

use crate::model::Format;
use crate::qif::DateOrder;

/// Row errors kept word for word (all are counted).
const MAX_REPORTED: usize = 1000;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `None` detects the format from the content.
    pub format: Option<Format>,
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub include_deleted: bool,
    /// Which statement of a multi-statement file (its account id in the file).
    pub statement: Option<String>,
    /// For QIF files whose dates are all ambiguous.
    pub date_order: DateOrder,
    /// The CSV preset or profile to read a CSV file with (`None` detects a preset).
    pub profile: Option<crate::csv::Profile>,
    /// The user's PDF templates (tried before the shipped ones).
    pub pdf_templates: Vec<crate::pdf::Template>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            dry_run: false,
            skip_invalid: false,
            include_deleted: false,
            statement: None,
            date_order: DateOrder::MonthFirst,
            profile: None,
            pdf_templates: Vec::new(),
        }
    }
}

/// What a long import reports while it works (the CLI draws a progress bar with it).
pub trait Progress: Send + Sync {
    /// A new phase begins: `total` bytes (or rows, for in-memory files) to go.
    fn phase(&self, _label: &'static str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Waits for the account's import lock (saying so when another import holds it), then checks
/// again that the account takes imports: it may have been archived during the wait.
async fn take_turn(
    store: &dyn Store,
    account: &Account,
    progress: &Arc<dyn Progress>,
) -> Result<ImportLock, ImportError> {
    let mut lock = std::pin::pin!(store.lock_imports(account.id));
    let lock = match tokio::time::timeout(std::time::Duration::from_secs(1), lock.as_mut()).await {
        Ok(taken) => taken?,
        Err(_) => {
            tracing::info!("waiting for another import into this account to finish");
            progress.phase("waiting for another import into this account", 0);
            lock.await?
        }
    };
    if store.get_account(account.id).await?.archived {
        return Err(ImportError::Store(StoreError::Conflict(format!(
            "account \"{}\" was archived meanwhile: nothing was imported",
            account.name
        ))));
    }
    Ok(lock)
}

/// Imports one file into `account`. A `file_name` longer than [`MAX_FILE_NAME`] characters is
/// cut ([`file_label`]).
#[instrument(skip_all, fields(file = tracing::field::Empty, account = %account.name, account_id = account.id))]
pub async fn import_file(
    store: &dyn Store,
    actor: &Actor,
    account: &Account,
    file_name: &str,
    source: Source,
    opts: &ImportOptions,
    progress: Arc<dyn Progress>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let label = file_label(file_name);
    let file_name: &str = &label;
    tracing::Span::current().record("file", file_name);
    let mut summary = ImportSummary::new(file_name, account, opts.dry_run);

    // 1. The file's identity: the very same file again is a no-op.
    let id = source::identify(&source, file_name, &progress).await?;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "file identified");
    // Another import into the account (this process or another) finishes first: what it wrote
    // counts when this one decides its duplicates. A dry run writes nothing and does not wait.
    let _turn = if opts.dry_run {
        None
    } else {
        Some(take_turn(store, account, &progress).await?)
    };
    if let Some(b) = store.find_import(account.id, &id.sha).await? {
        summary.already_imported(b.id, &id, account);
        summary.duration_ms = started.elapsed().as_millis();
        progress.finish();
        return Ok(summary);
    }

    // 2. How to read it.
    let (rows, source_label) =
        rows::choose_reader(&source, &id, file_name, opts, &mut summary).await?;

    // 3. Scan and 4. decide, unless the account has no history: then every good row is new and
    // the file is read once, bad rows found on the way.
    let fresh = !store.account_has_history(account.id).await?;
    let mut plan = write::WritePlan::new(rows, account, file_name, source_label, opts, id.sha);
    plan.base_total = if fresh {
        i128::from(account.opening_balance_minor)
    } else {
        ledgerflow_core::service::account_total(store, account).await?
    };
    if !fresh {
        dedup::settle_duplicates(store, &mut plan, opts, &progress, &mut summary).await?;
    }

    // 5. Write (or, for a dry run, only report).
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "writing");
    let (written, batch) = write::write(store, actor, plan, &progress).await?;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "written");
    summary.take(written, fresh, batch);
    progress.finish();
    summary.duration_ms = started.elapsed().as_millis();
    Ok(summary)
}
