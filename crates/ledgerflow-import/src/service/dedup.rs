//! Deciding duplicates (step 4): the scanned rows against the stored keys of the account over
//! the file's dates, both sorted by fingerprint and merged; then a sweep over (amount, day) for
//! near matches, whose stored texts alone are fetched. Runs only for an account with history.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{Datelike, Days};
use ledgerflow_core::Store;
use ledgerflow_core::fingerprint::normalize_text;
use ledgerflow_core::model::DedupKey;
use tracing::debug;

use super::error::ImportError;
use super::report::{Decision, ImportSummary};
use super::scan::{NO_ID, Scan, Scanned, id_hash, run_scan};
use super::write::WritePlan;
use super::{ImportOptions, Progress};

/// How far apart (days) two rows may be and still be a near match.
const NEAR_DAYS: i32 = 3;
/// Stored rows compared with one new row for a near match, at most.
const MAX_NEAR_PER_ROW: usize = 16;

/// Steps 3 and 4 for an account with history: scans the file, refuses it on bad rows (unless
/// `skip_invalid`), decides every row against the stored keys and fetches the texts of near
/// matches; the write plan and the summary take the outcome.
pub(super) async fn settle_duplicates(
    store: &dyn Store,
    plan: &mut WritePlan,
    opts: &ImportOptions,
    progress: &Arc<dyn Progress>,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    let file = plan.file.clone();
    let file = file.as_str();
    let account = Arc::new(plan.account.clone());
    let rows = std::mem::replace(&mut plan.rows, super::rows::Rows::empty());
    let (scan, rows_back) = run_scan(rows, file, &account, progress)
        .await
        .map_err(|e| ImportError::task(file, e))?;
    plan.rows = rows_back;
    let scan = scan.map_err(|e| e.into_import(file))?;
    if scan.sha.as_ref().is_some_and(|s| *s != plan.expect_sha) {
        return Err(ImportError::changed(file));
    }
    if scan.bad_count > 0 && !opts.skip_invalid {
        return Err(ImportError::bad_rows(
            file,
            &scan.bad,
            scan.bad_count,
            scan.rows_read,
        ));
    }
    debug!(rows = scan.rows.len(), "file scanned");
    let mut stored = Stored::default();
    if let (Some(first), Some(last)) = (scan.first, scan.last) {
        progress.phase("matching", 0);
        store
            .scan_dedup_keys(
                account.id,
                first.checked_sub_days(Days::new(7)).unwrap_or(first),
                last.checked_add_days(Days::new(7)).unwrap_or(last),
                &mut |k| stored.add(k),
            )
            .await?;
    }
    debug!("stored keys read");
    let include_deleted = opts.include_deleted;
    let (scan, decided) = tokio::task::spawn_blocking(move || {
        let d = decide(&scan, stored, include_deleted);
        (scan, d)
    })
    .await
    .map_err(|e| ImportError::task(file, e))?;
    let mut near_ids: Vec<i64> = decided.near.iter().map(|(_, id)| *id).collect();
    near_ids.sort_unstable();
    near_ids.dedup();
    if !near_ids.is_empty() {
        plan.texts = store.payee_texts(&near_ids).await?.into_iter().collect();
    }
    debug!(
        rows = scan.rows.len(),
        near = decided.near.len(),
        "duplicates decided"
    );
    plan.decisions = Some(decided.decisions);
    plan.near = decided.near;
    plan.expect_rows = scan.rows.len();
    plan.rows_read = scan.rows_read;
    plan.skipped = scan.bad_count;
    summary.skipped_rows = scan.bad;
    summary.warnings.extend(scan.passed.warning());
    Ok(())
}

/// Word overlap of two payees, 0..=1, after normalisation.
pub(super) fn similarity(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> HashSet<String> {
        normalize_text(s)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 1)
            .map(str::to_string)
            .collect()
    };
    let (wa, wb) = (words(a), words(b));
    if wa.is_empty() || wb.is_empty() {
        return 0.0;
    }
    let common = wa.intersection(&wb).count() as f64;
    common / wa.len().min(wb.len()) as f64
}

/// Which stored occurrences a fingerprint has.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pool {
    /// Live rows that carry a bank id.
    LiveWithId,
    /// Live rows without one (typed by hand, or from a format without ids).
    LiveNoId,
    /// Tombstones of rows the user deleted.
    Dead,
}

/// The stored side, compact.
#[derive(Default)]
struct Stored {
    fingerprints: Vec<([u8; 16], Pool)>,
    live_ids: HashSet<[u8; 16]>,
    dead_ids: HashSet<[u8; 16]>,
    /// Live rows for near matches: (amount, day, id, first 8 bytes of the fingerprint).
    near: Vec<(i64, i32, i64, u64)>,
}

fn fp_prefix(fp: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&fp[..8]);
    u64::from_le_bytes(b)
}

impl Stored {
    fn add(&mut self, k: DedupKey) {
        let ext = k
            .external_id
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(id_hash);
        let pool = match (k.deleted, ext.is_some()) {
            (true, _) => Pool::Dead,
            (false, true) => Pool::LiveWithId,
            (false, false) => Pool::LiveNoId,
        };
        if let Some(e) = ext {
            if k.deleted {
                self.dead_ids.insert(e);
            } else {
                self.live_ids.insert(e);
            }
        }
        if !k.deleted {
            self.near.push((
                k.amount_minor,
                k.posted_date.num_days_from_ce(),
                k.id,
                fp_prefix(&k.fingerprint),
            ));
        }
        self.fingerprints.push((k.fingerprint, pool));
    }
}

struct Decided {
    /// Per scanned row, in file order.
    decisions: Vec<Decision>,
    /// (scanned row, stored id) pairs to compare texts for, sorted by row.
    near: Vec<(u32, i64)>,
}
/// Settles every scanned row against the stored keys (see [`settle`]), then looks for near
/// matches among the rows left new (see [`near_matches`]).
fn decide(scan: &Scan, mut stored: Stored, include_deleted: bool) -> Decided {
    let decisions = settle(scan, &mut stored, include_deleted);
    let near = near_matches(&scan.rows, &decisions, &mut stored.near);
    Decided { decisions, near }
}

/// Settles every scanned row against the stored keys. Rows are grouped by fingerprint (both
/// lists sorted, then merged): within a group, rows whose unique bank id is stored (or deleted)
/// are settled first, then the others in file order, each taking one stored occurrence if one is
/// left. Rows left `New` are then swept against stored rows of the same amount a few days apart.
fn settle(scan: &Scan, stored: &mut Stored, include_deleted: bool) -> Vec<Decision> {
    let rows = &scan.rows;
    // Bank ids that occur exactly once in the file decide by themselves.
    let mut id_counts: HashMap<[u8; 16], u32> = HashMap::new();
    for e in &scan.ext_ids {
        *id_counts.entry(*e).or_default() += 1;
    }
    let unique_id = |r: &Scanned| -> Option<[u8; 16]> {
        (r.ext != NO_ID)
            .then(|| scan.ext_ids[r.ext as usize])
            .filter(|e| id_counts.get(e) == Some(&1))
    };
    // (fingerprint, row) pairs, sorted: each fingerprint's rows together, in file order.
    let mut order: Vec<([u8; 16], u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.fingerprint, i as u32))
        .collect();
    order.sort_unstable();
    stored.fingerprints.sort_unstable();
    let mut decisions = vec![Decision::New; rows.len()];
    let mut settled = vec![false; rows.len()];
    let mut si = 0;
    let mut gi = 0;
    while gi < order.len() {
        let fp = order[gi].0;
        let mut ge = gi;
        while ge < order.len() && order[ge].0 == fp {
            ge += 1;
        }
        while si < stored.fingerprints.len() && stored.fingerprints[si].0 < fp {
            si += 1;
        }
        let (mut with_id, mut no_id, mut dead) = (0usize, 0usize, 0usize);
        while si < stored.fingerprints.len() && stored.fingerprints[si].0 == fp {
            match stored.fingerprints[si].1 {
                Pool::LiveWithId => with_id += 1,
                Pool::LiveNoId => no_id += 1,
                Pool::Dead => dead += 1,
            }
            si += 1;
        }
        let take = |n: &mut usize| {
            if *n > 0 {
                *n -= 1;
                true
            } else {
                false
            }
        };
        let group = &order[gi..ge];
        // First the rows whose bank id is already stored: each is that stored row, which then
        // cannot match another row of the file, whatever their order.
        for &(_, i) in group {
            let i = i as usize;
            let Some(id) = unique_id(&rows[i]) else {
                continue;
            };
            if stored.live_ids.contains(&id) {
                take(&mut with_id);
                decisions[i] = Decision::Duplicate;
                settled[i] = true;
            } else if stored.dead_ids.contains(&id) && !include_deleted {
                take(&mut dead);
                decisions[i] = Decision::Deleted;
                settled[i] = true;
            }
        }
        for &(_, i) in group {
            let i = i as usize;
            if settled[i] {
                continue;
            }
            decisions[i] = if unique_id(&rows[i]).is_some() {
                // A stored row without a bank id (typed by hand) with the same fingerprint is
                // this row; a stored row with another bank id is a different transaction.
                if !include_deleted && take(&mut dead) {
                    Decision::Deleted
                } else if take(&mut no_id) {
                    Decision::Duplicate
                } else {
                    Decision::New
                }
            } else if take(&mut no_id) || take(&mut with_id) {
                Decision::Duplicate
            } else if !include_deleted && take(&mut dead) {
                Decision::Deleted
            } else {
                Decision::New
            };
        }
        gi = ge;
    }
    decisions
}

/// Near matches: new rows and live stored rows, both in (amount, day) order, swept together.
/// Returns (scanned row, stored id) pairs, sorted by row.
fn near_matches(
    rows: &[Scanned],
    decisions: &[Decision],
    stored_near: &mut [(i64, i32, i64, u64)],
) -> Vec<(u32, i64)> {
    let mut fresh: Vec<u32> = (0..rows.len() as u32)
        .filter(|i| decisions[*i as usize] == Decision::New)
        .collect();
    let mut near = Vec::new();
    if !stored_near.is_empty() && !fresh.is_empty() {
        let key = |i: &u32| {
            let r = &rows[*i as usize];
            (r.amount_minor, r.day)
        };
        fresh.sort_unstable_by_key(key);
        stored_near.sort_unstable();
        let mut lo = 0;
        for i in fresh {
            let r = &rows[i as usize];
            let from = (r.amount_minor, r.day - NEAR_DAYS);
            while lo < stored_near.len() && (stored_near[lo].0, stored_near[lo].1) < from {
                lo += 1;
            }
            let prefix = fp_prefix(&r.fingerprint);
            let mut found = 0;
            for &(amount, day, id, fp) in &stored_near[lo..] {
                if amount != r.amount_minor || day > r.day + NEAR_DAYS {
                    break;
                }
                if fp != prefix {
                    near.push((i, id));
                    found += 1;
                    if found == MAX_NEAR_PER_ROW {
                        break;
                    }
                }
            }
        }
        near.sort_unstable();
    }
    near
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn scan_of(rows: &[(u8, Option<&str>)]) -> Scan {
        let mut s = Scan {
            rows_read: rows.len(),
            ..Scan::default()
        };
        for (fp, id) in rows {
            let ext = match id {
                Some(id) => {
                    s.ext_ids.push(id_hash(id));
                    (s.ext_ids.len() - 1) as u32
                }
                None => NO_ID,
            };
            s.rows.push(Scanned {
                fingerprint: [*fp; 16],
                amount_minor: -450,
                day: 738_000,
                ext,
            });
        }
        s
    }

    fn stored_of(keys: &[(u8, Option<&str>, bool)]) -> Stored {
        let mut s = Stored::default();
        for (i, (fp, id, deleted)) in keys.iter().enumerate() {
            s.add(DedupKey {
                id: i as i64 + 1,
                posted_date: NaiveDate::from_num_days_from_ce_opt(738_000).expect("d"),
                amount_minor: -450,
                fingerprint: [*fp; 16],
                external_id: id.map(str::to_string),
                deleted: *deleted,
            });
        }
        s
    }

    #[test]
    fn a_bank_id_match_is_not_also_used_by_an_identical_row() {
        let d = decide(
            &scan_of(&[(1, Some("X")), (1, None)]),
            stored_of(&[(1, Some("X"), false)]),
            false,
        );
        assert_eq!(d.decisions, vec![Decision::Duplicate, Decision::New]);
        let d = decide(
            &scan_of(&[(1, None), (1, Some("X"))]),
            stored_of(&[(1, Some("X"), false)]),
            false,
        );
        assert_eq!(
            d.decisions,
            vec![Decision::New, Decision::Duplicate],
            "the id decides, whatever the order"
        );
    }

    #[test]
    fn a_deleted_row_stays_deleted_even_when_the_file_has_bank_ids() {
        let d = decide(
            &scan_of(&[(1, Some("Y"))]),
            stored_of(&[(1, None, true)]),
            false,
        );
        assert_eq!(d.decisions, vec![Decision::Deleted]);
        let d = decide(
            &scan_of(&[(1, Some("Y"))]),
            stored_of(&[(1, None, true)]),
            true,
        );
        assert_eq!(d.decisions, vec![Decision::New]);
    }

    #[test]
    fn occurrences_beyond_the_stored_ones_are_new() {
        // Three identical coffees in the file, two stored: one is new, whatever the order of
        // the other fingerprints around them.
        let d = decide(
            &scan_of(&[(5, None), (1, None), (5, None), (9, None), (5, None)]),
            stored_of(&[(5, None, false), (9, None, false), (5, None, false)]),
            false,
        );
        assert_eq!(
            d.decisions,
            vec![
                Decision::Duplicate,
                Decision::New,
                Decision::Duplicate,
                Decision::Duplicate,
                Decision::New
            ]
        );
        // The new rows are near the stored ones (same amount and day, other fingerprint).
        let rows: Vec<u32> = d.near.iter().map(|(r, _)| *r).collect();
        assert!(rows.contains(&1) && rows.contains(&4), "{:?}", d.near);
        assert!(
            !d.near
                .iter()
                .any(|(r, id)| *r == 4 && (*id == 1 || *id == 3)),
            "the same fingerprint is not a near match of itself"
        );
    }

    #[test]
    fn similarity_is_word_overlap() {
        assert!(similarity("BLUE BOTTLE COFFEE #12", "Blue Bottle Coffee") >= 0.99);
        assert!(similarity("AMAZON MKTPLACE", "SAFEWAY") < 0.5);
        assert_eq!(similarity("", "x"), 0.0);
    }
}
