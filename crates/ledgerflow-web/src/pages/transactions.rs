//! The transaction list (search, filters, inline and bulk category changes) and one
//! transaction's page (edit, delete, history).

use super::*;

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub(super) fn options(
    items: impl IntoIterator<Item = (String, String)>,
    current: &str,
) -> Vec<Opt> {
    items
        .into_iter()
        .map(|(value, label)| Opt {
            selected: value == current,
            value,
            label,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "transactions.html")]
pub(super) struct TransactionsPage {
    nav: Nav,
    q: TxQuery,
    rows: Vec<TxRowView>,
    accounts: Vec<Opt>,
    categories: Vec<Opt>,
    statuses: Vec<Opt>,
    sorts: Vec<Opt>,
    next_url: String,
    error: String,
    /// What the last form did (an import from the web saved its reading, …).
    notice: String,
    shown: usize,
}

/// One row of the list, with the category choices for the inline edit.
pub struct TxRowView {
    pub t: TxView,
    pub amount_class: &'static str,
    pub choices: Vec<Opt>,
    pub can_edit: bool,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "tx_row.html")]
pub(super) struct TxRowFragment {
    row: TxRowView,
}

pub(super) fn row_view(t: TxView, cats: &[CategoryView], who: &CurrentUser) -> TxRowView {
    let current = t.category_id.map(|c| c.to_string()).unwrap_or_default();
    let mut choices = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: current.is_empty(),
    }];
    choices.extend(options(
        cats.iter().map(|c| (c.id.to_string(), c.path.clone())),
        &current,
    ));
    TxRowView {
        amount_class: if t.amount_minor < 0 { "neg" } else { "pos" },
        t,
        choices,
        can_edit: who.can(Role::Editor),
        csrf: who.csrf(),
    }
}

pub(super) fn v(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

pub(super) async fn transactions(
    Viewer(who): Viewer,
    State(st): Shared,
    Query(q): Query<TxQuery>,
) -> Page {
    let s = st.store.as_ref();
    let cats = category_views(s).await?;
    let (rows, next, error) = match tx_page(s, &q).await {
        Ok(page) => (page.items, page.next_cursor, String::new()),
        Err(e) if e.status.is_client_error() => (Vec::new(), None, e.message),
        Err(e) => return Err(e),
    };
    let next_url = next
        .map(|c| {
            let mut q2 = q.clone();
            q2.cursor = Some(c);
            format!("/transactions?{}", query_string(&q2))
        })
        .unwrap_or_default();
    let accounts = s.list_accounts(true).await?;
    let mut category_opts = vec![
        (String::new(), "All categories".to_string()),
        ("none".to_string(), "Uncategorized".to_string()),
    ];
    category_opts.extend(cats.iter().map(|c| (c.id.to_string(), c.path.clone())));
    let mut account_opts = vec![(String::new(), "All accounts".to_string())];
    account_opts.extend(accounts.iter().map(|a| (a.id.to_string(), a.name.clone())));
    let mut status_opts = vec![(String::new(), "Any status".to_string())];
    status_opts.extend(TxStatus::ALL.iter().map(|s| (s.to_string(), s.to_string())));
    let sort_opts = [
        ("date_desc", "Newest first"),
        ("date_asc", "Oldest first"),
        ("amount_asc", "Largest spending first"),
        ("amount_desc", "Largest income first"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    let shown = rows.len();
    render(TransactionsPage {
        nav: nav(&st, &who, "transactions").await?,
        rows: rows.into_iter().map(|t| row_view(t, &cats, &who)).collect(),
        accounts: options(account_opts, &v(&q.account)),
        categories: options(category_opts, &v(&q.category)),
        statuses: options(status_opts, &v(&q.status)),
        sorts: options(sort_opts, &v(&q.sort)),
        q,
        next_url,
        error,
        notice: st.web.take_flash(who.credential_id),
        shown,
    })
}

pub(super) fn query_string(q: &TxQuery) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", url_encode(v)));
        }
    };
    add("q", &q.q);
    add("account", &q.account);
    add("category", &q.category);
    add("from", &q.from);
    add("to", &q.to);
    add("min", &q.min);
    add("max", &q.max);
    add("status", &q.status);
    add("batch", &q.batch);
    add("sort", &q.sort);
    add("cursor", &q.cursor);
    if let Some(l) = q.limit {
        parts.push(format!("limit={l}"));
    }
    parts.join("&")
}

pub(super) fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// The inline category change: htmx gets the row back; a plain form goes back to the list.
pub(super) async fn set_category(
    State(st): Shared,
    Path(id): Path<i64>,
    headers: HeaderMap,
    p: Posted,
) -> Page {
    p.user.require(Role::Editor)?;
    let s = st.store.as_ref();
    let category = p.text("category");
    let changes = TxChanges {
        category: Some(Some(CategorySpec::id_or_named(&category))),
        ..Default::default()
    };
    service::patch_transaction(s, &p.user.actor(), id, &changes).await?;
    let view = tx_view(s, id).await?;
    if is_htmx(&headers) {
        let cats = category_views(s).await?;
        return render(TxRowFragment {
            row: row_view(view, &cats, &p.user),
        });
    }
    Ok(back(&headers, "/transactions").into_response())
}

pub(super) async fn bulk_categorize(State(st): Shared, headers: HeaderMap, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let ids = p
        .all("ids")
        .into_iter()
        .map(|i| {
            i.parse::<i64>()
                .map_err(|_| Problem::bad_request(format!("\"{i}\" is not a transaction id")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let category = Some(p.text("category")).filter(|c| c != "null");
    let changed = service::categorize_many(
        st.store.as_ref(),
        &p.user.actor(),
        &ids,
        category.as_deref().map(CategorySpec::id_or_named),
    )
    .await?;
    tracing::info!(user = %p.user.user.name, changed, "bulk re-categorized");
    Ok(back(&headers, "/transactions").into_response())
}

#[derive(Template)]
#[template(path = "transaction.html")]
pub(super) struct TransactionPage {
    nav: Nav,
    t: TxView,
    categories: Vec<Opt>,
    statuses: Vec<Opt>,
    history: Vec<service::Change>,
    error: String,
}

pub(super) async fn transaction_page(
    st: &AppState,
    who: &CurrentUser,
    id: i64,
    error: String,
) -> Page {
    let s = st.store.as_ref();
    let t = tx_view(s, id).await?;
    let cats = category_views(s).await?;
    let mut cat_opts = vec![(String::new(), "—".to_string())];
    cat_opts.extend(cats.iter().map(|c| (c.id.to_string(), c.path.clone())));
    let current = t.category_id.map(|c| c.to_string()).unwrap_or_default();
    let statuses = options(
        TxStatus::ALL.iter().map(|s| (s.to_string(), s.to_string())),
        t.status.as_str(),
    );
    render_form(
        TransactionPage {
            nav: nav(st, who, "transactions").await?,
            categories: options(cat_opts, &current),
            statuses,
            history: service::tx_history(s, id).await?,
            t,
            error: error.clone(),
        },
        &error,
    )
}

pub(super) async fn transaction(
    Viewer(who): Viewer,
    State(st): Shared,
    Path(id): Path<i64>,
) -> Page {
    transaction_page(&st, &who, id, String::new()).await
}

pub(super) async fn edit_transaction(State(st): Shared, Path(id): Path<i64>, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let changed = async {
        let changes = TxChanges {
            date: p.get("date"),
            amount: p.get("amount"),
            payee: p.get("payee"),
            description: p.get("description"),
            memo: p.get("memo"),
            category: p
                .get("category")
                .map(|c| Some(CategorySpec::id_or_named(c))),
            status: p.get("status").map(str::parse).transpose()?,
            reviewed: false,
        };
        service::patch_transaction(st.store.as_ref(), &p.user.actor(), id, &changes)
            .await
            .map_err(Problem::from)
    }
    .await;
    match changed {
        Ok(_) => Ok(Redirect::to(&format!("/transactions/{id}")).into_response()),
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            transaction_page(&st, &p.user, id, e.message).await
        }
        Err(e) => Err(e),
    }
}

pub(super) async fn delete_transaction(State(st): Shared, Path(id): Path<i64>, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    service::delete_transaction(st.store.as_ref(), &p.user.actor(), id).await?;
    Ok(Redirect::to("/transactions").into_response())
}
