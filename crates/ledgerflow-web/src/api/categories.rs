//! `/api/v1/categories`: the category tree, creating and changing a category.

use super::*;

pub(super) async fn list_categories(
    Viewer(_): Viewer,
    State(st): Shared,
) -> Answer<Vec<CategoryView>> {
    Ok(Json(category_views(st.store.as_ref()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewCategoryBody {
    name: String,
    /// A parent id, path or unique name.
    #[serde(default)]
    parent: Option<String>,
    #[serde(default = "default_category_kind")]
    kind: String,
}

pub(super) fn default_category_kind() -> String {
    "expense".into()
}

pub(super) async fn create_category(
    Editor(who): Editor,
    State(st): Shared,
    Body(b): Body<NewCategoryBody>,
) -> Created<CategoryView> {
    let input = CategoryInput {
        name: &b.name,
        parent: b.parent.as_deref().map(CategorySpec::id_or_named),
        kind: Some(b.kind.parse()?),
    };
    let c = service::create_category(st.store.as_ref(), &who.actor(), &input).await?;
    let view = category_views(st.store.as_ref())
        .await?
        .into_iter()
        .find(|v| v.id == c.id)
        .ok_or_else(|| Problem::internal("the new category is missing"))?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CategoryPatchBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    parent_id: Option<Option<i64>>,
    kind: Option<String>,
}

pub(super) async fn update_category(
    Editor(who): Editor,
    State(st): Shared,
    Path(id): Path<i64>,
    Body(b): Body<CategoryPatchBody>,
) -> Answer<CategoryView> {
    let changes = CategoryChanges {
        name: b.name.as_deref(),
        parent_id: b.parent_id,
        kind: b.kind.as_deref().map(str::parse).transpose()?,
    };
    service::update_category(st.store.as_ref(), &who.actor(), id, &changes).await?;
    let view = category_views(st.store.as_ref())
        .await?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| Problem::not_found(format!("category {id} does not exist")))?;
    Ok(Json(view))
}
