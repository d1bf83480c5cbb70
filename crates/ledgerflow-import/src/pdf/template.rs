//! PDF templates: what a bank's statements need that the generic reader gets wrong, in TOML
//! (like CSV profiles). Every key is optional; a template is used for a PDF whose text holds
//! every string of its `match`. Shipped templates are compiled in; users save their own in the
//! data directory (`import-templates/NAME.toml`), and those are tried first.
//!
//! ```toml
//! name = "sbi-card"
//! match = ["SBI Card", "Transaction Details"]
//! statement = "card"            # "card": charges are money out; "bank": as printed
//! date_format = "%d %b %y"      # chrono format of a row's date (no year: from the period)
//! day_first = true              # for numeric dates the rows cannot settle
//! currency = "INR"
//! skip = ["TRANSACTIONS FOR"]   # lines holding any of these are neither rows nor wrapped text
//! credit_marks = ["C", "CR"]    # words after an amount that make it money in
//! debit_marks = ["D", "DR"]
//! wrapped = true                # text lines under a row continue its description
//! reconcile = true              # check printed balances
//! [columns]                     # x ranges in points from the page's left edge
//! date = [80, 118]
//! description = [118, 340]
//! amount = [340, 385]           # or debit/credit, and balance
//! ```

use serde::{Deserialize, Serialize};

/// An x range, in points from the left edge of the page.
pub type Range = [f64; 2];

/// What the statement's amounts mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A bank account: a minus, parentheses or a debit mark is money out; a bare amount is
    /// money in, unless the statement marks its credits (then a bare amount is money out).
    Bank,
    /// A credit card: a bare amount (a charge) is money out; a minus, parentheses or a credit
    /// mark (a payment, a refund) is money in.
    Card,
}

/// Column x ranges, for statements whose columns the generic reader cannot find.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub date: Option<Range>,
    pub description: Option<Range>,
    pub amount: Option<Range>,
    pub debit: Option<Range>,
    pub credit: Option<Range>,
    pub balance: Option<Range>,
}

/// A bank's PDF template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    /// Text that must all appear in the PDF for this template to be used.
    #[serde(rename = "match", default)]
    pub matches: Vec<String>,
    pub statement: Option<Kind>,
    pub date_format: Option<String>,
    pub day_first: Option<bool>,
    pub currency: Option<String>,
    #[serde(default)]
    pub skip: Vec<String>,
    pub credit_marks: Option<Vec<String>>,
    pub debit_marks: Option<Vec<String>>,
    pub wrapped: Option<bool>,
    pub reconcile: Option<bool>,
    #[serde(default)]
    pub columns: Columns,
}

/// How many strings a template's lists may hold, and how long each may be.
const MAX_ITEMS: usize = 64;
const MAX_TEXT: usize = 200;

impl Template {
    /// Reads a template from TOML and checks it.
    pub fn from_toml(text: &str) -> Result<Template, String> {
        let t: Template = toml::from_str(text).map_err(|e| e.message().to_string())?;
        t.validate()?;
        Ok(t)
    }

    /// Checks what a hand-written template could get wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(
                "a template's name may only hold letters, digits, - and _ (at most 64)".into(),
            );
        }
        if self.matches.is_empty() {
            return Err(format!(
                "template \"{}\" needs `match`: text found only in this bank's statements",
                self.name
            ));
        }
        let lists = [
            Some(&self.matches),
            Some(&self.skip),
            self.credit_marks.as_ref(),
            self.debit_marks.as_ref(),
        ];
        for list in lists.into_iter().flatten() {
            if list.len() > MAX_ITEMS
                || list
                    .iter()
                    .any(|s| s.trim().is_empty() || s.len() > MAX_TEXT)
            {
                return Err(format!(
                    "template \"{}\": lists hold at most {MAX_ITEMS} non-empty strings of at most {MAX_TEXT} bytes",
                    self.name
                ));
            }
        }
        if let Some(f) = &self.date_format {
            // An unknown specifier would make formatting fail: refused here, never used.
            let invalid = chrono::format::StrftimeItems::new(f)
                .any(|i| matches!(i, chrono::format::Item::Error));
            if f.len() > 40 || !f.contains("%d") && !f.contains("%e") || invalid {
                return Err(format!(
                    "template \"{}\": date_format \"{}\" must be a chrono format with a day (%d)",
                    self.name,
                    crate::model::shown(f)
                ));
            }
        }
        if let Some(c) = &self.currency
            && (c.len() != 3 || !c.chars().all(|c| c.is_ascii_uppercase()))
        {
            return Err(format!(
                "template \"{}\": currency must be an ISO code such as EUR",
                self.name
            ));
        }
        let c = &self.columns;
        for (what, r) in [
            ("date", c.date),
            ("description", c.description),
            ("amount", c.amount),
            ("debit", c.debit),
            ("credit", c.credit),
            ("balance", c.balance),
        ] {
            if let Some([a, b]) = r
                && !(a.is_finite() && b.is_finite() && 0.0 <= a && a < b && b <= 5000.0)
            {
                return Err(format!(
                    "template \"{}\": columns.{what} must be [left, right] with 0 <= left < right",
                    self.name
                ));
            }
        }
        if c.amount.is_some() && (c.debit.is_some() || c.credit.is_some()) {
            return Err(format!(
                "template \"{}\": columns name either amount or debit and credit, not both",
                self.name
            ));
        }
        if c.debit.is_some() != c.credit.is_some() {
            return Err(format!(
                "template \"{}\": columns.debit and columns.credit go together",
                self.name
            ));
        }
        Ok(())
    }

    /// Whether this template is for the statement whose text is `text`.
    pub fn applies_to(&self, text: &str) -> bool {
        !self.matches.is_empty() && self.matches.iter().all(|m| text.contains(m.as_str()))
    }
}

/// The most templates, and the largest template file, read from a directory.
const MAX_FILES: usize = 200;
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The user's templates in `dir` (`NAME.toml`, regular files only: a symlink, a FIFO or a
/// directory is not followed), and one problem for each file that is not a valid template.
/// A missing directory holds none.
pub fn load_dir(dir: &std::path::Path) -> (Vec<Template>, Vec<String>) {
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (found, problems);
    };
    let mut paths: Vec<std::path::PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .take(MAX_FILES + 1)
        .collect();
    if paths.len() > MAX_FILES {
        problems.push(format!(
            "{}: more than {MAX_FILES} templates; none beyond them are read",
            dir.display()
        ));
        paths.truncate(MAX_FILES);
    }
    paths.sort();
    for path in paths {
        let shown = path.display();
        let read = crate::files::read_small(&path, MAX_FILE_BYTES)
            .and_then(|text| Template::from_toml(&text));
        match read {
            Ok(t) if path.file_stem().and_then(|s| s.to_str()) == Some(t.name.as_str()) => {
                found.push(t)
            }
            Ok(t) => problems.push(format!(
                "{shown}: the template is named \"{}\"; its file must be {}.toml",
                t.name, t.name
            )),
            Err(e) => problems.push(format!("{shown}: {e}")),
        }
    }
    (found, problems)
}

/// Checks a template written in TOML and saves it in `dir` as `NAME.toml`, whole or not at
/// all; a saved template of that name is replaced only when `replace` says so.
pub fn save(
    dir: &std::path::Path,
    text: &str,
    replace: bool,
) -> Result<(Template, std::path::PathBuf), String> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {} KiB", MAX_FILE_BYTES >> 10));
    }
    let t = Template::from_toml(text)?;
    let dest = dir.join(format!("{}.toml", t.name));
    let taken = || {
        format!(
            "a template \"{}\" is already saved ({}): choose another name, or --replace it",
            t.name,
            dest.display()
        )
    };
    crate::files::write_whole(&dest, text.as_bytes(), replace, taken)?;
    tracing::info!(template = %t.name, path = %dest.display(), "PDF template saved");
    Ok((t, dest))
}

/// The templates LedgerFlow ships (`templates/pdf/`), as TOML.
const SHIPPED: &[&str] = &[include_str!("../../templates/pdf/sbi-card.toml")];

/// The templates LedgerFlow ships.
pub fn shipped() -> Vec<Template> {
    SHIPPED
        .iter()
        .filter_map(|t| Template::from_toml(t).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_templates_are_valid() {
        for text in SHIPPED {
            Template::from_toml(text).expect("a shipped template reads");
        }
        assert!(!shipped().is_empty());
    }

    #[test]
    fn bad_templates_are_refused_with_their_reason() {
        for (toml, why) in [
            ("name = \"../x\"\nmatch = [\"A\"]", "name"),
            ("name = \"x\"", "match"),
            ("name = \"x\"\nmatch = [\"\"]", "non-empty"),
            ("name = \"x\"\nmatch = [\"A\"]\ndate_format = \"%Y\"", "day"),
            (
                "name = \"x\"\nmatch = [\"A\"]\ndate_format = \"%d %Q\"",
                "day",
            ),
            ("name = \"x\"\nmatch = [\"A\"]\ncurrency = \"euro\"", "ISO"),
            (
                "name = \"x\"\nmatch = [\"A\"]\n[columns]\ndate = [50, 10]",
                "left < right",
            ),
            (
                "name = \"x\"\nmatch = [\"A\"]\n[columns]\ndebit = [1, 10]",
                "together",
            ),
            ("name = \"x\"\nmatch = [\"A\"]\nbogus = 1", "unknown field"),
        ] {
            let e = Template::from_toml(toml).expect_err(toml);
            assert!(e.contains(why), "{toml}: {e}");
        }
    }
}
