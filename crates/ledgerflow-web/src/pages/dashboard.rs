//! The dashboard: balances and this month's spending by category.

use super::*;

pub(super) struct Bar {
    label: String,
    amount: String,
    y: i64,
    width: i64,
    text_y: i64,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub(super) struct DashboardPage {
    nav: Nav,
    month: String,
    month_start: String,
    accounts: Vec<AccountView>,
    bars: Vec<Bar>,
    chart_height: i64,
    total: String,
    counts: Counts,
    /// How many of this month's rows have no category ("1000+" beyond one page).
    uncategorized: String,
}

pub(super) async fn dashboard(Viewer(who): Viewer, State(st): Shared) -> Page {
    let s = st.store.as_ref();
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let spending = month_spending(s, first, today).await?;
    let width = 420i64;
    // Bars compare within one currency only; totals are per currency, never summed across.
    let mut max: BTreeMap<ledgerflow_core::Currency, i64> = BTreeMap::new();
    let mut totals: BTreeMap<ledgerflow_core::Currency, i64> = BTreeMap::new();
    for (_, cur, v) in &spending {
        let m = max.entry(*cur).or_insert(1);
        *m = (*m).max(*v);
        let t = totals.entry(*cur).or_insert(0);
        *t = t.saturating_add(*v);
    }
    // With several currencies, each one's bars sit together and say their currency (their
    // lengths compare within a currency only).
    let several = max.len() > 1;
    let mut spending = spending;
    if several {
        spending.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    }
    let bars = spending
        .iter()
        .take(12)
        .enumerate()
        .map(|(i, (label, cur, v))| Bar {
            label: if several {
                format!("{label} ({cur})")
            } else {
                label.clone()
            },
            amount: format!("{} {cur}", cur.format_minor(*v)),
            y: i as i64 * 28,
            width: ((*v as i128 * width as i128) / i128::from(max.get(cur).copied().unwrap_or(1)))
                .max(2) as i64,
            text_y: i as i64 * 28 + 15,
        })
        .collect::<Vec<_>>();
    let total = totals
        .iter()
        .map(|(cur, v)| format!("{} {cur}", cur.format_minor(*v)))
        .collect::<Vec<_>>()
        .join(" · ");
    let page = s
        .list_transactions(&TxFilter {
            from: Some(first),
            to: Some(today),
            uncategorized: true,
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let uncategorized = format!(
        "{}{}",
        page.items.len(),
        if page.next_cursor.is_some() { "+" } else { "" }
    );
    render(DashboardPage {
        nav: nav(&st, &who, "dashboard").await?,
        month: first.format("%B %Y").to_string(),
        month_start: first.to_string(),
        accounts: account_views(s, false).await?,
        chart_height: (bars.len() as i64 * 28).max(28),
        bars,
        total,
        counts: s.counts().await?,
        uncategorized,
    })
}

/// This month's spending (negative amounts) per top-level category and currency, largest first:
/// (category, currency, amount in minor units as a positive number). Two currencies are never
/// added together.
pub(super) async fn month_spending(
    s: &dyn ledgerflow_core::Store,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Vec<(String, ledgerflow_core::Currency, i64)>, Problem> {
    let categories = s.list_categories().await?;
    let by_id: HashMap<i64, &Category> = categories.iter().map(|c| (c.id, c)).collect();
    let top = |mut id: i64| {
        let mut guard = 0;
        while let Some(p) = by_id.get(&id).and_then(|c| c.parent_id) {
            id = p;
            guard += 1;
            if guard > 64 {
                break;
            }
        }
        by_id.get(&id).map(|c| c.name.clone()).unwrap_or_default()
    };
    let mut sums: HashMap<(String, ledgerflow_core::Currency), i64> = HashMap::new();
    let mut filter = TxFilter {
        from: Some(from),
        to: Some(to),
        max_amount_minor: Some(-1),
        limit: 1000,
        ..Default::default()
    };
    loop {
        let page = s.list_transactions(&filter).await?;
        for t in &page.items {
            if t.transfer_id.is_some() {
                continue;
            }
            let label = t
                .category_id
                .map(top)
                .unwrap_or_else(|| "Uncategorized".to_string());
            let e = sums.entry((label, t.currency)).or_insert(0);
            *e = e.saturating_add(t.amount_minor.saturating_neg());
        }
        match page.next_cursor {
            Some(c) => filter.after = Some(c),
            None => break,
        }
    }
    let mut out: Vec<(String, ledgerflow_core::Currency, i64)> = sums
        .into_iter()
        .map(|((label, cur), v)| (label, cur, v))
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    Ok(out)
}
