//! The write pass (step 5; the only pass for an account without history): the rows are read
//! again and the new ones go through a channel to `Store::import_rows` in chunks, all in one
//! database transaction that commits on `ImportChunk::Done`, sent only when the file read is
//! the file that was decided on and no bad row refuses it. A dry run only reports.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use ledgerflow_core::Store;
use ledgerflow_core::model::{
    Account, Actor, ImportChunk, ImportCounts, NewImportBatch, NewTransaction, TxStatus,
};
use tokio::sync::mpsc::Sender;

use super::dedup::similarity;
use super::error::ImportError;
use super::report::{Decision, RowDecision};
use super::rows::{Item, Prepared, Rows, clean, prepare};
use super::{ImportOptions, MAX_REPORTED, Progress};
use crate::model::ParsedTxn;

/// New rows per chunk sent to the store (one journal entry each).
const CHUNK_ROWS: usize = 16_384;

/// Everything the second pass needs.
pub(super) struct WritePlan {
    pub(super) rows: Rows,
    /// Per good row, from the first pass; `None` when the account has no history (every good
    /// row is new, and bad rows are found by this pass).
    pub(super) decisions: Option<Vec<Decision>>,
    pub(super) near: Vec<(u32, i64)>,
    pub(super) texts: HashMap<i64, String>,
    pub(super) account: Account,
    pub(super) source: String,
    pub(super) file: String,
    pub(super) dry_run: bool,
    pub(super) skip_invalid: bool,
    pub(super) expect_sha: String,
    pub(super) expect_rows: usize,
    pub(super) rows_read: usize,
    pub(super) skipped: usize,
    /// The account's balance before the import (opening balance and rows): with the new rows
    /// it must stay a number the store can sum (balances, reports, backups' manifests).
    pub(super) base_total: i128,
}

impl WritePlan {
    /// A plan that writes every good row of `rows` (until duplicates are decided).
    pub(super) fn new(
        rows: Rows,
        account: &Account,
        file: &str,
        source: String,
        opts: &ImportOptions,
        expect_sha: String,
    ) -> Self {
        WritePlan {
            rows,
            decisions: None,
            near: Vec::new(),
            texts: HashMap::new(),
            account: account.clone(),
            source,
            file: file.to_string(),
            dry_run: opts.dry_run,
            skip_invalid: opts.skip_invalid,
            expect_sha,
            expect_rows: 0,
            rows_read: 0,
            skipped: 0,
            base_total: 0,
        }
    }
}

/// What the write pass counted.
#[derive(Default)]
pub(super) struct Written {
    pub(super) rows_read: usize,
    pub(super) skipped: usize,
    pub(super) bad: Vec<String>,
    pub(super) new: usize,
    pub(super) flagged: usize,
    pub(super) duplicates: usize,
    pub(super) deleted: usize,
    pub(super) decisions: Vec<RowDecision>,
    /// Rows the reader passed over (pending, empty, section lines), counted on this pass.
    pub(super) passed_over: crate::csv::PassedOver,
}

/// Step 5: runs the write pass on a blocking thread while the store takes its chunks (a dry
/// run writes nothing). Returns the counts and the new batch's id.
pub(super) async fn write(
    store: &dyn Store,
    actor: &Actor,
    plan: WritePlan,
    progress: &Arc<dyn Progress>,
) -> Result<(Written, Option<i64>), ImportError> {
    let plan = Arc::new(plan);
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let producer = {
        let (plan, progress) = (plan.clone(), progress.clone());
        tokio::task::spawn_blocking(move || write_pass(&plan, progress.as_ref(), tx))
    };
    let written = if plan.dry_run {
        drop(rx);
        None
    } else {
        let batch = NewImportBatch {
            account_id: plan.account.id,
            file_name: plan.file.clone(),
            file_sha256: plan.expect_sha.clone(),
            format: plan.source.clone(),
            rows_read: 0,
            rows_new: 0,
            rows_duplicate: 0,
            rows_flagged: 0,
            rows_skipped: 0,
        };
        Some(store.import_rows(actor, batch, rx).await)
    };
    let outcome = producer
        .await
        .map_err(|e| ImportError::task(&plan.file, e))??;
    let batch = written.transpose()?;
    Ok((outcome, batch.map(|b| b.id)))
}

/// The second pass (the only one for an account without history): reads the rows again and
/// sends the new ones to the store in chunks; sends `Done` (the store then commits) only when
/// the file read is the file that was decided on and no bad row stops it.
fn write_pass(
    plan: &WritePlan,
    progress: &dyn Progress,
    tx: Sender<ImportChunk>,
) -> Result<Written, ImportError> {
    if let Some(out) = nothing_to_add(plan) {
        send(&tx, ImportChunk::Done(counts(&out)));
        return Ok(out);
    }
    let mut w = Writer {
        plan,
        tx: &tx,
        out: Written::default(),
        chunk: Vec::new(),
        k: 0,
        near_at: 0,
        receiver_gone: false,
        refused: false,
        added: 0,
    };
    let passed = plan
        .rows
        .each(&plan.file, "importing", progress, &mut |item| w.row(item))
        .map_err(|e| e.into_import(&plan.file))?;
    let sha = passed.sha;
    w.out.passed_over = passed.passed;
    let Writer {
        mut out,
        chunk,
        k,
        receiver_gone,
        refused,
        added,
        ..
    } = w;
    if receiver_gone {
        // The store stopped (and says why); nothing was committed.
        return Ok(out);
    }
    if sha.is_some_and(|s| s != plan.expect_sha)
        || plan
            .decisions
            .as_ref()
            .is_some_and(|_| k != plan.expect_rows)
    {
        return Err(ImportError::changed(&plan.file));
    }
    let total = plan.base_total + added;
    if i64::try_from(total).is_err() {
        // Dropping the sender without `Done` rolls the store's transaction back.
        return Err(ImportError::Parse(crate::model::ParseError {
            file: plan.file.clone(),
            reason: format!(
                "with these rows the account's balance would be {total} minor units, more than a ledger can hold: nothing was imported (are the amounts read right?)"
            ),
        }));
    }
    if refused {
        // Dropping the sender without `Done` rolls the store's transaction back.
        return Err(ImportError::bad_rows(
            &plan.file,
            &out.bad,
            out.skipped,
            out.rows_read,
        ));
    }
    if plan.decisions.is_some() {
        out.rows_read = plan.rows_read;
        out.skipped = plan.skipped;
    }
    if !plan.dry_run {
        if !chunk.is_empty() && !send(&tx, ImportChunk::Rows(chunk)) {
            return Ok(out);
        }
        // The file is read; the store indexes the rows' words and commits (seconds for a
        // million rows): said, so a full bar is not taken for a hang.
        if out.new > 0 {
            progress.phase("saving", 0);
        }
        send(&tx, ImportChunk::Done(counts(&out)));
    }
    Ok(out)
}

/// Sends a chunk to the store; `false` when the store stopped listening.
fn send(tx: &Sender<ImportChunk>, chunk: ImportChunk) -> bool {
    tx.blocking_send(chunk).is_ok()
}

/// When every row was decided and none is new (and this is no dry run), the batch is recorded
/// with its counts without reading the file again.
fn nothing_to_add(plan: &WritePlan) -> Option<Written> {
    let decisions = plan.decisions.as_ref()?;
    if plan.dry_run || decisions.contains(&Decision::New) {
        return None;
    }
    let duplicates = decisions
        .iter()
        .filter(|d| **d == Decision::Duplicate)
        .count();
    Some(Written {
        rows_read: plan.rows_read,
        skipped: plan.skipped,
        duplicates,
        deleted: decisions.len() - duplicates,
        ..Written::default()
    })
}

/// The write pass's state, row after row.
struct Writer<'a> {
    plan: &'a WritePlan,
    tx: &'a Sender<ImportChunk>,
    out: Written,
    chunk: Vec<NewTransaction>,
    /// Index of the next good row.
    k: usize,
    near_at: usize,
    receiver_gone: bool,
    /// A bad row refused the file: the rest is only read, to count the bad rows.
    refused: bool,
    /// The sum of the rows to be written, in minor units.
    added: i128,
}

impl Writer<'_> {
    /// Takes one row; `false` stops the pass.
    fn row(&mut self, item: Item<'_>) -> bool {
        self.out.rows_read += 1;
        let (t, p) = match item {
            Item::Bad(reason) => {
                self.bad(reason);
                return true;
            }
            Item::Txn(t, currency) => match prepare(&self.plan.account, currency, t) {
                Ok(p) => (t, p),
                Err(e) => {
                    self.bad(format!("line {}: {e}", t.line));
                    return true;
                }
            },
        };
        // More rows than the first pass saw: the file changed; caught after the pass.
        let Some(decision) = self.decision(&p.payee) else {
            return false;
        };
        self.count(decision);
        if matches!(decision, Decision::New | Decision::Flagged) {
            self.added += i128::from(p.amount_minor);
        }
        if self.plan.dry_run {
            self.out.decisions.push(RowDecision {
                line: t.line,
                page: t.page,
                date: t.date,
                amount_minor: p.amount_minor,
                payee: p.payee.to_string(),
                decision,
            });
            return true;
        }
        // After a refused row the rest is only read, to count the bad rows.
        if self.refused || !matches!(decision, Decision::New | Decision::Flagged) {
            return true;
        }
        self.chunk.push(new_transaction(self.plan, t, p, decision));
        if self.chunk.len() == CHUNK_ROWS {
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_ROWS));
            if !send(self.tx, ImportChunk::Rows(full)) {
                self.receiver_gone = true;
                return false;
            }
        }
        true
    }

    /// A bad row: counted (and refusing the file unless `skip_invalid`) when this pass is the
    /// one that finds bad rows; the scan already did otherwise.
    fn bad(&mut self, reason: String) {
        if self.plan.decisions.is_none() {
            self.out.skipped += 1;
            if self.out.bad.len() < MAX_REPORTED {
                self.out.bad.push(reason);
            }
            self.refused |= !self.plan.skip_invalid;
        }
    }

    /// The decision for the next good row (a new row resembling a stored one is flagged), or
    /// `None` when the first pass saw fewer rows.
    fn decision(&mut self, payee: &str) -> Option<Decision> {
        let plan = self.plan;
        let mut decision = match &plan.decisions {
            None => Decision::New,
            Some(d) => match d.get(self.k) {
                Some(d) => *d,
                None => {
                    self.k += 1;
                    return None;
                }
            },
        };
        if decision == Decision::New {
            let k = self.k;
            while self.near_at < plan.near.len() && (plan.near[self.near_at].0 as usize) < k {
                self.near_at += 1;
            }
            while self.near_at < plan.near.len() && plan.near[self.near_at].0 as usize == k {
                let id = plan.near[self.near_at].1;
                if plan
                    .texts
                    .get(&id)
                    .is_some_and(|text| similarity(text, payee) >= 0.5)
                {
                    decision = Decision::Flagged;
                }
                self.near_at += 1;
            }
        }
        self.k += 1;
        Some(decision)
    }

    fn count(&mut self, decision: Decision) {
        let out = &mut self.out;
        match decision {
            Decision::New => out.new += 1,
            Decision::Flagged => {
                out.new += 1;
                out.flagged += 1;
            }
            Decision::Duplicate => out.duplicates += 1,
            Decision::Deleted => out.deleted += 1,
        }
    }
}

/// The transaction a new row becomes.
fn new_transaction(
    plan: &WritePlan,
    t: &ParsedTxn,
    p: Prepared<'_>,
    decision: Decision,
) -> NewTransaction {
    NewTransaction {
        account_id: plan.account.id,
        posted_date: t.date,
        amount_minor: p.amount_minor,
        currency: plan.account.currency,
        payee: p.payee.into_owned(),
        description: String::new(),
        memo: p.memo.into_owned(),
        category_id: None,
        status: TxStatus::Cleared,
        source: plan.source.clone(),
        import_batch_id: None,
        external_id: t
            .external_id
            .as_deref()
            .map(clean)
            .filter(|e| !e.is_empty())
            .map(Cow::into_owned),
        transfer_id: None,
        needs_review: decision == Decision::Flagged,
    }
}

fn counts(out: &Written) -> ImportCounts {
    ImportCounts {
        rows_read: out.rows_read as i64,
        rows_new: out.new as i64,
        rows_duplicate: out.duplicates as i64,
        rows_flagged: out.flagged as i64,
        rows_skipped: (out.skipped + out.deleted) as i64,
    }
}
