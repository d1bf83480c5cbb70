//! `ledgerflow config show|default`.

use crate::config::{self, Loaded};
use crate::context::print_json;

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Print the effective configuration and where each value came from (secrets redacted).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Print an annotated example ledgerflow.toml.
    Default,
}

pub fn run(loaded: &Loaded, cmd: &Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Show { json } => {
            let shown = config::show(loaded);
            if *json {
                let obj: serde_json::Map<String, serde_json::Value> = shown
                    .iter()
                    .map(|s| {
                        (
                            s.key.to_string(),
                            serde_json::json!({ "value": s.value, "source": s.source }),
                        )
                    })
                    .collect();
                return print_json(&obj);
            }
            match &loaded.file {
                Some(f) => crate::out!("# configuration file: {}", f.display()),
                None => crate::out!(
                    "# no configuration file (looked for ./{})",
                    config::DEFAULT_CONFIG_FILE
                ),
            }
            let width = shown.iter().map(|s| s.key.len()).max().unwrap_or(0);
            for s in &shown {
                crate::out!("{:<width$} = {}  # {}", s.key, s.value, s.source);
            }
        }
        Cmd::Default => crate::out!("{}", config::EXAMPLE.trim_end()),
    }
    Ok(())
}
