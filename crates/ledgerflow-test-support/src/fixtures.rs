//! The ledger records the suites build again and again, with the values tests take for granted:
//! a USD checking account opened at zero, an expense category at the top, a cleared manual
//! transaction. A test that needs another value overrides that field with struct update syntax,
//! e.g. `NewAccount { opening_balance_minor: 10_000, ..new_account("Checking") }`.

use chrono::NaiveDate;
use ledgerflow_core::Currency;
use ledgerflow_core::model::{
    AccountKind, CategoryKind, NewAccount, NewCategory, NewTransaction, TxStatus,
};

/// `YYYY-MM-DD` as a date (panics on anything else: a test's literal is wrong).
pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

/// A USD checking account named `name`, no institution, opening balance zero.
pub fn new_account(name: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        institution: None,
        kind: AccountKind::Checking,
        currency: Currency::USD,
        opening_balance_minor: 0,
    }
}

/// A top-level expense category named `name`.
pub fn new_category(name: &str) -> NewCategory {
    NewCategory {
        name: name.into(),
        parent_id: None,
        kind: CategoryKind::Expense,
    }
}

/// A cleared, manually entered USD transaction on `posted` (`YYYY-MM-DD`): no category, memo,
/// description, import batch, external id or transfer, not flagged for review.
pub fn new_tx(account_id: i64, posted: &str, amount_minor: i64, payee: &str) -> NewTransaction {
    new_tx_on(account_id, date(posted), amount_minor, payee)
}

/// [`new_tx`] with the date as a date.
pub fn new_tx_on(
    account_id: i64,
    posted_date: NaiveDate,
    amount_minor: i64,
    payee: &str,
) -> NewTransaction {
    NewTransaction {
        account_id,
        posted_date,
        amount_minor,
        currency: Currency::USD,
        payee: payee.into(),
        description: String::new(),
        memo: String::new(),
        category_id: None,
        status: TxStatus::Cleared,
        source: "manual".into(),
        import_batch_id: None,
        external_id: None,
        transfer_id: None,
        needs_review: false,
    }
}
