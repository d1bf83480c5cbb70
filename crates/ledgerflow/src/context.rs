//! What every command needs: the loaded settings and, for data commands, an open store.

use std::sync::Arc;

use anyhow::Context as _;
use ledgerflow_core::Store;
use ledgerflow_core::model::Actor;
use ledgerflow_db::{Location, OpenMode};

use crate::config::Settings;

pub struct Ctx {
    pub settings: Settings,
    pub actor: Actor,
}

impl Ctx {
    pub fn location(&self) -> anyhow::Result<Location> {
        Ok(self.settings.location()?)
    }

    /// Opens an existing, initialised store (a missing one says to run `init`).
    pub async fn store(&self) -> anyhow::Result<Arc<dyn Store>> {
        self.open(OpenMode::Existing).await
    }

    pub async fn open(&self, mode: OpenMode) -> anyhow::Result<Arc<dyn Store>> {
        let location = self.location()?;
        let store = ledgerflow_db::open(&location, mode)
            .await
            .with_context(|| format!("opening the store at {}", location.display()))?;
        if mode == OpenMode::Existing && store.meta().await?.is_none() {
            let location = store.location();
            store.close().await;
            return Err(ledgerflow_core::StoreError::NotInitialized { location }.into());
        }
        Ok(store)
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
