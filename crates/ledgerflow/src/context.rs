//! What every command needs: the loaded settings and, for data commands, an open store.

use std::sync::Arc;

use anyhow::Context as _;
use ledgerflow_core::Store;
use ledgerflow_core::model::Actor;
use ledgerflow_db::{Location, OpenMode};

use crate::config::Settings;
use crate::guard::lost_store_refusal;

pub struct Ctx {
    pub settings: Settings,
    pub actor: Actor,
    /// `--accept-new-lineage`: a new or empty store is the ledger now, whatever backups of
    /// another store the catalog holds.
    pub accept_new_lineage: bool,
}

impl Ctx {
    pub fn location(&self) -> anyhow::Result<Location> {
        Ok(self.settings.location()?)
    }

    /// Opens an existing, initialised store (a missing one says to run `init`).
    pub async fn store(&self) -> anyhow::Result<Arc<dyn Store>> {
        self.open(OpenMode::Existing).await
    }

    /// Runs `f` on the existing store and closes the store after, whatever `f` returned.
    pub async fn with_store<T>(
        &self,
        f: impl AsyncFnOnce(&dyn Store) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let store = self.store().await?;
        let result = f(store.as_ref()).await;
        store.close().await;
        result
    }

    /// Opens the store after the environment lock and the lineage guard ([`crate::guard`]).
    /// Pending schema migrations are applied after a verified, pinned backup (refused in prod:
    /// `ledgerflow migrate --authorize-prod` there).
    pub async fn open(&self, mode: OpenMode) -> anyhow::Result<Arc<dyn Store>> {
        let store = self.open_guarded(mode).await?;
        let (applied, known) = (store.schema_version().await?, store.known_schema_version());
        if applied == 0 || applied >= known {
            return Ok(store);
        }
        if self.settings.env == ledgerflow_core::model::Environment::Prod {
            store.close().await;
            return Err(crate::exit::Refused(format!(
                "the store's schema is at version {applied} and this LedgerFlow needs {known}: in prod, run `ledgerflow migrate --authorize-prod` (a verified backup is taken first)"
            ))
            .into());
        }
        crate::backups::migrate_with_backup(self, store).await
    }

    /// [`Ctx::open`] without applying pending migrations (`migrate` does that itself).
    pub async fn open_guarded(&self, mode: OpenMode) -> anyhow::Result<Arc<dyn Store>> {
        let location = self.location()?;
        let backup_dir = &self.settings.backup_dir;
        if let Location::Sqlite(p) = &location
            && !p.exists()
            && !self.accept_new_lineage
            && let Some(e) = crate::guard::lost_store(backup_dir, None)
        {
            return Err(lost_store_refusal(self, &e, &location.display(), true).into());
        }
        // As it is first: migrations wait for the backup that precedes them.
        let opened = match ledgerflow_db::open(&location, OpenMode::AsIs).await {
            Err(ledgerflow_core::StoreError::NotInitialized { .. }) if mode == OpenMode::Create => {
                ledgerflow_db::open(&location, OpenMode::Create).await
            }
            other => other,
        };
        let store = match opened {
            Ok(s) => s,
            // An empty database (recreated after a loss) is refused for what it is.
            Err(e @ ledgerflow_core::StoreError::NotInitialized { .. }) => {
                if !self.accept_new_lineage
                    && let Some(lost) = crate::guard::lost_store(backup_dir, None)
                {
                    return Err(lost_store_refusal(self, &lost, &location.display(), false).into());
                }
                return Err(anyhow::Error::new(e)
                    .context(format!("opening the store at {}", location.display())));
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("opening the store at {}", location.display())));
            }
        };
        let checked = async {
            let meta = store.meta().await?;
            if let Some(m) = &meta {
                crate::guard::environment(m, self.settings.env)?;
            }
            if !self.accept_new_lineage
                && let Some(e) = crate::guard::lost_store(backup_dir, meta.as_ref())
            {
                let c = store.counts().await?;
                if c.transactions == 0 && c.accounts == 0 {
                    return Err(lost_store_refusal(self, &e, &store.location(), false).into());
                }
            }
            if meta.is_none() && mode != OpenMode::Create {
                return Err(ledgerflow_core::StoreError::NotInitialized {
                    location: store.location(),
                }
                .into());
            }
            Ok::<(), anyhow::Error>(())
        }
        .await;
        match checked {
            Ok(()) => Ok(store),
            Err(e) => {
                store.close().await;
                Err(e)
            }
        }
    }

    /// Opens the store without the guards (`status` reports what they would say).
    pub async fn open_unguarded(&self, mode: OpenMode) -> anyhow::Result<Arc<dyn Store>> {
        let location = self.location()?;
        let store = ledgerflow_db::open(&location, mode)
            .await
            .with_context(|| format!("opening the store at {}", location.display()))?;
        if mode != OpenMode::Create && store.meta().await?.is_none() {
            let location = store.location();
            store.close().await;
            return Err(ledgerflow_core::StoreError::NotInitialized { location }.into());
        }
        Ok(store)
    }

    /// After `init` (or `serve`'s first run) with `--accept-new-lineage`: the new store is
    /// recorded as the accepted ledger, so later commands need no flag.
    pub fn initialized(&self, meta: &ledgerflow_core::model::StoreMeta) -> anyhow::Result<()> {
        if self.accept_new_lineage {
            crate::guard::accept_lineage(&self.settings.backup_dir, &meta.lineage_id.to_string())?;
        }
        Ok(())
    }
}

/// Writes one line to stdout. A closed pipe (`ledgerflow tx list | head`) ends the program
/// quietly with success, as command-line tools do, instead of panicking.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let result = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(i32::from(crate::exit::INTERNAL));
    }
}

/// `println!` for command output, through [`write_out`].
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::context::write_out(format_args!($($t)*)) };
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    write_out(format_args!("{}", serde_json::to_string_pretty(v)?));
    Ok(())
}

/// A command's result: the value as JSON with `--json`, else the line `text` makes of it.
pub fn print_result<T: serde::Serialize>(
    json: bool,
    v: &T,
    text: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        return print_json(v);
    }
    write_out(format_args!("{}", text(v)));
    Ok(())
}

/// A listing command's output: the items as JSON with `--json`, else `empty` when there are
/// none, else a table with one row per item.
pub fn print_list<T: serde::Serialize>(
    items: &[T],
    json: bool,
    empty: &str,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    if json {
        return print_json(&items);
    }
    if items.is_empty() {
        write_out(format_args!("{empty}"));
    } else {
        print_rows(header, items, row);
    }
    Ok(())
}

/// Prints one table row per item.
pub fn print_rows<T>(header: &[&str], items: &[T], row: impl Fn(&T) -> Vec<String>) {
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    print_table(header, &rows);
}

/// A table cell that names a flag when it is set and stays empty otherwise.
pub fn flag(set: bool, name: &str) -> String {
    if set { name.to_string() } else { String::new() }
}

/// Prints rows as an aligned text table.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i].saturating_sub(c.chars().count());
            out.push_str(c);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(pad));
            }
        }
        write_out(format_args!("{}", out.trim_end()));
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
