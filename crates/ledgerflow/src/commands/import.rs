//! `ledgerflow import FILE… --account NAME`: import bank files as batches, duplicates decided
//! by `ledgerflow_import::service`. `import inspect FILE` parses only (no store, no account);
//! `import list` shows the batches; `import undo BATCH` removes exactly one batch.

use std::path::PathBuf;

use ledgerflow_core::Currency;
use ledgerflow_import::{Format, ParsedFile};
use serde::Serialize;

use crate::context::{print_json, print_rows, print_table};
use crate::exit::BadInput;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Parse a file and print its statements and transactions (nothing is imported).
    Inspect(InspectArgs),
    /// List import batches.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove exactly the rows of one import batch (journaled).
    Undo {
        batch: i64,
        /// In prod: allow this bulk deletion (a fresh verified backup and the store's name
        /// typed at the prompt are needed too).
        #[arg(long)]
        authorize_prod: bool,
    },
    /// CSV profiles: the built-in bank presets and your own.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// PDF templates: what a bank's statement layout needs beyond the generic reader.
    #[command(subcommand)]
    Template(TemplateCmd),
}

#[derive(Debug, clap::Subcommand)]
pub enum TemplateCmd {
    /// Check a PDF template written in TOML and save it (it is used for every PDF whose text
    /// holds all of its `match` strings).
    Add {
        file: PathBuf,
        /// Replace a saved template of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List the shipped and the saved templates.
    List,
    /// Print a template as TOML (a shipped one is a good start for your own).
    Show { name: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum ProfileCmd {
    /// Check a profile written in TOML and save it under its name (use it with --format csv:NAME);
    /// or, with --from, save the reading inferred from a bank file.
    Add {
        /// A profile in TOML.
        #[arg(required_unless_present = "from", conflicts_with = "from")]
        file: Option<PathBuf>,
        /// A CSV export: save the reading LedgerFlow infers for it.
        #[arg(long, requires = "name")]
        from: Option<PathBuf>,
        /// The name to save the inferred profile under (letters, digits, - and _).
        #[arg(long)]
        name: Option<String>,
        /// Replace a saved profile of the same name.
        #[arg(long)]
        replace: bool,
        /// Remember the profile for this account: its CSVs no preset recognises are read with it.
        #[arg(long)]
        account: Option<String>,
    },
    /// List the presets and the saved profiles.
    List,
    /// Print a profile as TOML (a preset is a good start for your own).
    Show { name: String },
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Bank files (OFX/QFX/QBO, QIF, CAMT.053/052/054, MT940/MT942, CSV, PDF statements).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The account the rows belong to.
    #[arg(long, required = true)]
    pub account: Option<String>,
    /// auto, ofx, qif, camt, mt940, pdf, or csv:PRESET / csv:PROFILE (see `import profile list`).
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Show what would be imported, with each row's decision; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the good rows and list the bad ones instead of refusing the file.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Bring back rows that match transactions you deleted.
    #[arg(long)]
    pub include_deleted: bool,
    /// For a file with several statements: the account id (as in the file) to import.
    #[arg(long)]
    pub statement: Option<String>,
    /// Read ambiguous QIF dates day-first.
    #[arg(long)]
    pub day_first: bool,
    /// Import a PDF statement (read from its layout, so it is imported only after its preview:
    /// without --yes the preview is shown and nothing is written).
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    pub file: PathBuf,
    /// auto, ofx, qif, camt, mt940, pdf, or csv:PRESET / csv:PROFILE.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Currency of amounts the file does not label (QIF, most CSVs).
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
    /// The balances the file states (MT940), as decimal text.
    #[serde(skip_serializing_if = "Option::is_none")]
    opening_balance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closing_balance: Option<String>,
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
    /// The page, in a PDF.
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<u32>,
}

#[derive(Serialize)]
struct Inspection {
    format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    statements: Vec<StatementView>,
    transactions: Vec<TxnView>,
    /// How the file was read, where that took judgment (a PDF's columns, the balances).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evidence: Vec<String>,
    warnings: Vec<String>,
    /// The reading inferred for a CSV no preset recognises: mapping, confidence, evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    inferred: Option<ledgerflow_import::csv::Inferred>,
}

fn parse_format(s: &str) -> Result<Option<Format>, BadInput> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(None),
        "ofx" | "qfx" | "qbo" => Ok(Some(Format::Ofx)),
        "qif" => Ok(Some(Format::Qif)),
        "camt" | "camt.053" | "camt053" => Ok(Some(Format::Camt)),
        "mt940" | "mt942" | "sta" | "swi" => Ok(Some(Format::Mt940)),
        "csv" => Ok(Some(Format::Csv)),
        "pdf" => Ok(Some(Format::Pdf)),
        f if f.starts_with("csv:") => Ok(Some(Format::Csv)),
        other => Err(BadInput(format!(
            "unknown format \"{other}\" (expected auto, ofx, qif, camt, mt940, pdf, csv or csv:PROFILE)"
        ))),
    }
}

/// `--format csv:auto`: the reading inferred from each file.
const AUTO: &str = "auto";

fn is_auto(format: &str) -> bool {
    format
        .split_once(':')
        .is_some_and(|(f, n)| f.eq_ignore_ascii_case("csv") && n.eq_ignore_ascii_case(AUTO))
}

/// Text safe to paste into a shell: as it is when plain, else in single quotes.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:-=+,@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// How much of a file inference and detection look at.
const HEAD_BYTES: u64 = 1024 * 1024;

/// The first megabyte of a file (enough to infer a CSV reading, or to detect a format), and
/// whether that is the whole file.
fn file_head(path: &std::path::Path) -> Result<(Vec<u8>, bool), BadInput> {
    use std::io::Read;
    let file = path.display().to_string();
    let cannot = |e: std::io::Error| BadInput(format!("cannot read {file}: {e}"));
    regular_file(path)?;
    let mut f = std::fs::File::open(path).map_err(cannot)?;
    let mut head = Vec::new();
    (&mut f)
        .take(HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(cannot)?;
    // Whole when nothing follows the head.
    let whole = f.read(&mut [0u8; 1]).map_err(cannot)? == 0;
    Ok((head, whole))
}

/// The reading LedgerFlow infers for a CSV no preset recognises, or why there is none.
fn inferred_reading(path: &std::path::Path) -> Result<ledgerflow_import::csv::Inferred, BadInput> {
    let (head, whole) = file_head(path)?;
    ledgerflow_import::csv::infer_bytes(&head, whole).map_err(|why| {
        BadInput(format!(
            "{}: no reading could be inferred ({why}); write a profile (`ledgerflow import profile show wellsfargo` is a start)",
            path.display()
        ))
    })
}

/// The refusal for a CSV no preset recognises, imported without `--format csv:auto`: the
/// reading LedgerFlow would use and the exact commands to accept or keep it.
fn unknown_csv(path: &std::path::Path, account: &str) -> Option<BadInput> {
    let (head, whole) = file_head(path).ok()?;
    let inferred = ledgerflow_import::csv::infer_unrecognised(&head, whole)?;
    let file = shell_word(&path.display().to_string());
    let account = shell_word(account);
    let next = if inferred.settled().is_ok() {
        format!(
            "Check it with:   ledgerflow import inspect {file} (add --skip-invalid to list unreadable rows)\n\
             Import it so:    ledgerflow import {file} --account {account} --format csv:auto (add --skip-invalid to leave unreadable rows out)\n\
             Keep the reading to edit and reuse: ledgerflow import profile add --from {file} --name NAME"
        )
    } else {
        format!(
            "The reading is ambiguous, so it is not imported as it is. Settle it in a profile:\n\
             ledgerflow import profile add --from {file} --name NAME   (then edit its TOML)\n\
             ledgerflow import {file} --account {account} --format csv:NAME"
        )
    };
    Some(BadInput(format!(
        "{}: this CSV matches no known bank export. LedgerFlow would read it so:\n{}\n{next}",
        path.display(),
        inferred.describe(),
    )))
}

/// A bank file given on the command line: a regular file (a pipe or a device would hang the
/// import or never end).
fn regular_file(path: &std::path::Path) -> Result<(), BadInput> {
    let file = path.display().to_string();
    match std::fs::metadata(path) {
        Err(e) => Err(BadInput(format!("cannot read {file}: {e}"))),
        Ok(m) if m.is_dir() => Err(BadInput(format!("{file} is a directory, not a bank file"))),
        Ok(m) if !m.is_file() => Err(BadInput(format!(
            "{file} is not a regular file (a pipe or a device): save the bank file first"
        ))),
        Ok(_) => Ok(()),
    }
}

/// Where a row is: its line, and its page in a PDF.
fn place(line: usize, page: Option<u32>) -> String {
    match page {
        Some(p) => format!("page {p} line {line}"),
        None => format!("line {line}"),
    }
}

/// Where saved PDF templates live.
fn templates_dir(ctx: &crate::context::Ctx) -> PathBuf {
    ctx.settings.data_dir.join("import-templates")
}

/// The saved PDF templates; one that is not valid is said on stderr and left out (a
/// template is only ever needed for a PDF, and `import template list` names it too).
fn saved_templates(ctx: &crate::context::Ctx) -> Vec<ledgerflow_import::pdf::Template> {
    let (found, problems) = ledgerflow_import::pdf::load_dir(&templates_dir(ctx));
    for p in problems {
        tracing::warn!("PDF template not used: {p}");
        eprintln!("note: PDF template not used: {p} (fix or remove it)");
    }
    found
}

fn template_cmd(ctx: &crate::context::Ctx, cmd: &TemplateCmd) -> anyhow::Result<()> {
    use ledgerflow_import::pdf::shipped;
    match cmd {
        TemplateCmd::Add { file, replace } => {
            regular_file(file)?;
            let text = std::fs::read_to_string(file)
                .map_err(|e| BadInput(format!("cannot read {}: {e}", file.display())))?;
            let (t, dest) =
                ledgerflow_import::pdf::save_template(&templates_dir(ctx), &text, *replace)
                    .map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
            crate::out!(
                "Saved PDF template \"{}\" ({}); it reads every PDF holding {}",
                t.name,
                dest.display(),
                t.matches
                    .iter()
                    .map(|m| format!("\"{m}\""))
                    .collect::<Vec<_>>()
                    .join(" and ")
            );
        }
        TemplateCmd::List => {
            let (saved, problems) = ledgerflow_import::pdf::load_dir(&templates_dir(ctx));
            let mut rows: Vec<Vec<String>> = saved
                .iter()
                .map(|t| vec![t.name.clone(), "saved".into(), t.matches.join(" + ")])
                .collect();
            rows.extend(
                shipped()
                    .iter()
                    .map(|t| vec![t.name.clone(), "shipped".into(), t.matches.join(" + ")]),
            );
            print_table(&["TEMPLATE", "KIND", "MATCHES"], &rows);
            for p in problems {
                crate::out!("not used: {p}");
            }
        }
        TemplateCmd::Show { name } => {
            let t = saved_templates(ctx)
                .into_iter()
                .chain(shipped())
                .find(|t| &t.name == name)
                .ok_or_else(|| {
                    BadInput(format!(
                        "unknown PDF template \"{}\"",
                        ledgerflow_core::error::shown(name)
                    ))
                })?;
            crate::out!("{}", toml::to_string_pretty(&t)?.trim_end());
        }
    }
    Ok(())
}

/// Where saved CSV profiles live.
fn saved_profiles(ctx: &crate::context::Ctx) -> ledgerflow_import::csv::SavedProfiles {
    ledgerflow_import::csv::SavedProfiles::in_data_dir(&ctx.settings.data_dir)
}

/// The profile named by `--format csv:NAME`: a saved profile, else a built-in preset.
fn profile_for(
    ctx: &crate::context::Ctx,
    format: &str,
) -> Result<Option<ledgerflow_import::csv::Profile>, BadInput> {
    let Some(name) = format
        .strip_prefix("csv:")
        .or_else(|| format.strip_prefix("CSV:"))
    else {
        return Ok(None);
    };
    if name.eq_ignore_ascii_case(AUTO) {
        // Inferred for each file (`inferred_reading`).
        return Ok(None);
    }
    if let Some(p) = saved_profiles(ctx).load(name).map_err(BadInput)? {
        return Ok(Some(p));
    }
    ledgerflow_import::csv::preset(name).map(Some).ok_or_else(|| {
        BadInput(format!(
            "unknown CSV profile \"{name}\" (presets: {}; saved profiles: `ledgerflow import profile list`)",
            ledgerflow_import::csv::presets().iter().map(|p| p.name.clone()).collect::<Vec<_>>().join(", ")
        ))
    })
}

async fn profile_cmd(ctx: &crate::context::Ctx, cmd: &ProfileCmd) -> anyhow::Result<()> {
    match cmd {
        ProfileCmd::Add {
            file,
            from,
            name,
            replace,
            account,
        } => {
            let saved = saved_profiles(ctx);
            let (p, note) = match (file, from) {
                (Some(file), _) => (
                    ledgerflow_import::csv::SavedProfiles::load_file(file).map_err(BadInput)?,
                    String::new(),
                ),
                (None, Some(from)) => {
                    let inferred = inferred_reading(from)?;
                    let mut p = inferred.profile.clone();
                    p.name = name.clone().unwrap_or_default();
                    if let Err(why) = inferred.settled() {
                        if account.is_some() {
                            return Err(BadInput(format!(
                                "{why}\nSave it without --account, settle it in the profile's TOML, then remember it for the account with `ledgerflow import profile add FILE.toml --replace --account A`"
                            ))
                            .into());
                        }
                        eprintln!(
                            "warning: the reading is ambiguous: settle it in the TOML before importing with it:\n{}",
                            inferred
                                .ambiguities
                                .iter()
                                .map(|a| format!("  - {a}"))
                                .collect::<Vec<_>>()
                                .join("\n")
                        );
                    }
                    let note =
                        format!("Inferred from {}:\n{}", from.display(), inferred.describe());
                    (p, note)
                }
                (None, None) => {
                    return Err(BadInput("name a profile file or --from FILE".into()).into());
                }
            };
            // The account is checked before anything is written.
            let account = match account {
                Some(a) => Some(
                    ctx.with_store(async |s| {
                        Ok(ledgerflow_core::service::account_by_name(s, a).await?)
                    })
                    .await?,
                ),
                None => None,
            };
            let dest = saved.save(&p, &note, *replace).map_err(BadInput)?;
            crate::out!(
                "Saved CSV profile \"{}\" ({}); use it with --format csv:{}",
                p.name,
                dest.display(),
                p.name
            );
            if let Some(account) = account {
                saved.remember(account.id, &p.name).map_err(BadInput)?;
                crate::out!(
                    "Remembered for account \"{}\": its CSVs no preset recognises are read with it",
                    account.name
                );
            }
        }
        ProfileCmd::List => {
            let mut rows: Vec<Vec<String>> = ledgerflow_import::csv::presets()
                .into_iter()
                .map(|p| vec![p.name, "preset".into()])
                .collect();
            rows.extend(
                saved_profiles(ctx)
                    .names()
                    .into_iter()
                    .map(|n| vec![n, "saved".into()]),
            );
            print_table(&["PROFILE", "KIND"], &rows);
        }
        ProfileCmd::Show { name } => {
            let p = profile_for(ctx, &format!("csv:{name}"))?
                .ok_or_else(|| BadInput(format!("unknown CSV profile \"{name}\"")))?;
            crate::out!("{}", toml::to_string_pretty(&p)?.trim_end());
        }
    }
    Ok(())
}

fn view(
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
                    let w = format!("{}: {e}; read as {fallback}", place(t.line, t.page));
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                    fallback
                }
                None => fallback,
            };
            let minor = currency
                .decimal_to_minor(t.amount, &t.amount.to_string())
                .map_err(|e| BadInput(format!("{file}: {}: {e}", place(t.line, t.page))))?;
            transactions.push(TxnView {
                date: t.date,
                amount: currency.format_minor(minor),
                amount_minor: minor,
                currency: currency.to_string(),
                // As the import keeps them: no escape sequence reaches the terminal.
                payee: ledgerflow_core::error::plain_text(&t.payee).into_owned(),
                memo: ledgerflow_core::error::plain_text(&t.memo).into_owned(),
                external_id: t
                    .external_id
                    .as_deref()
                    .map(|e| ledgerflow_core::error::plain_text(e).into_owned()),
                line: t.line,
                page: t.page,
            });
        }
    }
    Ok(Inspection {
        format: parsed.format,
        profile: parsed.profile.clone(),
        statements: parsed
            .statements
            .iter()
            .map(|s| StatementView {
                account: s.account.clone(),
                currency: s.currency.clone(),
                transactions: s.transactions.len(),
                // The period the file declares, else the one its rows span.
                start: s
                    .start
                    .or_else(|| s.transactions.iter().map(|t| t.date).min()),
                end: s
                    .end
                    .or_else(|| s.transactions.iter().map(|t| t.date).max()),
                opening_balance: s.opening.map(|b| b.amount.to_string()),
                closing_balance: s.closing.map(|b| b.amount.to_string()),
            })
            .collect(),
        transactions,
        evidence: parsed.evidence.clone(),
        warnings,
        inferred: None,
    })
}

pub async fn run(ctx: &crate::context::Ctx, args: &Args) -> anyhow::Result<()> {
    match &args.cmd {
        Some(Cmd::Inspect(a)) => inspect(ctx, a),
        Some(Cmd::Profile(p)) => profile_cmd(ctx, p).await,
        Some(Cmd::Template(t)) => template_cmd(ctx, t),
        Some(Cmd::List { json }) => ctx.with_store(async |s| list(s, *json).await).await,
        Some(Cmd::Undo {
            batch,
            authorize_prod,
        }) => {
            ctx.with_store(async |s| {
                if ctx.settings.env == ledgerflow_core::model::Environment::Prod {
                    crate::guard::authorize_prod_on(
                        ctx,
                        s,
                        &format!("undoing import batch {batch}"),
                        *authorize_prod,
                    )
                    .await?;
                }
                let (b, n) = ledgerflow_core::service::undo_import(s, &ctx.actor, *batch).await?;
                crate::out!(
                    "Undid import batch {} ({}): removed {n} transactions",
                    b.id,
                    b.file_name
                );
                Ok(())
            })
            .await
        }
        None => {
            ctx.with_store(async |s| import(ctx, s, &args.run).await)
                .await
        }
    }
}

async fn list(s: &dyn ledgerflow_core::Store, json: bool) -> anyhow::Result<()> {
    let batches = s.list_imports().await?;
    if json {
        return print_json(&batches);
    }
    if batches.is_empty() {
        crate::out!("No imports yet: `ledgerflow import FILE --account NAME`.");
        return Ok(());
    }
    let names: std::collections::HashMap<i64, String> = s
        .list_accounts(true)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    print_rows(
        &[
            "BATCH", "WHEN", "WHO", "FILE", "SHA-256", "FORMAT", "ACCOUNT", "ROWS",
        ],
        &batches,
        |b| {
            vec![
                b.id.to_string(),
                b.created_at.format("%Y-%m-%d %H:%M").to_string(),
                b.actor.clone(),
                b.file_name.clone(),
                b.file_sha256.chars().take(12).collect(),
                b.format.clone(),
                names.get(&b.account_id).cloned().unwrap_or_default(),
                format!(
                    "{} read, {} new, {} dup, {} flagged, {} skipped",
                    b.rows_read, b.rows_new, b.rows_duplicate, b.rows_flagged, b.rows_skipped
                ),
            ]
        },
    );
    Ok(())
}

async fn import(
    ctx: &crate::context::Ctx,
    s: &dyn ledgerflow_core::Store,
    a: &RunArgs,
) -> anyhow::Result<()> {
    use ledgerflow_import::service::{ImportOptions, Source, import_file};
    let name = a.account.as_deref().unwrap_or_default();
    let account = ledgerflow_core::service::account_by_name(s, name).await?;
    ledgerflow_core::service::ensure_not_archived(&account)?;
    let opts = ImportOptions {
        format: parse_format(&a.format)?,
        dry_run: a.dry_run,
        skip_invalid: a.skip_invalid,
        include_deleted: a.include_deleted,
        statement: a.statement.clone(),
        profile: profile_for(ctx, &a.format)?,
        date_order: if a.day_first {
            ledgerflow_import::qif::DateOrder::DayFirst
        } else {
            ledgerflow_import::qif::DateOrder::MonthFirst
        },
        pdf_templates: saved_templates(ctx),
    };
    let mut summaries = Vec::new();
    for path in &a.files {
        let file = path.display().to_string();
        regular_file(path)?;
        let mut opts = opts.clone();
        if is_auto(&a.format) {
            let inferred = inferred_reading(path)?.for_account(&account);
            inferred.settled().map_err(|why| {
                let file = shell_word(&path.display().to_string());
                BadInput(format!(
                    "{}: {why}\nSee the reading: ledgerflow import inspect {file}\nSave it, settle it in its TOML, then import with --format csv:NAME: ledgerflow import profile add --from {file} --name NAME",
                    path.display()
                ))
            })?;
            opts.profile = Some(inferred.profile);
        } else if opts.format.is_none()
            && let Some(p) = match file_head(path) {
                Ok((head, whole)) => saved_profiles(ctx)
                    .remembered_reading(account.id, &head, whole)
                    .unwrap_or_else(|why| {
                        // Said, then the file is treated as any unknown CSV.
                        eprintln!("note: {why}");
                        None
                    }),
                Err(_) => None,
            }
        {
            if !a.json {
                crate::out!(
                    "{file}: read with CSV profile \"{}\", remembered for account \"{}\"",
                    p.name,
                    account.name
                );
            }
            opts.profile = Some(p);
        } else if opts.format.is_none()
            && let Some(refusal) = unknown_csv(path, name)
        {
            if a.json && !summaries.is_empty() {
                print_json(&summaries)?;
            }
            return Err(refusal.into());
        }
        // A PDF is read from its layout: it is imported only after its preview was seen.
        let pdf = opts.format == Some(Format::Pdf)
            || opts.format.is_none()
                && file_head(path).is_ok_and(|(head, _)| ledgerflow_import::pdf::sniff(&head));
        let preview_only = pdf && !a.yes && !opts.dry_run;
        if preview_only {
            opts.dry_run = true;
        }
        let progress = crate::progress::for_import(&file);
        let imported = import_file(
            s,
            &ctx.actor,
            &account,
            &file,
            Source::Path(path.clone()),
            &opts,
            progress,
        )
        .await;
        let summary = match imported {
            Ok(summary) => summary,
            Err(e) => {
                // The files before this one were imported (each is its own batch): say so.
                if a.json && !summaries.is_empty() {
                    print_json(&summaries)?;
                }
                return Err(e.into());
            }
        };
        if !a.json {
            print_summary(&summary, &account.currency);
        }
        summaries.push(summary);
        if preview_only {
            if a.json {
                print_json(&summaries)?;
            }
            let file = shell_word(&file);
            return Err(BadInput(format!(
                "{file}: nothing was imported. A PDF statement is read from its layout, not from data: check the rows above (each with its page and line), then import them with\n  ledgerflow import {file} --account {} --yes\nIf a row is wrong, a PDF template can correct the reading (README: \"PDF statements\").",
                shell_word(name)
            ))
            .into());
        }
    }
    if a.json {
        match summaries.as_slice() {
            [one] => print_json(one)?,
            many => print_json(&many)?,
        }
    }
    Ok(())
}

fn print_summary(
    s: &ledgerflow_import::service::ImportSummary,
    currency: &ledgerflow_core::Currency,
) {
    if let Some(b) = s.already_imported {
        crate::out!("{}: already imported as batch {b}; nothing to do.", s.file);
        return;
    }
    let verb = if s.dry_run {
        "would import"
    } else {
        "imported"
    };
    crate::out!(
        "{}: {} rows read, {verb} {} new ({} flagged for review), {} already present, {} skipped{} in {} ms{}",
        s.file,
        s.rows_read,
        s.new,
        s.flagged,
        s.duplicates,
        s.skipped,
        if s.deleted > 0 {
            format!(", {} previously deleted", s.deleted)
        } else {
            String::new()
        },
        s.duration_ms,
        s.batch_id
            .map(|b| format!(" (batch {b}; undo: ledgerflow import undo {b})"))
            .unwrap_or_default()
    );
    for r in &s.skipped_rows {
        crate::out!("  skipped {r}");
    }
    for e in &s.evidence {
        crate::out!("  evidence: {e}");
    }
    for w in &s.warnings {
        crate::out!("  warning: {w}");
    }
    if s.dry_run {
        for d in &s.decisions {
            crate::out!(
                "  {:>10}  {}  {:>12}  {:<10}  {}",
                place(d.line, d.page),
                d.date,
                currency.format_minor(d.amount_minor),
                format!("{:?}", d.decision).to_lowercase(),
                d.payee
            );
        }
    }
}

fn inspect(ctx: &crate::context::Ctx, a: &InspectArgs) -> anyhow::Result<()> {
    {
        let name = a.file.display().to_string();
        regular_file(&a.file)?;
        let bytes =
            std::fs::read(&a.file).map_err(|e| BadInput(format!("cannot read {name}: {e}")))?;
        let fallback = Currency::from_code(&a.currency)?;
        let format = parse_format(&a.format)?;
        // A CSV no preset recognises (or `csv:auto`): read as LedgerFlow infers it.
        let inferred = if is_auto(&a.format)
            || (format.is_none() && ledgerflow_import::detect(&bytes).is_none())
        {
            match ledgerflow_import::csv::infer_bytes(&bytes, true) {
                Ok(i) => Some(i),
                Err(_) if !is_auto(&a.format) => None,
                Err(why) => {
                    return Err(
                        BadInput(format!("{name}: no reading could be inferred ({why})")).into(),
                    );
                }
            }
        } else {
            None
        };
        let parsed = match (profile_for(ctx, &a.format)?, &inferred) {
            (Some(p), _) => ledgerflow_import::csv::parse(&bytes, &name, Some(&p)),
            (None, Some(i)) => ledgerflow_import::csv::parse(&bytes, &name, Some(&i.profile)),
            (None, None)
                if format == Some(Format::Pdf) || ledgerflow_import::pdf::sniff(&bytes) =>
            {
                ledgerflow_import::pdf::parse(&bytes, &name, &saved_templates(ctx))
            }
            (None, None) => ledgerflow_import::parse(&bytes, &name, format),
        }
        .map_err(|e| BadInput(e.to_string()))?;
        let mut shown = view(parsed, fallback, &name, a.skip_invalid)?;
        shown.inferred = inferred;
        if a.json {
            return print_json(&shown);
        }
        let read_as = match &shown.profile {
            Some(p) => format!("{} file read as {p}", shown.format.as_str()),
            None => format!("{} file", shown.format.as_str()),
        };
        crate::out!(
            "{name}: {read_as}, {} statement(s), {} transaction(s)",
            shown.statements.len(),
            shown.transactions.len()
        );
        if let Some(i) = &shown.inferred {
            crate::out!("No preset matches; the inferred reading:\n{}", i.describe());
            let file = shell_word(&name);
            if i.settled().is_ok() {
                crate::out!(
                    "Import with --format csv:auto, or keep it: ledgerflow import profile add --from {file} --name NAME"
                );
            } else {
                crate::out!(
                    "Ambiguous, so --format csv:auto will not import it: save the reading with `ledgerflow import profile add --from {file} --name NAME`, settle it in the TOML, then import with --format csv:NAME"
                );
            }
        }
        for s in &shown.statements {
            crate::out!(
                "  account {} ({}): {} transactions, {} to {}",
                s.account.as_deref().unwrap_or("?"),
                s.currency.as_deref().unwrap_or("?"),
                s.transactions,
                s.start.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
                s.end.map(|d| d.to_string()).unwrap_or_else(|| "?".into())
            );
            if let (Some(open), Some(close)) = (&s.opening_balance, &s.closing_balance) {
                crate::out!("    opening balance {open}, closing balance {close}");
            }
        }
        if !shown.transactions.is_empty() {
            print_rows(
                &[
                    if shown.format == Format::Pdf {
                        "PAGE:LINE"
                    } else {
                        "LINE"
                    },
                    "DATE",
                    "AMOUNT",
                    "PAYEE",
                    "BANK ID",
                ],
                &shown.transactions,
                |t| {
                    vec![
                        match t.page {
                            Some(p) => format!("{p}:{}", t.line),
                            None => t.line.to_string(),
                        },
                        t.date.to_string(),
                        format!("{} {}", t.amount, t.currency),
                        t.payee.clone(),
                        t.external_id.clone().unwrap_or_default(),
                    ]
                },
            );
        }
        for e in &shown.evidence {
            crate::out!("evidence: {e}");
        }
        for w in &shown.warnings {
            crate::out!("warning: {w}");
        }
        Ok(())
    }
}
