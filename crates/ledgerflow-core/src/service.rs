//! Ledger operations shared by the CLI and the web: name resolution, validation, and the
//! journal check. They work on any [`Store`].

use serde::Serialize;
use tracing::instrument;

use crate::error::{CoreError, ValidationError};
use crate::journal::{ChainCheck, Entity, JournalHead, JournalProblem, Replay, RowsDigest};
use crate::model::*;
use crate::store::{JournalFilter, Store, StoreError};

/// Separator of category paths ("Food:Groceries").
pub const CATEGORY_SEP: char = ':';

/// Looks an account up by its exact name.
pub async fn account_by_name(store: &dyn Store, name: &str) -> Result<Account, CoreError> {
    store
        .find_account(name.trim())
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("unknown account \"{name}\"")))
}

/// A date as the user typed it (YYYY-MM-DD); `what` names the field in the error.
pub fn parse_date(what: &str, s: &str) -> Result<chrono::NaiveDate, ValidationError> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        ValidationError::new(format!(
            "{what} \"{s}\" is not a valid date (use YYYY-MM-DD)"
        ))
    })
}

/// Longest payee or description, and longest memo, in characters.
pub const MAX_TEXT: usize = 500;
pub const MAX_MEMO: usize = 4_000;

/// Checks a payee, description or memo (length, no control characters) and trims it.
pub fn check_text(what: &str, s: &str) -> Result<String, ValidationError> {
    let limit = if what == "memo" { MAX_MEMO } else { MAX_TEXT };
    if s.chars().count() > limit {
        return Err(ValidationError::new(format!(
            "{what} is longer than {limit} characters"
        )));
    }
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ValidationError::new(format!(
            "{what} \"{}\" contains control characters",
            s.escape_debug()
        )));
    }
    Ok(s.trim().to_string())
}

/// Transactions of an archived account are frozen until it is unarchived.
pub async fn refuse_if_archived(s: &dyn Store, account_id: i64) -> Result<(), CoreError> {
    let a = s.get_account(account_id).await?;
    if a.archived {
        return Err(CoreError::Refused(format!(
            "account \"{}\" is archived: unarchive it before changing its transactions",
            a.name
        )));
    }
    Ok(())
}

/// Checks a name given for an account, category or user.
/// A category's own name (creation and rename, on every face): a valid name, without the
/// path separator `:` (a subcategory is made with a parent), and not the reserved "none".
pub fn check_category_name(name: &str) -> Result<String, ValidationError> {
    let name = check_name("category", name)?;
    // The separator, or a character that looks like it.
    if name.contains([CATEGORY_SEP, '\u{FF1A}', '\u{FE55}', '\u{A789}', '\u{2236}']) {
        return Err(ValidationError::new(format!(
            "category name \"{name}\" must not contain '{CATEGORY_SEP}': choose a parent for a subcategory"
        )));
    }
    if name.eq_ignore_ascii_case("none") {
        return Err(ValidationError::new(
            "\"none\" is reserved (it means \"no category\" in filters and edits)",
        ));
    }
    Ok(name)
}

pub fn check_name(what: &str, name: &str) -> Result<String, ValidationError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(ValidationError::new(format!(
            "{what} name must not be empty"
        )));
    }
    if n.chars().count() > 200 {
        return Err(ValidationError::new(format!(
            "{what} name \"{}…\" is longer than 200 characters",
            n.chars().take(20).collect::<String>()
        )));
    }
    if n.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(ValidationError::new(format!(
            "{what} name \"{}\" contains control characters",
            n.escape_debug()
        )));
    }
    Ok(n.to_string())
}

/// Invisible characters that reorder the text around them (a name that reads as another).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks a user name: a name, of letters, digits and `. _ - @` only.
pub fn check_user_name(name: &str) -> Result<String, ValidationError> {
    let name = check_name("user", name)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(ValidationError::new(format!(
            "user name \"{name}\" may only hold letters, digits and . _ - @"
        )));
    }
    Ok(name)
}

/// The full path of every category, keyed by id ("Food:Groceries").
pub fn category_paths(all: &[Category]) -> Vec<(i64, String)> {
    let by_id: std::collections::HashMap<i64, &Category> = all.iter().map(|c| (c.id, c)).collect();
    let mut out: Vec<(i64, String)> = all
        .iter()
        .map(|c| {
            let mut parts = vec![c.name.as_str()];
            let mut cur = c.parent_id;
            let mut guard = 0;
            while let Some(p) = cur.and_then(|id| by_id.get(&id)) {
                parts.push(p.name.as_str());
                cur = p.parent_id;
                guard += 1;
                if guard > 64 {
                    break;
                }
            }
            parts.reverse();
            (c.id, parts.join(&CATEGORY_SEP.to_string()))
        })
        .collect();
    out.sort_by_key(|(_, path)| path.to_lowercase());
    out
}

/// Resolves "Food:Groceries" (a full path) or "Groceries" (a name that is unique) to a category.
pub fn resolve_category<'a>(all: &'a [Category], spec: &str) -> Result<&'a Category, CoreError> {
    let spec = spec.trim();
    let paths = category_paths(all);
    if let Some((id, _)) = paths.iter().find(|(_, p)| p.eq_ignore_ascii_case(spec)) {
        return all
            .iter()
            .find(|c| c.id == *id)
            .ok_or_else(|| CoreError::NotFound(format!("unknown category \"{spec}\"")));
    }
    let by_name: Vec<&Category> = all
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case(spec))
        .collect();
    match by_name.as_slice() {
        [one] => Ok(one),
        [] => Err(CoreError::NotFound(format!("unknown category \"{spec}\""))),
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|c| {
                    paths
                        .iter()
                        .find(|(id, _)| *id == c.id)
                        .map(|(_, p)| p.clone())
                })
                .collect();
            Err(CoreError::Invalid(ValidationError::new(format!(
                "category \"{spec}\" is ambiguous: say which of {} you mean",
                names.join(", ")
            ))))
        }
    }
}

/// `id` and the ids of every category below it.
pub fn with_descendants(all: &[Category], id: i64) -> Vec<i64> {
    let mut out = vec![id];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            all.iter()
                .filter(|c| c.parent_id == Some(parent))
                .map(|c| c.id),
        );
        i += 1;
        if out.len() > all.len() + 1 {
            break;
        }
    }
    out
}

/// Refuses a parent that would make a category its own ancestor.
pub fn check_no_cycle(all: &[Category], id: i64, new_parent: Option<i64>) -> Result<(), CoreError> {
    let mut cur = new_parent;
    let mut steps = 0;
    while let Some(p) = cur {
        if p == id {
            return Err(CoreError::Invalid(ValidationError::new(
                "a category cannot be moved under itself or one of its subcategories",
            )));
        }
        cur = all.iter().find(|c| c.id == p).and_then(|c| c.parent_id);
        steps += 1;
        if steps > 64 {
            break;
        }
    }
    Ok(())
}

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
        return Ok(fail(
            &chain,
            entries,
            0,
            format!(
                "the journal ends at entry {} but the store recorded entry {} as its head (entries were removed)",
                chain.head().head_seq,
                recorded.head_seq
            ),
        ));
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
        return Ok(fail(
            &chain,
            entries,
            format!(
                "the journal ends at entry {} but the store recorded entry {} as its head (entries were removed)",
                chain.head().head_seq,
                state.head.head_seq
            ),
        ));
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
    let got = store.compute_rows_digest().await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn cat(id: i64, name: &str, parent: Option<i64>) -> Category {
        Category {
            id,
            name: name.into(),
            parent_id: parent,
            kind: CategoryKind::Expense,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn categories_resolve_by_path_or_unique_name() {
        let all = vec![
            cat(1, "Food", None),
            cat(2, "Groceries", Some(1)),
            cat(3, "Travel", None),
            cat(4, "Food", Some(3)),
        ];
        assert_eq!(
            resolve_category(&all, "Food:Groceries").expect("path").id,
            2
        );
        assert_eq!(resolve_category(&all, "groceries").expect("name").id, 2);
        assert_eq!(resolve_category(&all, "Travel:Food").expect("path").id, 4);
        let err = resolve_category(&all, "Food")
            .expect("top-level path wins")
            .id;
        assert_eq!(err, 1);
        assert!(matches!(
            resolve_category(&all, "Rent"),
            Err(CoreError::NotFound(m)) if m == "unknown category \"Rent\""
        ));
    }

    #[test]
    fn descendants_include_every_level() {
        let all = vec![
            cat(1, "A", None),
            cat(2, "B", Some(1)),
            cat(3, "C", Some(2)),
            cat(4, "D", None),
        ];
        assert_eq!(with_descendants(&all, 1), vec![1, 2, 3]);
        assert_eq!(with_descendants(&all, 4), vec![4]);
    }

    #[test]
    fn moving_a_category_under_its_child_is_refused() {
        let all = vec![
            cat(1, "A", None),
            cat(2, "B", Some(1)),
            cat(3, "C", Some(2)),
        ];
        assert!(check_no_cycle(&all, 1, Some(3)).is_err());
        assert!(check_no_cycle(&all, 1, Some(1)).is_err());
        assert!(check_no_cycle(&all, 3, Some(1)).is_ok());
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(
            check_name("account", "  Checking ").expect("ok"),
            "Checking"
        );
        assert!(check_name("account", "   ").is_err());
        assert!(check_name("account", "a\u{7}b").is_err());
    }
}
