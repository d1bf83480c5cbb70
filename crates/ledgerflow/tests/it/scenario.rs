//! The foundation's user story, on both engines.

use crate::TestApp;
use crate::helpers::tx_add;
use crate::helpers::{account_add, strings};

#[test]
fn init_account_tx_status_and_journal_on_both_engines() {
    for app in TestApp::both() {
        eprintln!("-- engine: {}", app.engine);
        let out = app.ok(&["init"]);
        assert!(out.contains("Initialised a dev store"), "{out}");
        app.ok(&account_add(
            "Checking",
            "checking",
            "USD",
            &["--opening-balance", "100.00"],
        ));
        app.ok(&account_add("Visa", "credit_card", "USD", &[]));
        app.ok(&["category", "add", "Food"]);
        app.ok(&["category", "add", "Coffee", "--parent", "Food"]);
        let added = app.json(&tx_add(
            "Checking",
            "2024-01-02",
            "-12.34",
            "Blue Bottle",
            &["--category", "Coffee", "--memo", "flat white", "--json"],
        ));
        assert_eq!(added["amount_minor"], -1234);
        assert_eq!(added["amount"], "-12.34");
        assert_eq!(added["category"], "Food:Coffee");
        app.ok(&tx_add(
            "Checking",
            "2024-01-02",
            "-12.34",
            "Blue Bottle",
            &[],
        ));
        app.ok(&tx_add("Visa", "2024-01-05", "-99.99", "Hardware", &[]));

        let st = app.json(&["status", "--json"]);
        assert_eq!(st["engine"], app.engine.as_str());
        assert_eq!(st["environment"], "dev");
        assert_eq!(st["schema_version"], 5);
        assert_eq!(st["lineage_id"].as_str().map(str::len), Some(36));
        assert_eq!(st["counts"]["accounts"], 2);
        assert_eq!(st["counts"]["transactions"], 3);
        assert_eq!(st["counts"]["categories"], 2);
        assert_eq!(st["counts"]["users"], 0);
        // init, 2 accounts, 2 categories, 3 transactions
        assert_eq!(st["journal"]["head_seq"], 8);
        if app.engine == ledgerflow_core::model::Engine::Postgres {
            let loc = st["location"].as_str().expect("location");
            assert!(loc.starts_with("postgres://"), "{loc}");
        }

        let accounts = app.json(&["account", "list", "--json"]);
        let checking = &accounts.as_array().expect("array")[0];
        assert_eq!(checking["name"], "Checking");
        assert_eq!(checking["balance"], "75.32", "100.00 - 2 × 12.34");

        let list = app.json(&["tx", "list", "--account", "Checking", "--json"]);
        assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(list["next_cursor"], serde_json::Value::Null);
        let found = app.json(&["tx", "list", "-q", "hardware", "--json"]);
        assert_eq!(found["items"][0]["payee"], "Hardware");

        let edited = app.json(&[
            "tx",
            "edit",
            "1",
            "--amount",
            "-13.00",
            "--category",
            "",
            "--json",
        ]);
        assert_eq!(edited["amount_minor"], -1300);
        assert_eq!(edited["category"], serde_json::Value::Null);
        app.ok(&["tx", "delete", "2"]);
        app.fails(&["tx", "delete", "2"], 2);

        let out = app.ok(&["journal", "verify"]);
        assert!(out.contains("Journal intact"), "{out}");
        let v = app.json(&["journal", "verify", "--json"]);
        assert_eq!(v["ok"], true);

        app.raw_sql("UPDATE transactions SET amount_minor = amount_minor + 1 WHERE id = 3");
        let err = app.fails(&["journal", "verify"], 1);
        assert!(
            err.contains(
                "transaction 3: the row differs from the journal (changed outside LedgerFlow)"
            ),
            "{err}"
        );
        let shown = app.json(&["journal", "show", "--entity", "transaction", "--json"]);
        let ops = strings(&shown, "op");
        assert_eq!(ops, vec!["insert", "insert", "insert", "update", "delete"]);
    }
}
