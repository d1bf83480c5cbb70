//! `ledgerflow import inspect FILE`: parse a bank file and show what LedgerFlow reads from it.
//! No store and no account are needed.

use std::path::PathBuf;

use ledgerflow_core::Currency;
use ledgerflow_import::{Format, ParsedFile};
use serde::Serialize;

use crate::context::{print_json, print_table};
use crate::exit::BadInput;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Parse a file and print its statements and transactions (nothing is imported).
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    pub file: PathBuf,
    /// auto, ofx, qif or camt.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Currency of amounts the file does not label (QIF) [default: USD].
    #[arg(long, default_value = "USD")]
    pub currency: String,
    /// List unreadable rows as warnings instead of refusing the file.
    #[arg(long)]
    pub skip_invalid: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct StatementView {
    account: Option<String>,
    currency: Option<String>,
    transactions: usize,
    start: Option<chrono::NaiveDate>,
    end: Option<chrono::NaiveDate>,
}

#[derive(Serialize)]
struct TxnView {
    date: chrono::NaiveDate,
    amount: String,
    amount_minor: i64,
    currency: String,
    payee: String,
    memo: String,
    external_id: Option<String>,
    line: usize,
}

#[derive(Serialize)]
struct Inspection {
    format: Format,
    statements: Vec<StatementView>,
    transactions: Vec<TxnView>,
    warnings: Vec<String>,
}

fn parse_format(s: &str) -> Result<Option<Format>, BadInput> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(None),
        "ofx" | "qfx" | "qbo" => Ok(Some(Format::Ofx)),
        "qif" => Ok(Some(Format::Qif)),
        "camt" | "camt.053" | "camt053" => Ok(Some(Format::Camt)),
        other => Err(BadInput(format!(
            "unknown format \"{other}\" (expected auto, ofx, qif or camt)"
        ))),
    }
}

fn inspect(
    parsed: ParsedFile,
    fallback: Currency,
    file: &str,
    skip_invalid: bool,
) -> Result<Inspection, BadInput> {
    let mut warnings = parsed.warnings.clone();
    if !parsed.errors.is_empty() {
        if !skip_invalid {
            let first = &parsed.errors[0];
            let more = parsed.errors.len() - 1;
            return Err(BadInput(format!(
                "{file}: {first}{}",
                if more > 0 {
                    format!(" (and {more} more bad rows; --skip-invalid lists them)")
                } else {
                    String::new()
                }
            )));
        }
        warnings.extend(parsed.errors.iter().map(|e| format!("skipped {e}")));
    }
    let mut transactions = Vec::new();
    for st in &parsed.statements {
        for t in &st.transactions {
            let code = t.currency.as_deref().or(st.currency.as_deref());
            let currency = match code.map(Currency::from_code) {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    let w = format!("line {}: {e}; read as {fallback}", t.line);
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                    fallback
                }
                None => fallback,
            };
            let minor = currency
                .decimal_to_minor(t.amount, &t.amount.to_string())
                .map_err(|e| BadInput(format!("{file}: line {}: {e}", t.line)))?;
            transactions.push(TxnView {
                date: t.date,
                amount: currency.format_minor(minor),
                amount_minor: minor,
                currency: currency.to_string(),
                payee: t.payee.clone(),
                memo: t.memo.clone(),
                external_id: t.external_id.clone(),
                line: t.line,
            });
        }
    }
    Ok(Inspection {
        format: parsed.format,
        statements: parsed
            .statements
            .iter()
            .map(|s| StatementView {
                account: s.account.clone(),
                currency: s.currency.clone(),
                transactions: s.transactions.len(),
                start: s.start,
                end: s.end,
            })
            .collect(),
        transactions,
        warnings,
    })
}

pub fn run(cmd: &Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Inspect(a) => {
            let name = a.file.display().to_string();
            let bytes =
                std::fs::read(&a.file).map_err(|e| BadInput(format!("cannot read {name}: {e}")))?;
            let fallback = Currency::from_code(&a.currency)?;
            let parsed = ledgerflow_import::parse(&bytes, &name, parse_format(&a.format)?)
                .map_err(|e| BadInput(e.to_string()))?;
            let view = inspect(parsed, fallback, &name, a.skip_invalid)?;
            if a.json {
                return print_json(&view);
            }
            crate::out!(
                "{name}: {} file, {} statement(s), {} transaction(s)",
                view.format.as_str(),
                view.statements.len(),
                view.transactions.len()
            );
            for s in &view.statements {
                crate::out!(
                    "  account {} ({}): {} transactions, {} to {}",
                    s.account.as_deref().unwrap_or("?"),
                    s.currency.as_deref().unwrap_or("?"),
                    s.transactions,
                    s.start.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
                    s.end.map(|d| d.to_string()).unwrap_or_else(|| "?".into())
                );
            }
            let rows: Vec<Vec<String>> = view
                .transactions
                .iter()
                .map(|t| {
                    vec![
                        t.line.to_string(),
                        t.date.to_string(),
                        format!("{} {}", t.amount, t.currency),
                        t.payee.clone(),
                        t.external_id.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                print_table(&["LINE", "DATE", "AMOUNT", "PAYEE", "BANK ID"], &rows);
            }
            for w in &view.warnings {
                crate::out!("warning: {w}");
            }
            Ok(())
        }
    }
}
