//! `ledgerflow category add|list|rename|move`. Categories are addressed by path
//! ("Food:Groceries") or by a name that is unique.

use ledgerflow_core::model::CategoryKind;
use ledgerflow_core::service::{
    self, CATEGORY_SEP, CategoryChanges, CategoryInput, CategorySpec, category_paths,
    category_views_of, resolve_category,
};

use crate::context::{Ctx, print_list};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add a category, optionally under a parent.
    Add {
        name: String,
        /// Parent category (path or unique name).
        #[arg(long)]
        parent: Option<String>,
        /// income, expense or transfer [default: the parent's kind, else expense].
        #[arg(long)]
        kind: Option<CategoryKind>,
    },
    /// List the category tree.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Rename a category (its children follow).
    Rename { category: String, new_name: String },
    /// Move a category under another one, or to the top level.
    Move {
        category: String,
        /// New parent (path or unique name).
        #[arg(long, conflicts_with = "top", required_unless_present = "top")]
        to: Option<String>,
        /// Move to the top level.
        #[arg(long)]
        top: bool,
    },
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    ctx.with_store(async |s| {
        let all = s.list_categories().await?;
        match cmd {
            Cmd::Add { name, parent, kind } => {
                let c = service::create_category(
                    s,
                    &ctx.actor,
                    &CategoryInput {
                        name,
                        parent: parent.as_deref().map(CategorySpec::named),
                        kind: *kind,
                    },
                )
                .await?;
                let parent = c.parent_id;
                let path = match parent {
                    Some(p) => {
                        let paths = category_paths(&all);
                        let pp = paths
                            .iter()
                            .find(|(id, _)| *id == p)
                            .map(|(_, s)| s.clone())
                            .unwrap_or_default();
                        format!("{pp}{CATEGORY_SEP}{}", c.name)
                    }
                    None => c.name.clone(),
                };
                crate::out!("Added category \"{path}\" (id {}, {})", c.id, c.kind);
            }
            Cmd::List { json } => {
                let views = category_views_of(&all);
                print_list(
                    &views,
                    *json,
                    "No categories yet: add one with `ledgerflow category add NAME`.",
                    &["ID", "CATEGORY", "KIND"],
                    |v| vec![v.id.to_string(), v.path.clone(), v.kind.to_string()],
                )?;
            }
            Cmd::Rename { category, new_name } => {
                let c = resolve_category(&all, category)?;
                let changes = CategoryChanges::renamed(new_name);
                let name = service::update_category(s, &ctx.actor, c.id, &changes)
                    .await?
                    .name;
                crate::out!("Renamed category \"{}\" to \"{name}\"", c.name);
            }
            Cmd::Move { category, to, top } => {
                let c = resolve_category(&all, category)?;
                let parent = if *top {
                    None
                } else {
                    to.as_deref()
                        .map(|p| resolve_category(&all, p))
                        .transpose()?
                        .map(|p| p.id)
                };
                let changes = CategoryChanges::moved(parent);
                service::update_category(s, &ctx.actor, c.id, &changes).await?;
                crate::out!(
                    "Moved category \"{}\" {}",
                    c.name,
                    match to {
                        Some(t) if !*top => format!("under \"{t}\""),
                        _ => "to the top level".to_string(),
                    }
                );
            }
        }
        anyhow::Ok(())
    })
    .await
}
