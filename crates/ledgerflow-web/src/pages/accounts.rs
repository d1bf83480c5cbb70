//! The accounts and categories pages.

use super::*;

#[derive(Template)]
#[template(path = "accounts.html")]
pub(super) struct AccountsPage {
    nav: Nav,
    accounts: Vec<AccountView>,
    kinds: Vec<Opt>,
    error: String,
}

pub(super) async fn accounts_page(st: &AppState, who: &CurrentUser, error: String) -> Page {
    let kinds = options(
        AccountKind::ALL
            .iter()
            .map(|k| (k.to_string(), k.to_string())),
        "checking",
    );
    render_form(
        AccountsPage {
            nav: nav(st, who, "accounts").await?,
            accounts: account_views(st.store.as_ref(), true).await?,
            kinds,
            error: error.clone(),
        },
        &error,
    )
}

pub(super) async fn accounts(Viewer(who): Viewer, State(st): Shared) -> Page {
    accounts_page(&st, &who, String::new()).await
}

pub(super) async fn add_account(State(st): Shared, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let made = async {
        let currency = p.text("currency").to_uppercase();
        let input = AccountInput {
            name: &p.text("name"),
            institution: p.get("institution"),
            kind: p.text("kind").parse()?,
            currency: &currency,
            opening_balance: p.get("opening_balance"),
        };
        service::create_account(st.store.as_ref(), &p.user.actor(), &input)
            .await
            .map_err(Problem::from)
    }
    .await;
    redirect_or_again(made, "/accounts", |m| accounts_page(&st, &p.user, m)).await
}

pub struct CategoryLine {
    pub c: CategoryView,
    pub depth: usize,
}

#[derive(Template)]
#[template(path = "categories.html")]
pub(super) struct CategoriesPage {
    nav: Nav,
    lines: Vec<CategoryLine>,
    parents: Vec<Opt>,
    kinds: Vec<Opt>,
    error: String,
}

pub(super) async fn categories_page(st: &AppState, who: &CurrentUser, error: String) -> Page {
    let cats = category_views(st.store.as_ref()).await?;
    let mut parents = vec![(String::new(), "(top level)".to_string())];
    parents.extend(cats.iter().map(|c| (c.id.to_string(), c.path.clone())));
    let lines = cats
        .into_iter()
        .map(|c| {
            let depth = c
                .path
                .matches(ledgerflow_core::service::CATEGORY_SEP)
                .count();
            CategoryLine { depth, c }
        })
        .collect();
    render_form(
        CategoriesPage {
            nav: nav(st, who, "categories").await?,
            lines,
            parents: options(parents, ""),
            kinds: options(
                CategoryKind::ALL
                    .iter()
                    .map(|k| (k.to_string(), k.to_string())),
                "expense",
            ),
            error: error.clone(),
        },
        &error,
    )
}

pub(super) async fn categories(Viewer(who): Viewer, State(st): Shared) -> Page {
    categories_page(&st, &who, String::new()).await
}

pub(super) async fn add_category(State(st): Shared, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let made = async {
        let parent = p.text("parent");
        let input = CategoryInput {
            name: &p.text("name"),
            parent: Some(CategorySpec::id_or_named(&parent)),
            kind: Some(p.text("kind").parse()?),
        };
        service::create_category(st.store.as_ref(), &p.user.actor(), &input)
            .await
            .map_err(Problem::from)
    }
    .await;
    redirect_or_again(made, "/categories", |m| categories_page(&st, &p.user, m)).await
}
