//! The import service: a parsed file becomes one import batch, with duplicates decided right in
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
//! - Bad rows refuse the whole file (nothing is written) unless `skip_invalid`.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{Days, NaiveDate};
use ledgerflow_core::fingerprint::{fingerprint_hex, normalize_text};
use ledgerflow_core::model::{Account, Actor, DedupKey, NewImportBatch, NewTransaction, TxStatus};
use ledgerflow_core::{Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::model::{Format, ParsedTxn};
use crate::qif::DateOrder;

/// How far apart (days) two rows may be and still be a near match.
const NEAR_DAYS: i64 = 3;

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
        }
    }
}

/// What happened to one row of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    New,
    /// New, but flagged for review: it resembles a stored row.
    Flagged,
    Duplicate,
    /// The user deleted this transaction before; not brought back.
    Deleted,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowDecision {
    pub line: usize,
    pub date: NaiveDate,
    pub amount_minor: i64,
    pub payee: String,
    pub decision: Decision,
}

/// The outcome of importing one file. `flagged` rows are part of `new`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub file: String,
    pub format: Option<Format>,
    pub account: String,
    pub rows_read: usize,
    pub new: usize,
    pub duplicates: usize,
    pub flagged: usize,
    pub skipped: usize,
    /// Rows not brought back because the user deleted them.
    pub deleted: usize,
    pub skipped_rows: Vec<String>,
    pub warnings: Vec<String>,
    pub batch_id: Option<i64>,
    /// The batch that already imported this very file, when it is a no-op.
    pub already_imported: Option<i64>,
    pub dry_run: bool,
    pub duration_ms: u128,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<RowDecision>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as a whole.
    #[error(transparent)]
    Parse(#[from] crate::model::ParseError),
    /// Rows that cannot be imported, and no `skip_invalid`: nothing was written.
    #[error("{file}: {first}{more} (nothing was imported; --skip-invalid imports the good rows)")]
    BadRows {
        file: String,
        first: String,
        more: String,
    },
    /// A question only the user can answer (which statement, which account).
    #[error("{0}")]
    Ambiguous(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Word overlap of two payees, 0..=1, after normalisation.
fn similarity(a: &str, b: &str) -> f64 {
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

struct Candidate {
    row: NewTransaction,
    fingerprint: String,
    line: usize,
}

/// Imports one file's bytes into `account`.
#[instrument(skip_all, fields(file = file_name, account = %account.name))]
pub async fn import_file(
    store: &dyn Store,
    actor: &Actor,
    account: &Account,
    file_name: &str,
    bytes: &[u8],
    opts: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let sha = sha256_hex(bytes);
    let mut summary = ImportSummary {
        file: file_name.to_string(),
        format: None,
        account: account.name.clone(),
        rows_read: 0,
        new: 0,
        duplicates: 0,
        flagged: 0,
        skipped: 0,
        deleted: 0,
        skipped_rows: Vec::new(),
        warnings: Vec::new(),
        batch_id: None,
        already_imported: None,
        dry_run: opts.dry_run,
        duration_ms: 0,
        decisions: Vec::new(),
    };
    if let Some(b) = store.find_import(account.id, &sha).await? {
        summary.already_imported = Some(b.id);
        summary.format = crate::detect(bytes);
        summary.warnings.push(format!(
            "this very file (SHA-256 {}) was already imported into \"{}\" as batch {}: nothing to do",
            &sha[..12],
            account.name,
            b.id
        ));
        summary.duration_ms = started.elapsed().as_millis();
        return Ok(summary);
    }
    let format = match opts
        .format
        .or_else(|| opts.profile.as_ref().map(|_| Format::Csv))
        .or_else(|| crate::detect(bytes))
    {
        Some(f) => f,
        None => {
            return Err(crate::parse(bytes, file_name, None).err().map_or_else(
                || ImportError::Ambiguous(format!("{file_name}: the format is not recognised")),
                ImportError::Parse,
            ));
        }
    };
    let parsed = match format {
        Format::Qif => crate::qif::parse(bytes, file_name, opts.date_order)?,
        Format::Csv => crate::csv::parse(bytes, file_name, opts.profile.as_ref())?,
        f => crate::parse(bytes, file_name, Some(f))?,
    };
    summary.format = Some(parsed.format);
    summary.warnings.extend(parsed.warnings.iter().cloned());

    // Which statement goes into this account.
    let with_rows: Vec<&crate::model::Statement> = parsed
        .statements
        .iter()
        .filter(|s| !s.transactions.is_empty())
        .collect();
    let chosen: Vec<&crate::model::Statement> = match &opts.statement {
        Some(id) => {
            let picked: Vec<_> = parsed
                .statements
                .iter()
                .filter(|s| s.account.as_deref() == Some(id.as_str()))
                .collect();
            if picked.is_empty() {
                return Err(ImportError::Ambiguous(format!(
                    "{file_name}: no statement for account \"{id}\" in the file"
                )));
            }
            picked
        }
        None if with_rows.len() > 1 => {
            let ids: Vec<String> = with_rows
                .iter()
                .map(|s| s.account.clone().unwrap_or_else(|| "?".into()))
                .collect();
            return Err(ImportError::Ambiguous(format!(
                "{file_name} holds {} statements (accounts {}): import one with --statement ACCOUNT_ID",
                with_rows.len(),
                ids.join(", ")
            )));
        }
        None => with_rows,
    };

    let mut bad: Vec<String> = parsed.errors.iter().map(ToString::to_string).collect();
    let mut candidates = Vec::new();
    let source = match &parsed.profile {
        Some(p) => format!("{}_csv", p.replace('-', "_")),
        None => parsed.format.as_str().to_string(),
    };
    for st in chosen {
        for t in &st.transactions {
            summary.rows_read += 1;
            match candidate(account, st.currency.as_deref(), t, &source) {
                Ok(c) => candidates.push(c),
                Err(e) => bad.push(format!("line {}: {e}", t.line)),
            }
        }
    }
    summary.rows_read += parsed.errors.len();
    if !bad.is_empty() {
        if !opts.skip_invalid {
            let more = if bad.len() > 1 {
                format!(" (and {} more bad rows)", bad.len() - 1)
            } else {
                String::new()
            };
            return Err(ImportError::BadRows {
                file: file_name.to_string(),
                first: bad[0].clone(),
                more,
            });
        }
        summary.skipped = bad.len();
        summary.skipped_rows = bad;
    }

    let decisions = if candidates.is_empty() {
        Vec::new()
    } else {
        let from = candidates
            .iter()
            .map(|c| c.row.posted_date)
            .min()
            .unwrap_or_default();
        let to = candidates
            .iter()
            .map(|c| c.row.posted_date)
            .max()
            .unwrap_or_default();
        let keys = store
            .dedup_keys(
                account.id,
                from.checked_sub_days(Days::new(7)).unwrap_or(from),
                to.checked_add_days(Days::new(7)).unwrap_or(to),
            )
            .await?;
        decide(&candidates, &keys, opts.include_deleted)
    };
    let mut new_rows = Vec::new();
    for (c, d) in candidates.into_iter().zip(&decisions) {
        match d {
            Decision::New => summary.new += 1,
            Decision::Flagged => {
                summary.new += 1;
                summary.flagged += 1;
            }
            Decision::Duplicate => summary.duplicates += 1,
            Decision::Deleted => summary.deleted += 1,
        }
        if opts.dry_run {
            summary.decisions.push(RowDecision {
                line: c.line,
                date: c.row.posted_date,
                amount_minor: c.row.amount_minor,
                payee: c.row.payee.clone(),
                decision: *d,
            });
        }
        if matches!(d, Decision::New | Decision::Flagged) {
            let mut row = c.row;
            row.needs_review = *d == Decision::Flagged;
            new_rows.push(row);
        }
    }
    if summary.deleted > 0 {
        summary.warnings.push(format!(
            "{} rows match transactions you deleted and were not brought back (--include-deleted brings them back)",
            summary.deleted
        ));
    }
    if !opts.dry_run {
        let batch = store
            .create_import(
                actor,
                NewImportBatch {
                    account_id: account.id,
                    file_name: file_name.to_string(),
                    file_sha256: sha,
                    format: source,
                    rows_read: summary.rows_read as i64,
                    rows_new: summary.new as i64,
                    rows_duplicate: summary.duplicates as i64,
                    rows_flagged: summary.flagged as i64,
                    rows_skipped: (summary.skipped + summary.deleted) as i64,
                },
                new_rows,
            )
            .await?;
        summary.batch_id = Some(batch.id);
    }
    summary.duration_ms = started.elapsed().as_millis();
    Ok(summary)
}

fn candidate(
    account: &Account,
    statement_currency: Option<&str>,
    t: &ParsedTxn,
    source: &str,
) -> Result<Candidate, String> {
    if let Some(code) = t.currency.as_deref().or(statement_currency) {
        let code = code.trim().to_ascii_uppercase();
        if !code.is_empty() && code != "XXX" && code != account.currency.code() {
            return Err(format!(
                "the amount is in {code} but account \"{}\" is in {}",
                account.name, account.currency
            ));
        }
    }
    let amount_minor = account
        .currency
        .decimal_to_minor(t.amount, &t.amount.to_string())
        .map_err(|e| e.to_string())?;
    // Control characters (a NUL from `&#0;`, say) are dropped: PostgreSQL refuses NUL in text.
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect::<String>()
            .trim()
            .to_string()
    };
    let payee = clean(&t.payee);
    let fingerprint = fingerprint_hex(account.id, t.date, amount_minor, &payee, "");
    Ok(Candidate {
        row: NewTransaction {
            account_id: account.id,
            posted_date: t.date,
            amount_minor,
            currency: account.currency,
            payee,
            description: String::new(),
            memo: clean(&t.memo),
            category_id: None,
            status: TxStatus::Cleared,
            source: source.to_string(),
            import_batch_id: None,
            external_id: t
                .external_id
                .as_deref()
                .map(clean)
                .filter(|e| !e.is_empty()),
            transfer_id: None,
            needs_review: false,
        },
        fingerprint,
        line: t.line,
    })
}

/// The decision for each candidate, in file order.
fn decide(candidates: &[Candidate], keys: &[DedupKey], include_deleted: bool) -> Vec<Decision> {
    // Bank ids that occur exactly once in the file decide by themselves.
    let mut id_counts: HashMap<&str, usize> = HashMap::new();
    for c in candidates {
        if let Some(e) = c.row.external_id.as_deref() {
            *id_counts.entry(e).or_default() += 1;
        }
    }
    let unique_id = |c: &'_ Candidate| -> Option<String> {
        c.row
            .external_id
            .clone()
            .filter(|e| id_counts.get(e.as_str()) == Some(&1))
    };
    let stored_ids: HashSet<&str> = keys
        .iter()
        .filter(|k| !k.deleted)
        .filter_map(|k| k.external_id.as_deref())
        .collect();
    let deleted_ids: HashSet<&str> = keys
        .iter()
        .filter(|k| k.deleted)
        .filter_map(|k| k.external_id.as_deref())
        .collect();
    // Stored occurrences per fingerprint: live rows that carry a bank id, live rows without one
    // (typed by hand, or from a format without ids), and tombstones.
    let mut live_with_id: HashMap<&str, usize> = HashMap::new();
    let mut live_no_id: HashMap<&str, usize> = HashMap::new();
    let mut dead: HashMap<&str, usize> = HashMap::new();
    for k in keys {
        let m = match (k.deleted, k.external_id.is_some()) {
            (true, _) => &mut dead,
            (false, true) => &mut live_with_id,
            (false, false) => &mut live_no_id,
        };
        *m.entry(k.fingerprint.as_str()).or_default() += 1;
    }
    // Live rows by amount, for near matches.
    let mut by_amount: HashMap<i64, Vec<&DedupKey>> = HashMap::new();
    for k in keys.iter().filter(|k| !k.deleted) {
        by_amount.entry(k.amount_minor).or_default().push(k);
    }
    let near_or_new = |c: &Candidate| {
        near_or_new(
            c,
            by_amount
                .get(&c.row.amount_minor)
                .map(Vec::as_slice)
                .unwrap_or(&[]),
        )
    };
    fn take(pool: &mut HashMap<&str, usize>, fp: &str) -> bool {
        match pool.get_mut(fp) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
    // First the rows whose bank id is already stored: each is that stored row, which then cannot
    // match another row of the file, whatever their order.
    let mut decisions: Vec<Option<Decision>> = candidates
        .iter()
        .map(|c| {
            let id = unique_id(c)?;
            if stored_ids.contains(id.as_str()) {
                take(&mut live_with_id, &c.fingerprint);
                return Some(Decision::Duplicate);
            }
            if deleted_ids.contains(id.as_str()) && !include_deleted {
                take(&mut dead, &c.fingerprint);
                return Some(Decision::Deleted);
            }
            None
        })
        .collect();
    for (c, d) in candidates.iter().zip(decisions.iter_mut()) {
        if d.is_some() {
            continue;
        }
        *d = Some(if unique_id(c).is_some() {
            // A stored row without a bank id (typed by hand) with the same fingerprint is this
            // row; a stored row with another bank id is a different transaction.
            if !include_deleted && take(&mut dead, &c.fingerprint) {
                Decision::Deleted
            } else if take(&mut live_no_id, &c.fingerprint) {
                Decision::Duplicate
            } else {
                near_or_new(c)
            }
        } else if take(&mut live_no_id, &c.fingerprint) || take(&mut live_with_id, &c.fingerprint) {
            Decision::Duplicate
        } else if !include_deleted && take(&mut dead, &c.fingerprint) {
            Decision::Deleted
        } else {
            near_or_new(c)
        });
    }
    decisions
        .into_iter()
        .map(|d| d.unwrap_or(Decision::New))
        .collect()
}

/// `same_amount`: the live stored rows with the candidate's amount.
fn near_or_new(c: &Candidate, same_amount: &[&DedupKey]) -> Decision {
    let near = same_amount.iter().any(|k| {
        k.fingerprint != c.fingerprint
            && (k.posted_date - c.row.posted_date).num_days().abs() <= NEAR_DAYS
            && similarity(&k.text, &c.row.payee) >= 0.5
    });
    if near {
        Decision::Flagged
    } else {
        Decision::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(fp: &str, id: Option<&str>) -> Candidate {
        Candidate {
            row: NewTransaction {
                account_id: 1,
                posted_date: NaiveDate::from_ymd_opt(2024, 1, 5).expect("d"),
                amount_minor: -450,
                currency: ledgerflow_core::Currency::USD,
                payee: "COFFEE".into(),
                description: String::new(),
                memo: String::new(),
                category_id: None,
                status: TxStatus::Cleared,
                source: "test".into(),
                import_batch_id: None,
                external_id: id.map(str::to_string),
                transfer_id: None,
                needs_review: false,
            },
            fingerprint: fp.into(),
            line: 1,
        }
    }

    fn key(fp: &str, id: Option<&str>, deleted: bool) -> DedupKey {
        DedupKey {
            posted_date: NaiveDate::from_ymd_opt(2024, 1, 5).expect("d"),
            amount_minor: -450,
            fingerprint: fp.into(),
            external_id: id.map(str::to_string),
            text: "COFFEE".into(),
            deleted,
        }
    }

    #[test]
    fn a_bank_id_match_is_not_also_used_by_an_identical_row() {
        let d = decide(
            &[cand("F", Some("X")), cand("F", None)],
            &[key("F", Some("X"), false)],
            false,
        );
        assert_eq!(d, vec![Decision::Duplicate, Decision::New]);
        let d = decide(
            &[cand("F", None), cand("F", Some("X"))],
            &[key("F", Some("X"), false)],
            false,
        );
        assert_eq!(
            d,
            vec![Decision::New, Decision::Duplicate],
            "the id decides, whatever the order"
        );
    }

    #[test]
    fn a_deleted_row_stays_deleted_even_when_the_file_has_bank_ids() {
        let d = decide(&[cand("F", Some("Y"))], &[key("F", None, true)], false);
        assert_eq!(d, vec![Decision::Deleted]);
        let d = decide(&[cand("F", Some("Y"))], &[key("F", None, true)], true);
        assert_eq!(d, vec![Decision::New]);
    }

    #[test]
    fn similarity_is_word_overlap() {
        assert!(similarity("BLUE BOTTLE COFFEE #12", "Blue Bottle Coffee") >= 0.99);
        assert!(similarity("AMAZON MKTPLACE", "SAFEWAY") < 0.5);
        assert_eq!(similarity("", "x"), 0.0);
    }
}
