//! PDF statements with a known truth, for the PDF reader's tests: a small PDF writer (text in
//! Helvetica at given positions, or pages that are only an image, as a scan is) and a statement
//! generator (multi-page, wrapped descriptions, debit/credit or signed or marked amounts,
//! brought/carried forward lines, any currency) that returns the rows it printed.

use chrono::{Datelike, NaiveDate};

/// Whether poppler's `pdftotext` (what LedgerFlow reads PDFs with) is installed: under
/// `CI=true` its absence is a failure, elsewhere a skip with a note.
pub fn poppler() -> bool {
    let found = std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "pdftotext (poppler-utils) is missing and CI is set"
        );
        eprintln!("pdftotext is not installed: PDF tests skipped");
    }
    found
}

/// Helvetica's advance widths (per 1000 units of font size) for what amounts are made of.
fn width(c: char) -> f64 {
    match c {
        '0'..='9' | '$' => 556.0,
        '.' | ',' | ' ' => 278.0,
        '-' | '(' | ')' => 333.0,
        'C' | 'D' | 'R' => 722.0,
        '€' => 556.0,
        _ => 600.0,
    }
}

fn text_width(s: &str, size: f64) -> f64 {
    s.chars().map(width).sum::<f64>() * size / 1000.0
}

/// One page of a PDF being written.
#[derive(Debug, Default, Clone)]
pub struct PdfPage {
    /// (x, y from the top, font size, text).
    items: Vec<(f64, f64, f64, String)>,
    image_only: bool,
}

impl PdfPage {
    /// Text starting at `x`, its baseline `y` points from the top.
    pub fn text(&mut self, x: f64, y: f64, size: f64, s: &str) -> &mut Self {
        self.items.push((x, y, size, s.to_string()));
        self
    }

    /// Text ending at `right` (amounts are right-aligned in their columns).
    pub fn right(&mut self, right: f64, y: f64, size: f64, s: &str) -> &mut Self {
        self.text(right - text_width(s, size), y, size, s)
    }
}

/// A PDF: A4 pages of text, or of an image.
#[derive(Debug, Default, Clone)]
pub struct Pdf {
    pages: Vec<PdfPage>,
}

const HEIGHT: f64 = 842.0;

impl Pdf {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn page(&mut self) -> &mut PdfPage {
        self.pages.push(PdfPage::default());
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    /// A page that is one grey image and no text, as a scanner writes it.
    pub fn image_page(&mut self) {
        self.pages.push(PdfPage {
            items: Vec::new(),
            image_only: true,
        });
    }

    /// The PDF file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut objects: Vec<Vec<u8>> = Vec::new();
        // 1 catalog, 2 pages, 3 font, 4 image; then per page: page, contents.
        let n = self.pages.len();
        let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 5 + 2 * i)).collect();
        objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
        objects
            .push(format!("<< /Type /Pages /Kids [{}] /Count {n} >>", kids.join(" ")).into_bytes());
        objects.push(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_vec(),
        );
        let pixels = vec![0x80u8; 64];
        let mut image = format!(
            "<< /Type /XObject /Subtype /Image /Width 8 /Height 8 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length {} >>\nstream\n",
            pixels.len()
        )
        .into_bytes();
        image.extend(&pixels);
        image.extend(b"\nendstream");
        objects.push(image);
        for (i, p) in self.pages.iter().enumerate() {
            objects.push(
                format!(
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> /XObject << /Im1 4 0 R >> >> /Contents {} 0 R >>",
                    6 + 2 * i
                )
                .into_bytes(),
            );
            let mut content: Vec<u8> = Vec::new();
            if p.image_only {
                content.extend(b"q 500 0 0 700 48 70 cm /Im1 Do Q\n");
            }
            for (x, y, size, s) in &p.items {
                content
                    .extend(format!("BT /F1 {size} Tf {x:.2} {:.2} Td (", HEIGHT - y).as_bytes());
                content.extend(win_ansi(s));
                content.extend(b") Tj ET\n");
            }
            let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
            stream.extend(content);
            stream.extend(b"\nendstream");
            objects.push(stream);
        }
        let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend(o);
            out.extend(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for o in offsets {
            out.extend(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}

/// Text as a PDF string in WinAnsi: `(`, `)` and `\` escaped, `€` and Latin-1 as their bytes.
fn win_ansi(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push(b'\\');
                out.push(c as u8);
            }
            '€' => out.push(0x80),
            c if (c as u32) < 256 => out.push(c as u32 as u8),
            _ => out.push(b'?'),
        }
    }
    out
}

/// How a generated statement prints its amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amounts {
    /// `Withdrawals | Deposits | Balance` columns.
    DebitCredit,
    /// One signed `Amount` column and a `Balance` column.
    Signed,
    /// A credit card: one `Amount` column, charges bare, payments marked `CR`; no running
    /// balance, only previous and new balance lines.
    CardMarked,
}

/// A row a statement printed: its date, description (before wrapping) and amount in minor
/// units from the account's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub date: NaiveDate,
    pub text: String,
    pub minor: i64,
}

/// A statement to generate.
#[derive(Debug, Clone)]
pub struct StatementSpec {
    pub bank: String,
    pub amounts: Amounts,
    /// `Some("EUR")`: amounts printed with a decimal comma and the code in the header.
    pub currency: Option<String>,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub opening_minor: i64,
    pub rows: Vec<Row>,
    /// Rows per page before a page break (with carried/brought forward lines).
    pub rows_per_page: usize,
    /// Descriptions longer than this wrap onto the next lines.
    pub wrap_at: usize,
    /// Print the closing balance this much off (a statement that does not add up).
    pub closing_error_minor: i64,
    /// A section line printed under this row (index), as some banks do ("TRANSACTIONS FOR …").
    pub section_after: Option<(usize, String)>,
}

impl StatementSpec {
    pub fn new(bank: &str, amounts: Amounts, start: NaiveDate, end: NaiveDate) -> Self {
        StatementSpec {
            bank: bank.to_string(),
            amounts,
            currency: None,
            start,
            end,
            opening_minor: 0,
            rows: Vec::new(),
            rows_per_page: 25,
            wrap_at: 36,
            closing_error_minor: 0,
            section_after: None,
        }
    }

    fn money(&self, minor: i64) -> String {
        let comma = self.currency.as_deref() == Some("EUR");
        let abs = minor.unsigned_abs();
        let (units, cents) = (abs / 100, abs % 100);
        let digits = units.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(if comma { '.' } else { ',' });
            }
            grouped.push(c);
        }
        format!("{grouped}{}{cents:02}", if comma { ',' } else { '.' })
    }

    fn date(&self, d: NaiveDate) -> String {
        match self.amounts {
            // Card statements print "Dec 20" with no year.
            Amounts::CardMarked => d.format("%b %d").to_string(),
            // Bank statements print "20/12" with no year.
            _ => format!("{:02}/{:02}", d.day(), d.month()),
        }
    }

    /// The PDF, as a bank would print this statement.
    pub fn to_pdf(&self) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let size = 9.0;
        let card = self.amounts == Amounts::CardMarked;
        let pages: Vec<&[Row]> = self.rows.chunks(self.rows_per_page.max(1)).collect();
        let mut balance = self.opening_minor;
        let total = pages.len().max(1);
        for (pi, chunk) in pages.iter().enumerate() {
            let p = pdf.page();
            p.text(50.0, 50.0, 16.0, &self.bank);
            if pi == 0 {
                p.text(
                    50.0,
                    72.0,
                    size,
                    &format!(
                        "Statement period: {} to {}",
                        self.start.format("%d %B %Y"),
                        self.end.format("%d %B %Y")
                    ),
                );
                if card {
                    p.text(50.0, 84.0, size, "Credit Card Number XXXX XXXX XXXX 1234");
                }
                if let Some(c) = &self.currency {
                    p.text(350.0, 72.0, size, &format!("Currency: {c}"));
                }
            }
            let mut y = 120.0;
            p.text(50.0, y, size, "Date")
                .text(100.0, y, size, "Description");
            match self.amounts {
                Amounts::DebitCredit => {
                    p.right(400.0, y, size, "Withdrawals")
                        .right(470.0, y, size, "Deposits")
                        .right(545.0, y, size, "Balance");
                }
                Amounts::Signed => {
                    p.right(460.0, y, size, "Amount")
                        .right(545.0, y, size, "Balance");
                }
                Amounts::CardMarked => {
                    p.right(520.0, y, size, "Amount");
                }
            }
            y += 16.0;
            let owed = |b: i64| if card { -b } else { b };
            let label = if pi == 0 {
                if card {
                    "Previous balance"
                } else {
                    "Opening balance"
                }
            } else {
                "Balance brought forward"
            };
            p.text(100.0, y, size, label).right(
                if card { 520.0 } else { 545.0 },
                y,
                size,
                &self.signed(owed(balance)),
            );
            y += 12.0;
            for (ri, row) in chunk.iter().enumerate() {
                let index = pi * self.rows_per_page + ri;
                balance += row.minor;
                let lines = wrap(&row.text, self.wrap_at);
                p.text(50.0, y, size, &self.date(row.date));
                p.text(100.0, y, size, lines.first().map_or("", String::as_str));
                let amount = self.money(row.minor);
                match self.amounts {
                    Amounts::DebitCredit => {
                        p.right(if row.minor < 0 { 400.0 } else { 470.0 }, y, size, &amount);
                        p.right(545.0, y, size, &self.signed(balance));
                    }
                    Amounts::Signed => {
                        p.right(460.0, y, size, &self.signed(row.minor));
                        p.right(545.0, y, size, &self.signed(balance));
                    }
                    Amounts::CardMarked => {
                        p.right(520.0, y, size, &amount);
                        if row.minor > 0 {
                            p.text(524.0, y, size, "CR");
                        }
                    }
                }
                for more in lines.iter().skip(1) {
                    y += 11.0;
                    p.text(100.0, y, size, more);
                }
                y += 12.0;
                if let Some((after, text)) = &self.section_after
                    && *after == index
                {
                    p.text(100.0, y, size, text);
                    y += 12.0;
                }
            }
            let last = pi + 1 == total;
            let closing = if last {
                balance + self.closing_error_minor
            } else {
                balance
            };
            let label = match (last, card) {
                (false, _) => "Balance carried forward",
                (true, true) => "New balance",
                (true, false) => "Closing balance",
            };
            p.text(100.0, y, size, label).right(
                if card { 520.0 } else { 545.0 },
                y,
                size,
                &self.signed(owed(closing)),
            );
            p.text(
                50.0,
                800.0,
                7.0,
                &format!("{} - Page {} of {total}", self.bank, pi + 1),
            );
        }
        pdf.to_bytes()
    }

    fn signed(&self, minor: i64) -> String {
        let m = self.money(minor);
        if minor < 0 { format!("-{m}") } else { m }
    }
}

/// Words of `text` in lines of at most `at` characters.
fn wrap(text: &str, at: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.len() + 1 + w.len() <= at => {
                l.push(' ');
                l.push_str(w);
            }
            _ => lines.push(w.to_string()),
        }
    }
    lines
}

/// Rows with varied text and amounts, dated through the period: deterministic for a seed.
pub fn sample_rows(start: NaiveDate, end: NaiveDate, n: usize, seed: u64) -> Vec<Row> {
    let payees = [
        "COFFEE CORNER",
        "GROCERY MARKET 0421 SPRINGFIELD",
        "SALARY ACME CORP PAYROLL DECEMBER BONUS INCLUDED",
        "RENT TRANSFER TO J SMITH APARTMENT 4B FLAT SHARE",
        "PHARMACY",
        "ONLINE BOOKSTORE ORDER 114-2233445-6677889 DIGITAL ITEMS",
        "FUEL STATION",
        "REFUND SPORTS SHOP",
    ];
    let days = (end - start).num_days().max(1);
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut rows: Vec<Row> = (0..n)
        .map(|i| {
            let date = start + chrono::Duration::days((i as i64 * days) / n.max(1) as i64);
            let k = (next() % payees.len() as u64) as usize;
            let cents = (next() % 250_000) as i64 + 1;
            let minor = if k == 2 || k == 7 { cents * 4 } else { -cents };
            Row {
                date,
                text: payees[k].to_string(),
                minor,
            }
        })
        .collect();
    rows.sort_by_key(|r| r.date);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pdf_is_well_formed() {
        let start = NaiveDate::from_ymd_opt(2023, 12, 16).expect("date");
        let end = NaiveDate::from_ymd_opt(2024, 1, 15).expect("date");
        let mut spec = StatementSpec::new("Test Bank", Amounts::DebitCredit, start, end);
        spec.rows = sample_rows(start, end, 30, 1);
        let bytes = spec.to_pdf();
        assert!(bytes.starts_with(b"%PDF-1.4"));
        assert!(bytes.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("Balance carried forward"));
        assert_eq!(text.matches("/Type /Page ").count(), 2);
    }
}
