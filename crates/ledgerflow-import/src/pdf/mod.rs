//! PDF statements. A PDF has no format to parse, only a layout: its text layer is read as
//! positioned words ([`words`], poppler's `pdftotext -tsv`), the transaction table is found in
//! them ([`table`]: a date column, amount columns, wrapped descriptions, balance lines), and the
//! rows are checked against the balances the statement prints. What a bank's layout needs beyond
//! that is said in a [`Template`] (TOML), matched by text on the statement.
//!
//! Refused with their reason: a password-protected PDF, a PDF without a text layer (a scan: no
//! OCR), a PDF with no transaction table, rows that do not add up to the printed balances.
//! Every row names its page and line; PDF imports always go through a preview.

mod amounts;
mod dates;
mod table;
pub mod template;
pub mod words;

pub use template::{Kind, Template, load_dir, save as save_template, shipped};
pub use words::{Page, Word};

use crate::model::{ParseError, ParsedFile};

/// A PDF starts with `%PDF-` (the specification allows it within the first kilobyte).
pub fn sniff(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
}

/// Reads a PDF statement: `templates` (the user's) are tried first, then the shipped ones,
/// then the generic reader.
pub fn parse(bytes: &[u8], file: &str, templates: &[Template]) -> Result<ParsedFile, ParseError> {
    let fail = |reason: String| ParseError {
        file: file.to_string(),
        reason,
    };
    let pages = words::extract(bytes).map_err(fail)?;
    read_pages(&pages, templates).map_err(fail)
}

/// Reads a statement from its positioned words.
pub fn read_pages(pages: &[Page], templates: &[Template]) -> Result<ParsedFile, String> {
    if pages.iter().all(|p| p.words.is_empty()) {
        return Err(format!(
            "the PDF has no text layer ({} page{} of images: a scan?); LedgerFlow reads the text of PDF statements and does not recognise scanned pages; download the statement as a PDF with text, or as CSV or OFX",
            pages.len(),
            if pages.len() == 1 { "" } else { "s" }
        ));
    }
    let text: String = pages
        .iter()
        .flat_map(|p| p.words.iter().map(|w| w.text.as_str()))
        .collect::<Vec<_>>()
        .join(" ");
    let shipped = template::shipped();
    let template = templates
        .iter()
        .chain(shipped.iter())
        .find(|t| t.applies_to(&text));
    table::read(pages, template)
}
