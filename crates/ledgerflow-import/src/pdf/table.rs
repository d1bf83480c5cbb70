//! The transaction table of a statement, found in its positioned words: lines are rebuilt from
//! the words' boxes; a row is a line that starts with a date (in the date column) and ends with
//! amounts (in the amount columns); the text lines right under a row, inside the description
//! column, continue its description; balance lines (brought/carried forward, opening, previous,
//! new, closing) are not rows but are what the rows must add up to.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::amounts::{self, Mark, Marks, Printed};
use super::dates::{self, Parts};
use super::template::{Kind, Range, Template};
use super::words::{Page, Word};
use crate::model::{Balance, Format, ParsedFile, ParsedTxn, RowError, Statement};

/// A line of words, left to right.
pub(super) struct Line<'a> {
    pub(super) page: u32,
    /// 1-based, within its page.
    pub(super) no: usize,
    top: f64,
    bottom: f64,
    words: Vec<&'a Word>,
}

impl Line<'_> {
    fn text(&self) -> String {
        self.words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn height(&self) -> f64 {
        (self.bottom - self.top).max(1.0)
    }
}

/// The lines of a page: a word joins the line whose first word's box holds its middle.
pub(super) fn lines(page: &Page) -> Vec<Line<'_>> {
    let mut words: Vec<&Word> = page.words.iter().collect();
    words.sort_by(|a, b| a.top.total_cmp(&b.top).then(a.x0.total_cmp(&b.x0)));
    let mut out: Vec<Line<'_>> = Vec::new();
    for w in words {
        let mid = (w.top + w.bottom) / 2.0;
        match out.last_mut() {
            Some(l) if mid >= l.top && mid <= l.bottom => l.words.push(w),
            _ => out.push(Line {
                page: page.number,
                no: out.len() + 1,
                top: w.top,
                bottom: w.bottom,
                words: vec![w],
            }),
        }
    }
    for l in &mut out {
        l.words.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    }
    out
}

/// An amount on a line: which words, where.
#[derive(Debug, Clone)]
struct Cell {
    printed: Printed,
    x0: f64,
    x1: f64,
}

/// A line that starts with a date: the date, where the description starts, the trailing
/// amounts.
struct Candidate {
    line: usize,
    date: Parts,
    date_x0: f64,
    /// Index of the first word after the date.
    text_from: usize,
    /// Index of the first trailing amount word.
    text_to: usize,
    cells: Vec<Cell>,
}

/// The amounts at the end of a line (each maybe followed by a mark word), right to left, and
/// the index of the first word they take.
fn trailing_cells(words: &[&Word], marks: &Marks) -> (Vec<Cell>, usize) {
    let mut cells = Vec::new();
    let mut i = words.len();
    while i > 0 {
        let w = words[i - 1];
        if let Some(mark) = marks.of(&w.text)
            && i >= 2
            && let Some(mut p) = amounts::read(&words[i - 2].text, marks)
            && p.mark.is_none()
        {
            p.mark = Some(mark);
            cells.push(Cell {
                printed: p,
                x0: words[i - 2].x0,
                x1: words[i - 2].x1,
            });
            i -= 2;
        } else if let Some(p) = amounts::read(&w.text, marks) {
            cells.push(Cell {
                printed: p,
                x0: w.x0,
                x1: w.x1,
            });
            i -= 1;
        } else {
            break;
        }
    }
    cells.reverse();
    (cells, i)
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Amount,
    Debit,
    Credit,
    Balance,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Amount => "amount",
            Role::Debit => "debit",
            Role::Credit => "credit",
            Role::Balance => "balance",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Column {
    role: Role,
    x0: f64,
    x1: f64,
}

impl Column {
    /// Whether a cell ending at `x1` is in this column (right-aligned, a little slack).
    fn holds(&self, x1: f64) -> bool {
        x1 >= self.x0 - 2.0 && x1 <= self.x1 + 4.0
    }
}

/// Right edges within this distance are one column.
const SAME_COLUMN: f64 = 8.0;

/// The amount columns, by clustering the right edges of the candidates' trailing amounts.
fn cluster(cands: &[Candidate]) -> Vec<(f64, f64, usize)> {
    let mut edges: Vec<(f64, f64)> = cands
        .iter()
        .flat_map(|c| c.cells.iter().map(|cell| (cell.x1, cell.x0)))
        .collect();
    edges.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64, usize)> = Vec::new();
    for (x1, x0) in edges {
        match out.last_mut() {
            Some(c) if x1 - c.1 <= SAME_COLUMN => {
                c.0 = c.0.min(x0);
                c.1 = x1;
                c.2 += 1;
            }
            _ => out.push((x0, x1, 1)),
        }
    }
    out
}

/// Header words that name a column.
fn header_role(words: &[&Word], i: usize) -> Option<Role> {
    let w = words[i].text.to_ascii_lowercase();
    let w = w.trim_matches(|c: char| !c.is_ascii_alphabetic());
    let prev = i
        .checked_sub(1)
        .map(|p| words[p].text.to_ascii_lowercase())
        .unwrap_or_default();
    match w {
        "debit" | "debits" | "withdrawal" | "withdrawals" | "charges" => Some(Role::Debit),
        "credit" | "credits" | "deposit" | "deposits" => Some(Role::Credit),
        "out" if prev == "paid" || prev == "money" => Some(Role::Debit),
        "in" if prev == "paid" || prev == "money" => Some(Role::Credit),
        "balance" => Some(Role::Balance),
        "amount" => Some(Role::Amount),
        _ => None,
    }
}

const OPENING: [&str; 8] = [
    "brought forward",
    "balance forward",
    "opening balance",
    "previous balance",
    "beginning balance",
    "starting balance",
    "balance b/f",
    "last statement balance",
];
const CLOSING: [&str; 6] = [
    "carried forward",
    "closing balance",
    "new balance",
    "ending balance",
    "balance c/f",
    "balance carried",
];
const CARD: [&str; 5] = [
    "credit card",
    "card number",
    "minimum payment",
    "minimum amount due",
    "payment due date",
];

/// Reads the statement in `pages` with `template` (or none).
pub(super) fn read(pages: &[Page], template: Option<&Template>) -> Result<ParsedFile, String> {
    let t = template.cloned().unwrap_or_default();
    let marks = Marks {
        credit: t
            .credit_marks
            .clone()
            .unwrap_or_else(|| Marks::default().credit),
        debit: t
            .debit_marks
            .clone()
            .unwrap_or_else(|| Marks::default().debit),
    };
    let all: Vec<Line<'_>> = pages.iter().flat_map(lines).collect();
    let texts: Vec<String> = all.iter().map(Line::text).collect();
    let lower: Vec<String> = texts.iter().map(|s| s.to_lowercase()).collect();
    let skipped = |i: usize| t.skip.iter().any(|s| lower[i].contains(&s.to_lowercase()));
    let balance_line = |i: usize| {
        OPENING.iter().any(|k| lower[i].contains(k)) || CLOSING.iter().any(|k| lower[i].contains(k))
    };
    let mut warnings = Vec::new();
    let mut evidence = vec![match template {
        Some(t) => format!("read with PDF template \"{}\"", t.name),
        None => "read by the generic PDF reader (no template matches this statement)".to_string(),
    }];

    // 1. Lines that start with a date and end with amounts.
    let fmt = t.date_format.as_deref();
    let in_range = |r: Option<Range>, x: f64| r.is_none_or(|[a, b]| x >= a - 1.0 && x <= b + 1.0);
    let mut cands: Vec<Candidate> = Vec::new();
    let mut dated: Vec<(usize, f64)> = Vec::new();
    for (i, l) in all.iter().enumerate() {
        if skipped(i) || balance_line(i) {
            continue;
        }
        let words: Vec<&str> = l.words.iter().map(|w| w.text.as_str()).collect();
        let Some((date, n)) = dates::at_start(&words, fmt) else {
            continue;
        };
        if !in_range(t.columns.date, l.words[0].x0) {
            continue;
        }
        dated.push((i, l.words[0].x0));
        // A second date (posting after transaction date) belongs to the date, not the text.
        let mut from = n;
        if let Some((_, m)) = dates::at_start(&words[n..], fmt) {
            from += m;
        }
        let (cells, to) = trailing_cells(&l.words, &marks);
        if cells.is_empty() || to < from {
            continue;
        }
        cands.push(Candidate {
            line: i,
            date,
            date_x0: l.words[0].x0,
            text_from: from,
            text_to: to,
            cells,
        });
    }
    if cands.is_empty() {
        return Err(
            "no transaction table was found in the PDF (no line starts with a date and ends \
             with an amount); if the statement has one, a template can say where its columns are"
                .into(),
        );
    }
    // The date column: where most candidate rows start.
    let date_x = {
        let mut xs: Vec<i64> = cands
            .iter()
            .map(|c| (c.date_x0 / 4.0).round() as i64)
            .collect();
        xs.sort_unstable();
        let mut best = (0usize, xs[0]);
        let mut run = (0usize, xs[0]);
        for x in xs {
            run = if x == run.1 { (run.0 + 1, x) } else { (1, x) };
            if run.0 > best.0 {
                best = run;
            }
        }
        best.1 as f64 * 4.0
    };
    let at_date_column = |x0: f64| (x0 - date_x).abs() <= 8.0 || t.columns.date.is_some();
    cands.retain(|c| at_date_column(c.date_x0));

    // 2. The amount columns and what each holds.
    let columns = columns(&t, &cands, &all, &mut evidence, &mut warnings)?;
    let first_amount_x = columns.iter().map(|c| c.x0).fold(f64::INFINITY, f64::min);

    // 3. The numeric date order, then the statement period (for yearless dates).
    let day_first = match dates::order(cands.iter().map(|c| c.date))? {
        Some(v) => Some(v),
        None => t.day_first,
    };
    let needs_order = cands
        .iter()
        .any(|c| matches!(c.date, Parts::Numeric { .. }));
    let day_first = match day_first {
        Some(v) => v,
        None => {
            let dollars = texts.iter().any(|s| s.contains('$'));
            if needs_order {
                warnings.push(format!(
                    "no row's date settles the order of day and month: read {}; if that is wrong, set day_first in a template",
                    if dollars { "month-first (the statement is in dollars)" } else { "day-first" }
                ));
            }
            !dollars
        }
    };
    let (start, end) = period(&all, &lower, fmt, day_first);

    // 4. Rows, with their wrapped text.
    let kind = t.statement.unwrap_or_else(|| {
        let all_text = lower.join("\n");
        if CARD.iter().any(|k| all_text.contains(k)) {
            Kind::Card
        } else {
            Kind::Bank
        }
    });
    let amount_col = columns.iter().any(|c| c.role == Role::Amount);
    let credit_marked = cands
        .iter()
        .any(|c| c.cells.iter().any(|x| x.printed.mark == Some(Mark::Credit)));
    let debit_marked = cands
        .iter()
        .any(|c| c.cells.iter().any(|x| x.printed.mark == Some(Mark::Debit)));
    if amount_col {
        evidence.push(match kind {
            Kind::Card => {
                "a credit-card statement: charges are money out, payments and refunds money in"
                    .to_string()
            }
            Kind::Bank => {
                "a bank statement: amounts with a minus or a debit mark are money out".to_string()
            }
        });
    }
    let wrapped = t.wrapped.unwrap_or(true);
    let mut txns: Vec<ParsedTxn> = Vec::new();
    let mut balances: Vec<Option<Decimal>> = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    let mut currencies: Vec<&'static str> = Vec::new();
    let row_lines: std::collections::HashSet<usize> = cands.iter().map(|c| c.line).collect();
    for c in &cands {
        let l = &all[c.line];
        let (mut amount, mut balance, mut bad) = (None::<Decimal>, None, None::<String>);
        for cell in &c.cells {
            currencies.extend(cell.printed.currency);
            let Some(col) = columns.iter().find(|col| col.holds(cell.x1)) else {
                continue;
            };
            let p = &cell.printed;
            let value = match col.role {
                Role::Balance => {
                    balance = Some(balance_value(p, kind));
                    continue;
                }
                Role::Debit => -p.value,
                Role::Credit => p.value,
                Role::Amount => signed(p, kind, credit_marked, debit_marked),
            };
            if amount.is_some() {
                bad = Some("the row has amounts in two amount columns".into());
            }
            amount = Some(value);
        }
        let date = match dates::settle(c.date, day_first) {
            Some((Some(y), m, d)) => NaiveDate::from_ymd_opt(y, m, d),
            Some((None, m, d)) => end.and_then(|e| dates::in_period(m, d, start, e)),
            None => None,
        };
        let line_ref = l.no;
        let Some(date) = date else {
            errors.push(RowError {
                line: line_ref,
                reason: format!(
                    "page {}: the date of \"{}\" {}",
                    l.page,
                    crate::model::shown(&texts[c.line]),
                    if end.is_none() {
                        "has no year and the statement names no period or statement date"
                    } else {
                        "is not a date of the statement period"
                    }
                ),
            });
            continue;
        };
        let Some(amount) = amount.filter(|_| bad.is_none()) else {
            errors.push(RowError {
                line: line_ref,
                reason: format!(
                    "page {}: {} in \"{}\"",
                    l.page,
                    bad.unwrap_or_else(|| "no amount is in an amount column".into()),
                    crate::model::shown(&texts[c.line])
                ),
            });
            continue;
        };
        let mut text: Vec<&str> = l.words[c.text_from..c.text_to]
            .iter()
            .map(|w| w.text.as_str())
            .collect();
        // Wrapped text: the lines right under the row, inside the description column.
        let desc_x0 = t
            .columns
            .description
            .map(|[a, _]| a)
            .or_else(|| l.words.get(c.text_from).map(|w| w.x0))
            .unwrap_or(0.0);
        let mut prev = l;
        let mut j = c.line + 1;
        while wrapped && j < all.len() {
            let n = &all[j];
            let close = n.page == prev.page && n.top - prev.bottom < 0.8 * n.height();
            let inside = n
                .words
                .iter()
                .all(|w| w.x0 >= desc_x0 - 3.0 && w.x1 <= first_amount_x - 2.0);
            if !close || !inside || row_lines.contains(&j) || skipped(j) || balance_line(j) {
                break;
            }
            text.extend(n.words.iter().map(|w| w.text.as_str()));
            prev = n;
            j += 1;
        }
        txns.push(ParsedTxn {
            date,
            value_date: None,
            amount,
            currency: None,
            payee: text.join(" "),
            memo: String::new(),
            external_id: None,
            check_number: None,
            category: None,
            line: line_ref,
            page: Some(l.page),
        });
        balances.push(balance);
    }
    // Dated lines at the date column with text into the amount columns but no amount read:
    // rows that would otherwise be lost without a word.
    for &(i, x0) in &dated {
        let l = &all[i];
        if row_lines.contains(&i) || !at_date_column(x0) {
            continue;
        }
        if l.words.iter().any(|w| w.x1 > first_amount_x + 2.0) {
            errors.push(RowError {
                line: l.no,
                reason: format!(
                    "page {}: a row starts with a date but its amount cannot be read: \"{}\"",
                    l.page,
                    crate::model::shown(&texts[i])
                ),
            });
        }
    }

    // 5. Check the rows against what the statement prints.
    let reconcile = t.reconcile.unwrap_or(true);
    let (opening, closing) = printed_balances(&all, &lower, &marks, kind, first_amount_x);
    if reconcile && errors.is_empty() {
        check_running(&mut txns, &balances, kind, opening, &mut evidence)?;
        if let (Some(o), Some(c)) = (opening, closing) {
            let sum: Decimal = txns.iter().map(|t| t.amount).sum();
            if o + sum != c {
                return Err(format!(
                    "the rows read do not add up to the statement's balances: opening {o} + {} rows ({sum}) = {}, but the statement says {c}; a row was misread or missed (a template can set the columns, or `reconcile = false`)",
                    txns.len(),
                    o + sum
                ));
            }
            evidence.push(format!(
                "opening balance {o} + {} rows = closing balance {c}, as printed",
                txns.len()
            ));
        } else if balances.iter().all(Option::is_none) {
            warnings.push(
                "the statement prints no balance to check the rows against: check them in the preview"
                    .into(),
            );
        }
    }
    currencies.sort_unstable();
    currencies.dedup();
    let currency = t
        .currency
        .clone()
        .or_else(|| (currencies.len() == 1).then(|| currencies[0].to_string()));
    let first = txns.iter().map(|t| t.date).min();
    let last = txns.iter().map(|t| t.date).max();
    Ok(ParsedFile {
        format: Format::Pdf,
        profile: template.map(|t| t.name.clone()),
        statements: vec![Statement {
            account: None,
            currency,
            start: start.or(first),
            end: end.or(last),
            opening: opening
                .and_then(|amount| start.or(first).map(|date| Balance { date, amount })),
            closing: closing.and_then(|amount| end.or(last).map(|date| Balance { date, amount })),
            transactions: txns,
        }],
        evidence,
        warnings,
        errors,
    })
}

/// A row's amount from a single amount column.
fn signed(p: &Printed, kind: Kind, credit_marked: bool, debit_marked: bool) -> Decimal {
    match (p.mark, p.negative, kind) {
        (Some(Mark::Credit), _, _) => p.value,
        (Some(Mark::Debit), _, _) => -p.value,
        (None, true, Kind::Bank) => -p.value,
        (None, true, Kind::Card) => p.value,
        // Bare: the kind of amount the statement does not mark.
        (None, false, Kind::Bank) if credit_marked && !debit_marked => -p.value,
        (None, false, Kind::Bank) => p.value,
        (None, false, Kind::Card) if debit_marked && !credit_marked => p.value,
        (None, false, Kind::Card) => -p.value,
    }
}

/// A printed balance from the account's point of view: a card's balance is what is owed.
fn balance_value(p: &Printed, kind: Kind) -> Decimal {
    match kind {
        Kind::Bank => p.signed(),
        Kind::Card => -p.signed(),
    }
}

/// The columns: the template's, else the clusters of amounts named by the header above.
fn columns(
    t: &Template,
    cands: &[Candidate],
    all: &[Line<'_>],
    evidence: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Column>, String> {
    let c = &t.columns;
    let given: Vec<Column> = [
        (Role::Amount, c.amount),
        (Role::Debit, c.debit),
        (Role::Credit, c.credit),
        (Role::Balance, c.balance),
    ]
    .into_iter()
    .filter_map(|(role, r)| r.map(|[x0, x1]| Column { role, x0, x1 }))
    .collect();
    if !given.is_empty() {
        if !given.iter().any(|c| c.role != Role::Balance) {
            return Err("the template names a balance column but no amount column".into());
        }
        return Ok(given);
    }
    let clusters = cluster(cands);
    // Header words above the first row name the columns they stand over.
    let first = cands[0].line;
    let mut named: Vec<Option<Role>> = vec![None; clusters.len()];
    for l in all[..first].iter().rev().take(12) {
        let roles: Vec<(usize, Role)> = (0..l.words.len())
            .filter_map(|i| header_role(&l.words, i).map(|r| (i, r)))
            .collect();
        if roles.is_empty() {
            continue;
        }
        for (i, role) in roles {
            let w = l.words[i];
            let mid = (w.x0 + w.x1) / 2.0;
            let nearest = clusters
                .iter()
                .enumerate()
                .map(|(k, &(x0, x1, _))| {
                    let d = if mid < x0 - 2.0 {
                        x0 - mid
                    } else if mid > x1 + 2.0 {
                        mid - x1
                    } else {
                        0.0
                    };
                    (k, d)
                })
                .filter(|&(_, d)| d <= 40.0)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((k, _)) = nearest
                && named[k].is_none()
            {
                named[k] = Some(role);
            }
        }
        if named.iter().any(Option::is_some) {
            break;
        }
    }
    let mut roles: Vec<Role> = Vec::with_capacity(clusters.len());
    let unnamed = named.iter().filter(|r| r.is_none()).count();
    if unnamed == 0 {
        roles = named.iter().flatten().copied().collect();
    } else {
        // By position: the rightmost of several is the running balance when every row has it.
        let n = clusters.len();
        let rows = cands.len();
        let full = |k: usize| clusters[k].2 >= rows;
        let guess: Vec<Role> = match n {
            1 => vec![Role::Amount],
            2 if full(1) => vec![Role::Amount, Role::Balance],
            2 => {
                warnings.push("two unnamed amount columns: the left one is read as debits (money out), the right one as credits".into());
                vec![Role::Debit, Role::Credit]
            }
            _ => {
                let mut g = vec![Role::Amount; n];
                g[n - 3] = Role::Debit;
                g[n - 2] = Role::Credit;
                g[n - 1] = Role::Balance;
                g
            }
        };
        for (k, r) in named.iter().enumerate() {
            roles.push(r.unwrap_or(guess[k]));
        }
    }
    // Columns further left than a debit/credit pair, unnamed, are text that looks like money.
    let cols: Vec<Column> = clusters
        .iter()
        .zip(&roles)
        .map(|(&(x0, x1, _), &role)| Column { role, x0, x1 })
        .collect();
    let has = |r: Role| cols.iter().any(|c| c.role == r);
    if !(has(Role::Amount) || has(Role::Debit) && has(Role::Credit)) {
        return Err("the amount columns could not be told apart (a debit and a credit column, or one amount column, are needed); a template can name them".into());
    }
    evidence.push(format!(
        "columns: {}",
        cols.iter()
            .map(|c| format!("{} at x {:.0}–{:.0}", c.role.as_str(), c.x0, c.x1))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(cols)
}

/// Checks a running balance column: each printed balance is the one before plus the rows in
/// between. A bank statement whose balances run the other way has its columns read the wrong
/// way round: the amounts are turned. Newest-first statements are checked backwards.
fn check_running(
    txns: &mut [ParsedTxn],
    balances: &[Option<Decimal>],
    kind: Kind,
    opening: Option<Decimal>,
    evidence: &mut Vec<String>,
) -> Result<(), String> {
    let printed = balances.iter().flatten().count();
    if printed < 2 {
        return Ok(());
    }
    let runs = |flip: bool, backwards: bool| -> (usize, usize, Option<usize>) {
        let order: Vec<usize> = if backwards {
            (0..txns.len()).rev().collect()
        } else {
            (0..txns.len()).collect()
        };
        let (mut ok, mut checked, mut first_bad) = (0, 0, None);
        let mut running: Option<Decimal> = opening;
        for &i in &order {
            let amount = if flip {
                -txns[i].amount
            } else {
                txns[i].amount
            };
            running = running.map(|r| r + amount);
            if let (Some(r), Some(b)) = (running, balances[i]) {
                checked += 1;
                if r == b {
                    ok += 1;
                } else if first_bad.is_none() {
                    first_bad = Some(i);
                }
            }
            running = balances[i].or(running);
        }
        (ok, checked, first_bad)
    };
    for backwards in [false, true] {
        for flip in [false, true] {
            let (ok, checked, _) = runs(flip, backwards);
            if checked > 0 && ok == checked {
                if flip && kind == Kind::Bank {
                    for t in txns.iter_mut() {
                        t.amount = -t.amount;
                    }
                    evidence.push("the balance column runs against the signs read: amounts taken the other way round".into());
                }
                evidence.push(format!(
                    "the balance column reconciles on {ok}/{checked} rows{}",
                    if backwards { " (newest first)" } else { "" }
                ));
                return Ok(());
            }
        }
    }
    let (_, _, first_bad) = runs(false, false);
    let at = first_bad.map_or(String::new(), |i| {
        format!(
            " (first at page {} line {})",
            txns[i].page.unwrap_or(0),
            txns[i].line
        )
    });
    Err(format!(
        "the balance column does not add up with the amounts read{at}: a row was misread or missed (a template can set the columns, or `reconcile = false`)"
    ))
}

/// Opening and closing balances printed on their own lines (brought forward, previous
/// balance, new balance…), from the account's point of view.
fn printed_balances(
    all: &[Line<'_>],
    lower: &[String],
    marks: &Marks,
    kind: Kind,
    first_amount_x: f64,
) -> (Option<Decimal>, Option<Decimal>) {
    let (mut opening, mut closing) = (None, None);
    for (i, l) in all.iter().enumerate() {
        let open = OPENING.iter().any(|k| lower[i].contains(k));
        let close = CLOSING.iter().any(|k| lower[i].contains(k));
        if !open && !close {
            continue;
        }
        let (cells, _) = trailing_cells(&l.words, marks);
        // The balance is the last amount, in the amount columns' part of the page.
        let Some(cell) = cells.last().filter(|c| c.x1 >= first_amount_x - 2.0) else {
            continue;
        };
        let v = balance_value(&cell.printed, kind);
        if open && opening.is_none() {
            opening = Some(v);
        }
        if close {
            closing = Some(v);
        }
    }
    (opening, closing)
}

/// The statement period: two dates on one line (`1 March 2024 to 31 March 2024`), or the
/// statement date (`Statement date: 09 Oct 2023`).
fn period(
    all: &[Line<'_>],
    lower: &[String],
    fmt: Option<&str>,
    day_first: bool,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let dates_on = |i: usize| -> Vec<NaiveDate> {
        let words: Vec<&str> = all[i].words.iter().map(|w| w.text.as_str()).collect();
        let mut out = Vec::new();
        let mut k = 0;
        while k < words.len() {
            let found =
                dates::at_start(&words[k..], None).or_else(|| dates::at_start(&words[k..], fmt));
            match found {
                Some((p, n)) => {
                    if let Some((Some(y), m, d)) = dates::settle(p, day_first)
                        && let Some(date) = NaiveDate::from_ymd_opt(y, m, d)
                    {
                        out.push(date);
                    }
                    k += n;
                }
                None => k += 1,
            }
        }
        out
    };
    let keys = ["period", "from", "through", " to "];
    for i in (0..all.len()).filter(|&i| keys.iter().any(|k| lower[i].contains(k))) {
        let ds = dates_on(i);
        if ds.len() >= 2 && ds[0] <= ds[1] && (ds[1] - ds[0]).num_days() <= 400 {
            return (Some(ds[0]), Some(ds[1]));
        }
    }
    for keys in [&[
        "statement date",
        "statement dated",
        "closing date",
        "as of",
        "as at",
    ][..]]
    {
        for i in (0..all.len()).filter(|&i| keys.iter().any(|k| lower[i].contains(k))) {
            if let Some(d) = dates_on(i).first() {
                return (None, Some(*d));
            }
            // The date may stand on the line below its label.
            if let Some(d) = (i + 1 < all.len())
                .then(|| dates_on(i + 1))
                .and_then(|v| v.first().copied())
            {
                return (None, Some(d));
            }
        }
    }
    (None, None)
}
