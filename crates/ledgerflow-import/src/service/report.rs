//! What an import reports: per row (a dry run's [`RowDecision`]s) and per file
//! ([`ImportSummary`]), and the file's name as a label of at most [`MAX_FILE_NAME`] characters.

use std::borrow::Cow;

use chrono::NaiveDate;
use ledgerflow_core::model::Account;
use serde::Serialize;

use super::source::Identity;
use super::write::Written;
use crate::model::Format;

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
    /// The page, in a PDF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
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
    /// How the file was read, where that took judgment (see `ParsedFile::evidence`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    pub warnings: Vec<String>,
    pub batch_id: Option<i64>,
    /// The batch that already imported this very file, when it is a no-op.
    pub already_imported: Option<i64>,
    pub dry_run: bool,
    pub duration_ms: u128,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<RowDecision>,
}

impl ImportSummary {
    /// An empty summary of importing `file` into `account`.
    pub(super) fn new(file: &str, account: &Account, dry_run: bool) -> Self {
        ImportSummary {
            file: file.to_string(),
            format: None,
            account: account.name.clone(),
            rows_read: 0,
            new: 0,
            duplicates: 0,
            flagged: 0,
            skipped: 0,
            deleted: 0,
            skipped_rows: Vec::new(),
            evidence: Vec::new(),
            warnings: Vec::new(),
            batch_id: None,
            already_imported: None,
            dry_run,
            duration_ms: 0,
            decisions: Vec::new(),
        }
    }

    /// The very same file was imported into the account before, as batch `batch`: a no-op.
    pub(super) fn already_imported(&mut self, batch: i64, id: &Identity, account: &Account) {
        self.already_imported = Some(batch);
        self.format = crate::detect(&id.head);
        self.warnings.push(format!(
            "this very file (SHA-256 {}) was already imported into \"{}\" as batch {}: nothing to do",
            &id.sha[..12],
            account.name,
            batch
        ));
    }

    /// Takes the write pass's counts. `bad_rows_found` when that pass found the bad rows (an
    /// account without history); otherwise the scan did and they are already here.
    pub(super) fn take(&mut self, outcome: Written, bad_rows_found: bool, batch: Option<i64>) {
        self.rows_read = outcome.rows_read;
        self.skipped = outcome.skipped;
        if bad_rows_found {
            self.skipped_rows = outcome.bad;
            // The scan that warns of them did not run: this pass counted them.
            self.warnings.extend(outcome.passed_over.warning());
        }
        if self.skipped > self.skipped_rows.len() {
            self.skipped_rows.push(format!(
                "... and {} more",
                self.skipped - self.skipped_rows.len()
            ));
        }
        self.new = outcome.new;
        self.flagged = outcome.flagged;
        self.duplicates = outcome.duplicates;
        self.deleted = outcome.deleted;
        self.decisions = outcome.decisions;
        self.batch_id = batch;
        if self.deleted > 0 {
            self.warnings.push(format!(
                "{} rows match transactions you deleted and were not brought back (--include-deleted brings them back)",
                self.deleted
            ));
        }
    }
}

/// Longest file name kept, in characters: the batch's label, the summary and messages use it.
pub const MAX_FILE_NAME: usize = 255;

/// A file name as a label: control characters replaced, cut to [`MAX_FILE_NAME`] characters
/// (the last one an ellipsis when it was longer).
pub fn file_label(name: &str) -> Cow<'_, str> {
    let long = name.char_indices().nth(MAX_FILE_NAME).is_some();
    if !long && !name.chars().any(char::is_control) {
        return Cow::Borrowed(name);
    }
    let mut out: String = name
        .chars()
        .take(if long {
            MAX_FILE_NAME - 1
        } else {
            MAX_FILE_NAME
        })
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if long {
        out.push('…');
    }
    Cow::Owned(out)
}
