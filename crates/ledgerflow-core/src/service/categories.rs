//! Categories: paths ("Food:Groceries"), resolving what a user typed, the tree's rules,
//! creating and changing a category, and the tree as both faces show it.

use serde::Serialize;
use tracing::instrument;

use crate::error::{CoreError, ValidationError};
use crate::model::{Actor, Category, CategoryKind, CategoryPatch, NewCategory};
use crate::service::check_name;
use crate::store::Store;

/// Separator of category paths ("Food:Groceries").
pub const CATEGORY_SEP: char = ':';

/// A category's own name (creation and rename, on every face): a valid name, without the
/// path separator `:` (a subcategory is made with a parent), and not the reserved "none".
pub fn check_category_name(name: &str) -> Result<String, ValidationError> {
    let name = check_name("category", name)?;
    // The separator, or a character that looks like it.
    if name.contains([CATEGORY_SEP, '\u{FF1A}', '\u{FE55}', '\u{A789}', '\u{2236}']) {
        return Err(ValidationError::new(format!(
            "category name \"{name}\" must not contain '{CATEGORY_SEP}': choose a parent for a subcategory"
        )));
    }
    if name.eq_ignore_ascii_case("none") {
        return Err(ValidationError::new(
            "\"none\" is reserved (it means \"no category\" in filters and edits)",
        ));
    }
    Ok(name)
}

/// The full path of every category, keyed by id ("Food:Groceries").
pub fn category_paths(all: &[Category]) -> Vec<(i64, String)> {
    let by_id: std::collections::HashMap<i64, &Category> = all.iter().map(|c| (c.id, c)).collect();
    let mut out: Vec<(i64, String)> = all
        .iter()
        .map(|c| {
            let mut parts = vec![c.name.as_str()];
            let mut cur = c.parent_id;
            let mut guard = 0;
            while let Some(p) = cur.and_then(|id| by_id.get(&id)) {
                parts.push(p.name.as_str());
                cur = p.parent_id;
                guard += 1;
                if guard > 64 {
                    break;
                }
            }
            parts.reverse();
            (c.id, parts.join(&CATEGORY_SEP.to_string()))
        })
        .collect();
    out.sort_by_key(|(_, path)| path.to_lowercase());
    out
}

/// Resolves "Food:Groceries" (a full path) or "Groceries" (a name that is unique) to a category.
pub fn resolve_category<'a>(all: &'a [Category], spec: &str) -> Result<&'a Category, CoreError> {
    let spec = spec.trim();
    let paths = category_paths(all);
    if let Some((id, _)) = paths.iter().find(|(_, p)| p.eq_ignore_ascii_case(spec)) {
        return all.iter().find(|c| c.id == *id).ok_or_else(|| {
            CoreError::NotFound(format!(
                "unknown category \"{}\"",
                crate::error::shown(spec)
            ))
        });
    }
    let by_name: Vec<&Category> = all
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case(spec))
        .collect();
    match by_name.as_slice() {
        [one] => Ok(one),
        [] => Err(CoreError::NotFound(format!(
            "unknown category \"{}\"",
            crate::error::shown(spec)
        ))),
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|c| {
                    paths
                        .iter()
                        .find(|(id, _)| *id == c.id)
                        .map(|(_, p)| p.clone())
                })
                .collect();
            Err(CoreError::Invalid(ValidationError::new(format!(
                "category \"{spec}\" is ambiguous: say which of {} you mean",
                names.join(", ")
            ))))
        }
    }
}

/// A category as a face names it: the CLI by path or unique name, the API also by id.
#[derive(Debug, Clone, Copy)]
pub struct CategorySpec<'a> {
    pub text: &'a str,
    /// A number that is an existing category's id means that category.
    pub by_id: bool,
}

impl<'a> CategorySpec<'a> {
    /// A path or unique name.
    pub fn named(text: &'a str) -> Self {
        CategorySpec { text, by_id: false }
    }
    /// An id, a path or a unique name.
    pub fn id_or_named(text: &'a str) -> Self {
        CategorySpec { text, by_id: true }
    }
    /// Blank or "none": no category (in edits and filters).
    pub fn means_none(&self) -> bool {
        let t = self.text.trim();
        t.is_empty() || t.eq_ignore_ascii_case("none")
    }
}

/// Resolves a [`CategorySpec`] among `all` to an id.
pub fn category_id_in(all: &[Category], spec: CategorySpec<'_>) -> Result<i64, CoreError> {
    match spec.text.trim().parse::<i64>() {
        Ok(id) if spec.by_id && all.iter().any(|c| c.id == id) => Ok(id),
        _ => Ok(resolve_category(all, spec.text)?.id),
    }
}

/// Resolves a [`CategorySpec`] to an id.
pub async fn category_id(s: &dyn Store, spec: CategorySpec<'_>) -> Result<i64, CoreError> {
    category_id_in(&s.list_categories().await?, spec)
}

/// `id` and the ids of every category below it.
pub fn with_descendants(all: &[Category], id: i64) -> Vec<i64> {
    let mut out = vec![id];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            all.iter()
                .filter(|c| c.parent_id == Some(parent))
                .map(|c| c.id),
        );
        i += 1;
        if out.len() > all.len() + 1 {
            break;
        }
    }
    out
}

/// Refuses a parent that would make a category its own ancestor.
pub fn check_no_cycle(all: &[Category], id: i64, new_parent: Option<i64>) -> Result<(), CoreError> {
    let mut cur = new_parent;
    let mut steps = 0;
    while let Some(p) = cur {
        if p == id {
            return Err(CoreError::Invalid(ValidationError::new(
                "a category cannot be moved under itself or one of its subcategories",
            )));
        }
        cur = all.iter().find(|c| c.id == p).and_then(|c| c.parent_id);
        steps += 1;
        if steps > 64 {
            break;
        }
    }
    Ok(())
}

/// A new category as a face received it.
#[derive(Debug, Clone, Copy)]
pub struct CategoryInput<'a> {
    pub name: &'a str,
    /// The parent; blank means the top level.
    pub parent: Option<CategorySpec<'a>>,
    /// `None`: the parent's kind, else expense.
    pub kind: Option<CategoryKind>,
}

/// Creates a category.
#[instrument(skip_all)]
pub async fn create_category(
    s: &dyn Store,
    actor: &Actor,
    input: &CategoryInput<'_>,
) -> Result<Category, CoreError> {
    let all = s.list_categories().await?;
    let parent = match input.parent.filter(|p| !p.text.trim().is_empty()) {
        Some(p) => {
            let id = category_id_in(&all, p)?;
            all.iter().find(|c| c.id == id)
        }
        None => None,
    };
    let new = NewCategory {
        name: check_category_name(input.name)?,
        parent_id: parent.map(|p| p.id),
        kind: input
            .kind
            .or(parent.map(|p| p.kind))
            .unwrap_or(CategoryKind::Expense),
    };
    Ok(s.create_category(actor, &new).await?)
}

/// A change to a category; absent fields stay as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct CategoryChanges<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` moves it to the top level.
    pub parent_id: Option<Option<i64>>,
    pub kind: Option<CategoryKind>,
}

impl<'a> CategoryChanges<'a> {
    /// A new name, and nothing else.
    pub fn renamed(name: &'a str) -> Self {
        CategoryChanges {
            name: Some(name),
            ..Default::default()
        }
    }

    /// A new parent (`None`: the top level), and nothing else.
    pub fn moved(parent_id: Option<i64>) -> Self {
        CategoryChanges {
            parent_id: Some(parent_id),
            ..Default::default()
        }
    }
}

/// Renames, moves or re-kinds a category (its children follow).
#[instrument(skip_all, fields(id = %id))]
pub async fn update_category(
    s: &dyn Store,
    actor: &Actor,
    id: i64,
    c: &CategoryChanges<'_>,
) -> Result<Category, CoreError> {
    if let Some(p) = c.parent_id {
        let all = s.list_categories().await?;
        // A parent that does not exist is not found (the store would only see a constraint).
        if let Some(pid) = p
            && !all.iter().any(|x| x.id == pid)
        {
            return Err(CoreError::NotFound(format!(
                "category {pid} does not exist"
            )));
        }
        check_no_cycle(&all, id, p)?;
    }
    let patch = CategoryPatch {
        name: c.name.map(check_category_name).transpose()?,
        parent_id: c.parent_id,
        kind: c.kind,
    };
    Ok(s.update_category(actor, id, &patch).await?)
}

/// A category with its full path: what `category list --json` prints and the API answers.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryView {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub parent_id: Option<i64>,
    pub kind: CategoryKind,
}

/// Every category of `all` with its full path, in path order.
pub fn category_views_of(all: &[Category]) -> Vec<CategoryView> {
    let by_id: std::collections::HashMap<i64, &Category> = all.iter().map(|c| (c.id, c)).collect();
    category_paths(all)
        .into_iter()
        .filter_map(|(id, path)| {
            by_id.get(&id).map(|c| CategoryView {
                id,
                name: c.name.clone(),
                path,
                parent_id: c.parent_id,
                kind: c.kind,
            })
        })
        .collect()
}

/// Every category with its full path, in path order.
pub async fn category_views(s: &dyn Store) -> Result<Vec<CategoryView>, CoreError> {
    Ok(category_views_of(&s.list_categories().await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn cat(id: i64, name: &str, parent: Option<i64>) -> Category {
        Category {
            id,
            name: name.into(),
            parent_id: parent,
            kind: CategoryKind::Expense,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn categories_resolve_by_path_or_unique_name() {
        let all = vec![
            cat(1, "Food", None),
            cat(2, "Groceries", Some(1)),
            cat(3, "Travel", None),
            cat(4, "Food", Some(3)),
        ];
        assert_eq!(
            resolve_category(&all, "Food:Groceries").expect("path").id,
            2
        );
        assert_eq!(resolve_category(&all, "groceries").expect("name").id, 2);
        assert_eq!(resolve_category(&all, "Travel:Food").expect("path").id, 4);
        let err = resolve_category(&all, "Food")
            .expect("top-level path wins")
            .id;
        assert_eq!(err, 1);
        assert!(matches!(
            resolve_category(&all, "Rent"),
            Err(CoreError::NotFound(m)) if m == "unknown category \"Rent\""
        ));
    }

    #[test]
    fn ids_resolve_only_where_a_face_allows_them() {
        let all = vec![cat(1, "Food", None), cat(2, "7", None)];
        assert_eq!(
            category_id_in(&all, CategorySpec::id_or_named("1")).ok(),
            Some(1)
        );
        assert!(category_id_in(&all, CategorySpec::named("1")).is_err());
        assert_eq!(category_id_in(&all, CategorySpec::named("7")).ok(), Some(2));
    }

    /// A, B under A, C under B.
    fn chain_a_b_c() -> Vec<Category> {
        vec![
            cat(1, "A", None),
            cat(2, "B", Some(1)),
            cat(3, "C", Some(2)),
        ]
    }

    #[test]
    fn descendants_include_every_level() {
        let mut all = chain_a_b_c();
        all.push(cat(4, "D", None));
        assert_eq!(with_descendants(&all, 1), vec![1, 2, 3]);
        assert_eq!(with_descendants(&all, 4), vec![4]);
    }

    #[test]
    fn moving_a_category_under_its_child_is_refused() {
        let all = chain_a_b_c();
        assert!(check_no_cycle(&all, 1, Some(3)).is_err());
        assert!(check_no_cycle(&all, 1, Some(1)).is_err());
        assert!(check_no_cycle(&all, 3, Some(1)).is_ok());
    }
}
