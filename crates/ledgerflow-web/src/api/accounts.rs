//! `/api/v1/accounts`: list, read, create and change accounts.

use super::*;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ArchivedParam {
    archived: bool,
}

pub(super) async fn list_accounts(
    Viewer(_): Viewer,
    State(st): Shared,
    Params(p): Params<ArchivedParam>,
) -> Answer<Vec<AccountView>> {
    Ok(Json(account_views(st.store.as_ref(), p.archived).await?))
}

pub(super) async fn get_account(
    Viewer(_): Viewer,
    State(st): Shared,
    Path(id): Path<i64>,
) -> Answer<AccountView> {
    let a = st.store.get_account(id).await?;
    let sums = service::account_sums(st.store.as_ref()).await?;
    Ok(Json(account_view(a, &sums)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccountBody {
    name: String,
    #[serde(default)]
    institution: Option<String>,
    #[serde(default = "default_kind")]
    kind: String,
    #[serde(default = "default_currency")]
    currency: String,
    /// Decimal text.
    #[serde(default)]
    opening_balance: Option<String>,
}

pub(super) fn default_kind() -> String {
    "checking".into()
}
pub(super) fn default_currency() -> String {
    "USD".into()
}

pub(super) async fn create_account(
    Editor(who): Editor,
    State(st): Shared,
    Body(b): Body<NewAccountBody>,
) -> Created<AccountView> {
    let input = AccountInput {
        name: &b.name,
        institution: b.institution.as_deref(),
        kind: b.kind.parse()?,
        currency: &b.currency,
        opening_balance: b.opening_balance.as_deref(),
    };
    let a = service::create_account(st.store.as_ref(), &who.actor(), &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(account_view(a, &Default::default())?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountPatchBody {
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    institution: Option<Option<String>>,
    kind: Option<String>,
    opening_balance: Option<String>,
    archived: Option<bool>,
}

pub(super) async fn update_account(
    Editor(who): Editor,
    State(st): Shared,
    Path(id): Path<i64>,
    Body(b): Body<AccountPatchBody>,
) -> Answer<AccountView> {
    let changes = AccountChanges {
        name: b.name.as_deref(),
        institution: b.institution.as_ref().map(|i| i.as_deref()),
        kind: b.kind.as_deref().map(str::parse).transpose()?,
        opening_balance: b.opening_balance.as_deref(),
        archived: b.archived,
    };
    service::update_account(st.store.as_ref(), &who.actor(), id, &changes).await?;
    let a = st.store.get_account(id).await?;
    let sums = service::account_sums(st.store.as_ref()).await?;
    Ok(Json(account_view(a, &sums)?))
}
