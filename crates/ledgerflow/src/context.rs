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

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
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
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
