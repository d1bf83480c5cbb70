//! The journal checks: `journal verify` (the hash chain, then every row against the journal's
//! replay), the rows digest a journal builds, and the cheaper check every backup runs on its
//! test restore.

use serde::Serialize;
use tracing::instrument;

use crate::journal::{ChainCheck, Entity, JournalHead, JournalProblem, Replay, RowsDigest};
use crate::store::{JournalFilter, Store, StoreError};

/// Result of `journal verify`.
#[derive(Debug, Clone, Serialize)]
pub struct JournalReport {
    pub ok: bool,
    pub entries: i64,
    pub rows_checked: u64,
    pub head: JournalHead,
    pub problem: Option<String>,
    /// The journal head when this check began (a check retried when it moved).
    #[serde(skip)]
    pub started_at: JournalHead,
}

const PAGE: u32 = 2_000;

/// Checks (1) the hash chain and (2) that every row in the store is exactly what the journal
/// says it should be. Stops at the first problem and names it.
///
/// The reads are not one snapshot, so a write landing during the check could look like
/// tampering: when the journal head moved while checking, the check runs again (three tries).
#[instrument(skip_all)]
pub async fn verify_journal(store: &dyn Store) -> Result<JournalReport, StoreError> {
    let mut report = verify_once(store).await?;
    for _ in 0..2 {
        if report.ok || store.journal_head().await? == report.started_at {
            break;
        }
        report = verify_once(store).await?;
    }
    with_schema_check(store, report).await
}

/// A report that also fails when the store holds schema objects LedgerFlow did not create (a
/// trigger that would change rows on the next write, after every check passed).
async fn with_schema_check(
    store: &dyn Store,
    mut report: JournalReport,
) -> Result<JournalReport, StoreError> {
    if report.ok {
        let foreign = store.foreign_schema_objects().await?;
        if !foreign.is_empty() {
            report.ok = false;
            report.problem = Some(format!(
                "the store's schema is not LedgerFlow's: {} (made behind its back)",
                foreign.join(", ")
            ));
        }
    }
    Ok(report)
}

/// The problem of a head recorded beside the journal that is not the chain's last entry.
fn head_moved(chain: &ChainCheck, recorded: &JournalHead) -> String {
    format!(
        "the journal ends at entry {} but the store recorded entry {} as its head (entries were removed)",
        chain.head().head_seq,
        recorded.head_seq
    )
}

async fn verify_once(store: &dyn Store) -> Result<JournalReport, StoreError> {
    let started_at = store.journal_head().await?;
    let mut chain = ChainCheck::default();
    let mut replay = Replay::default();
    let mut entries = 0i64;
    let fail = |chain: &ChainCheck, entries, rows, problem: String| JournalReport {
        ok: false,
        entries,
        rows_checked: rows,
        head: chain.head(),
        problem: Some(problem),
        started_at,
    };
    let walked = each_entry(store, |e| {
        chain.check(e).and_then(|()| replay.apply(e))?;
        entries += 1;
        Ok(())
    })
    .await?;
    if let Err(p) = walked {
        return Ok(fail(&chain, entries, 0, p.to_string()));
    }
    // The head recorded beside the journal must agree with the chain (catches a truncated tail).
    let state = store.head_state().await?;
    let recorded = state.head;
    if recorded.head_seq != chain.head().head_seq || recorded.head_hash != chain.head().head_hash {
        return Ok(fail(&chain, entries, 0, head_moved(&chain, &recorded)));
    }
    if let Some(d) = state.rows_digest
        && entries > 0
        && d != replay.digest()
    {
        return Ok(fail(
            &chain,
            entries,
            0,
            "the rows digest recorded beside the journal is not the one the journal builds (the journal head was altered)".into(),
        ));
    }
    let mut rows = 0u64;
    for &entity in Entity::ROWS {
        let mut after_id = 0i64;
        loop {
            let page = store.scan_rows(entity, after_id, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for (id, bytes) in &page {
                if let Err(p) = replay.check_row(entity, *id, bytes) {
                    return Ok(fail(&chain, entries, rows, p.to_string()));
                }
                rows += 1;
                after_id = *id;
            }
        }
        if let Err(p) = replay.finish_entity(entity) {
            return Ok(fail(&chain, entries, rows, p.to_string()));
        }
    }
    Ok(JournalReport {
        ok: true,
        entries,
        rows_checked: rows,
        head: chain.head(),
        problem: None,
        started_at,
    })
}

/// Calls `f` on every journal entry, oldest first, a page at a time; stops at its first
/// problem (the inner `Err`).
async fn each_entry(
    store: &dyn Store,
    mut f: impl FnMut(&crate::journal::JournalEntry) -> Result<(), JournalProblem>,
) -> Result<Result<(), JournalProblem>, StoreError> {
    let mut after = 0i64;
    loop {
        let page = store
            .journal_entries(&JournalFilter {
                after_seq: after,
                limit: PAGE,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(Ok(()));
        };
        after = last.seq;
        for e in &page {
            if let Err(p) = f(e) {
                return Ok(Err(p));
            }
        }
    }
}

/// Replays the journal (its chain checked) and returns the rows digest it builds, or the first
/// problem found: what a store without a digest (first opened since schema 4) starts from.
pub async fn journal_digest(
    store: &dyn Store,
) -> Result<Result<RowsDigest, JournalProblem>, StoreError> {
    let mut chain = ChainCheck::default();
    let mut replay = Replay::default();
    let walked = each_entry(store, |e| chain.check(e).and_then(|()| replay.apply(e))).await?;
    Ok(walked.map(|()| replay.digest()))
}

/// The check every backup runs on its test restore, cheap enough for each one: the whole hash
/// chain (every entry's bytes, no replay), the head recorded beside it, and every row read once
/// into the rows digest, which must be the one the head entry records. When the head entry has
/// no digest (a journal from before schema 4, or one that did not replay), the whole journal is
/// replayed against every row instead ([`verify_journal`]). It passes exactly when
/// `journal verify` would, except for a journal rewritten whole and consistently by someone
/// else: comparing its head with the backups' heads is what finds that.
#[instrument(skip_all)]
pub async fn check_snapshot(store: &dyn Store) -> Result<JournalReport, StoreError> {
    let report = check_snapshot_rows(store).await?;
    with_schema_check(store, report).await
}

async fn check_snapshot_rows(store: &dyn Store) -> Result<JournalReport, StoreError> {
    let started_at = store.journal_head().await?;
    let mut chain = ChainCheck::default();
    let mut entries = 0i64;
    let mut last_digest = None;
    let fail = |chain: &ChainCheck, entries, problem: String| JournalReport {
        ok: false,
        entries,
        rows_checked: 0,
        head: chain.head(),
        problem: Some(problem),
        started_at,
    };
    let walked = each_entry(store, |e| {
        chain.check(e)?;
        last_digest = e.rows_digest;
        entries += 1;
        Ok(())
    })
    .await?;
    if let Err(p) = walked {
        return Ok(fail(&chain, entries, p.to_string()));
    }
    let state = store.head_state().await?;
    if state.head != chain.head() {
        return Ok(fail(&chain, entries, head_moved(&chain, &state.head)));
    }
    let Some(want) = last_digest else {
        return verify_journal(store).await;
    };
    if state.rows_digest != Some(want) {
        return Ok(fail(
            &chain,
            entries,
            "the rows digest recorded beside the journal is not its head entry's (the journal head was altered)".into(),
        ));
    }
    tracing::debug!(entries, "journal chain walked");
    let got = store.compute_rows_digest().await?;
    tracing::debug!("rows digest computed");
    if got != want {
        return Ok(fail(
            &chain,
            entries,
            JournalProblem::RowsDiffer {
                seq: chain.head().head_seq,
            }
            .to_string(),
        ));
    }
    let counts = store.counts().await?;
    Ok(JournalReport {
        ok: true,
        entries,
        rows_checked: (counts.accounts
            + counts.transactions
            + counts.categories
            + counts.users
            + counts.import_batches) as u64,
        head: chain.head(),
        problem: None,
        started_at,
    })
}
