//! Errors name the thing and exit with the documented codes; lists page; users and categories.

use crate::TestApp;
use crate::helpers::{account_add, run_ok, strings, tx_add};

#[test]
fn commands_on_a_missing_store_say_to_run_init_and_create_nothing() {
    let app = TestApp::sqlite();
    for args in [
        &["status"][..],
        &["account", "list"],
        &["tx", "list"],
        &["journal", "verify"],
    ] {
        let err = app.fails(args, 3);
        assert!(err.contains("run `ledgerflow init`"), "{args:?}: {err}");
    }
    assert!(!app.path().join("ledgerflow-data").exists());
    if let Some(pg) = TestApp::postgres() {
        pg.fails_saying(&["status"], 3, "run `ledgerflow init`");
    }
}

#[test]
fn bad_input_gets_one_clear_sentence_and_exit_2() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.ok(&["account", "add", "Checking", "--kind", "checking"]);
    app.ok(&account_add("Yen", "cash", "JPY", &[]));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            tx_add("X", "2024-01-01", "1", "p", &[]),
            "unknown account \"X\"",
        ),
        (
            tx_add("Checking", "2024-01-01", "12.345", "p", &[]),
            "amount \"12.345\" has more decimals than USD allows (2)",
        ),
        (
            tx_add("Yen", "2024-01-01", "1.5", "p", &[]),
            "amount \"1.5\" has more decimals than JPY allows (0)",
        ),
        (
            tx_add("Checking", "01/02/2024", "1", "p", &[]),
            "date \"01/02/2024\" is not a valid date (use YYYY-MM-DD)",
        ),
        (
            tx_add("Checking", "2024-01-01", "ten", "p", &[]),
            "amount \"ten\" is not a decimal number",
        ),
        (
            tx_add("Checking", "2024-01-01", "1", "p", &["--category", "Nope"]),
            "unknown category \"Nope\"",
        ),
        (
            account_add("Euro", "checking", "EURO", &[]),
            "unknown currency \"EURO\"",
        ),
        (
            vec!["tx", "list", "--cursor", "garbage"],
            "cursor \"garbage\" is not valid",
        ),
        (
            vec!["tx", "edit", "999", "--memo", "x"],
            "transaction 999 does not exist",
        ),
        (
            vec!["journal", "show", "--entity", "planet"],
            "unknown entity \"planet\"",
        ),
    ];
    for (args, msg) in &cases {
        let err = app.fails(args, 2);
        assert!(err.contains(msg), "{args:?}: expected {msg:?} in {err:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    // clap's own usage errors are exit 2 too
    app.fails(&["tx", "frobnicate"], 2);
    app.fails(&["account", "add", "Z", "--kind", "piggy-bank"], 2);
    // a duplicate is refused (1), and nothing was written by any failure above
    app.fails_saying(
        &["account", "add", "Checking", "--kind", "savings"],
        1,
        "an account named \"Checking\" already exists",
    );
    let st = app.json(&["status", "--json"]);
    assert_eq!(st["counts"]["transactions"], 0);
    assert_eq!(st["counts"]["accounts"], 2);
}

#[test]
fn tx_list_pages_with_a_cursor_and_filters() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.ok(&["account", "add", "Checking", "--kind", "checking"]);
    for day in 1..=7 {
        let date = format!("2024-03-{day:02}");
        let amount = format!("-{day}.00");
        app.ok(&tx_add(
            "Checking",
            &date,
            &amount,
            &format!("Shop {day}"),
            &[],
        ));
    }
    let mut cursor: Option<String> = None;
    let mut dates = Vec::new();
    loop {
        let mut args = vec!["tx", "list", "--limit", "3", "--json"];
        if let Some(c) = &cursor {
            args.push("--cursor");
            args.push(c);
        }
        let page = app.json(&args);
        for t in page["items"].as_array().expect("items") {
            dates.push(t["date"].as_str().expect("date").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        dates,
        (1..=7)
            .rev()
            .map(|d| format!("2024-03-{d:02}"))
            .collect::<Vec<_>>()
    );

    let mid = app.json(&[
        "tx",
        "list",
        "--from",
        "2024-03-03",
        "--to",
        "2024-03-05",
        "--min",
        "-4.50",
        "--json",
    ]);
    let payees = strings(&mid["items"], "payee");
    assert_eq!(payees, vec!["Shop 4", "Shop 3"]);
    let text = app.ok(&["tx", "list", "--limit", "2"]);
    assert!(text.contains("More: --cursor "), "{text}");
}

#[test]
fn users_roles_and_passwords() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.add_user("alice", "admin", "correct horse battery");
    app.ok(&["user", "add", "bob", "--role", "viewer"]);
    app.ok(&["user", "role", "bob", "editor"]);
    app.ok(&["user", "disable", "bob"]);
    let users = app.json(&["user", "list", "--json"]);
    assert_eq!(users[0]["name"], "alice");
    assert_eq!(users[0]["has_password"], true);
    assert_eq!(users[1]["role"], "editor");
    assert_eq!(users[1]["disabled"], true);
    assert_eq!(users[1]["has_password"], false);
    app.fails_saying(&["user", "passwd", "bob"], 2, "--password-stdin");
    app.fails_saying(
        &["user", "role", "carol", "admin"],
        2,
        "unknown user \"carol\"",
    );
    // the hash is argon2id and no password is stored in clear
    let out = std::process::Command::new("sqlite3")
        .arg(app.sqlite_file())
        .arg("SELECT password_hash FROM users WHERE name = 'alice'")
        .output()
        .expect("sqlite3");
    let stored = String::from_utf8_lossy(&out.stdout);
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("correct horse"));
}

#[test]
fn categories_nest_rename_and_refuse_cycles() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.ok(&["category", "add", "Food"]);
    app.ok(&["category", "add", "Groceries", "--parent", "Food"]);
    app.ok(&["category", "add", "Organic", "--parent", "Food:Groceries"]);
    app.ok(&["category", "add", "Salary", "--kind", "income"]);
    app.fails_saying(
        &["category", "move", "Food", "--to", "Organic"],
        2,
        "cannot be moved under itself",
    );
    app.ok(&["category", "rename", "Food:Groceries", "Supermarket"]);
    app.ok(&["category", "move", "Organic", "--top"]);
    let list = app.json(&["category", "list", "--json"]);
    let paths = strings(&list, "path");
    assert_eq!(paths, vec!["Food", "Food:Supermarket", "Organic", "Salary"]);
    assert_eq!(list[3]["kind"], "income");
    app.fails_saying(&["category", "add", "A:B"], 2, "must not contain ':'");
}

#[test]
fn prod_stores_are_protected_and_archived_accounts_refuse_new_rows() {
    let app = TestApp::sqlite();
    let out = app.ok(&["init", "--env", "prod"]);
    // The store says prod; this configuration runs as dev: refused, then run as prod.
    app.fails_saying(&["status"], 1, "status: 1 problem(s) found");
    assert!(out.contains("protected"), "{out}");
    let st = app.json(&["--as-env", "prod", "status", "--json"]);
    assert_eq!(st["environment"], "prod");
    assert_eq!(st["protected"], true);
    app.fails_saying(&["--as-env", "prod", "init"], 1, "already initialised");

    app.ok(&[
        "--as-env", "prod", "account", "add", "Old", "--kind", "savings",
    ]);
    app.ok(&["--as-env", "prod", "account", "archive", "Old"]);
    let err = app.fails(
        &[
            "--as-env",
            "prod",
            "tx",
            "add",
            "--account",
            "Old",
            "--date",
            "2024-01-01",
            "--amount",
            "1",
            "--payee",
            "p",
        ],
        1,
    );
    assert!(err.contains("archived"), "{err}");
    assert_eq!(
        app.json_len(&["--as-env", "prod", "account", "list", "--json"]),
        Some(0)
    );
    assert_eq!(
        app.json_len(&["--as-env", "prod", "account", "list", "--all", "--json"]),
        Some(1)
    );
}

#[test]
fn a_store_from_a_newer_ledgerflow_is_refused_with_both_versions() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.raw_sql("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (42, 'future', 1, x'00', 0)");
    app.fails_saying(
        &["status"],
        3,
        "schema is version 42, newer than this ledgerflow knows (5)",
    );
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    for i in 0..3 {
        app.ok(&["account", "add", &format!("A{i}"), "--kind", "cash"]);
    }
    let mut child = app
        .command(&["journal", "show"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader goes away, as `| head -0` would
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn huge_amounts_are_refused_before_they_can_overflow_a_balance() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    let big = |balance| {
        [
            "account",
            "add",
            "Big",
            "--kind",
            "cash",
            "--opening-balance",
            balance,
        ]
    };
    app.fails_saying(&big("92233720368547758.07"), 2, "is too large");
    app.ok(&big("10000000000000.00"));
    app.ok(&tx_add("Big", "2024-01-01", "10000000000000.00", "p", &[]));
    let list = app.json(&["account", "list", "--json"]);
    assert_eq!(list[0]["balance"], "20000000000000.00");
}

#[test]
fn names_filters_and_frozen_accounts_behave_as_a_user_expects() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.ok(&["account", "add", "Checking", "--kind", "checking"]);
    app.fails_saying(
        &["account", "add", "checking", "--kind", "savings"],
        1,
        "already exists",
    );
    // account names are found whatever their case
    app.ok(&tx_add("CHECKING", "2024-01-01", "-1", "a", &[]));

    app.ok(&["category", "add", "Food"]);
    app.ok(&["category", "add", "Groceries", "--parent", "Food"]);
    app.fails(&["category", "add", "none"], 2);
    app.ok(&tx_add(
        "Checking",
        "2024-01-02",
        "-2",
        "b",
        &["--category", "Groceries"],
    ));
    let food = app.json(&["tx", "list", "--category", "Food", "--json"]);
    assert_eq!(
        food["items"].as_array().map(Vec::len),
        Some(1),
        "a category includes its subcategories"
    );
    app.ok(&["tx", "edit", "2", "--category", "none"]);
    let none = app.json(&["tx", "list", "--category", "none", "--json"]);
    assert_eq!(none["items"].as_array().map(Vec::len), Some(2));

    assert!(
        app.fails(&["tx", "list", "--limit", "0"], 2)
            .contains("--limit")
    );
    assert!(
        app.fails(
            &["tx", "list", "--from", "2024-02-01", "--to", "2024-01-01"],
            2
        )
        .contains("after --to")
    );
    assert!(
        app.fails(&["tx", "list", "--min", "abc"], 2)
            .contains("amount \"abc\" is not a decimal number")
    );
    assert!(
        app.fails(&["user", "add", "bad name", "--role", "viewer"], 2)
            .contains("may only hold")
    );

    // an edit that changes nothing writes nothing
    let head = app.json(&["status", "--json"])["journal"]["head_seq"].clone();
    app.ok(&["account", "edit", "Checking"]);
    app.ok(&["tx", "edit", "1", "--payee", "a"]);
    assert_eq!(app.json(&["status", "--json"])["journal"]["head_seq"], head);

    // an archived account's transactions are frozen
    app.ok(&["account", "archive", "Checking"]);
    assert!(
        app.fails(&["tx", "edit", "1", "--amount", "-3"], 1)
            .contains("archived")
    );
    assert!(app.fails(&["tx", "delete", "1"], 1).contains("archived"));
    app.ok(&["account", "unarchive", "Checking"]);
    app.ok(&["tx", "delete", "1"]);
}

#[test]
fn journal_show_hides_password_hashes_and_verify_guards_the_store_facts() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.add_user("alice", "admin", "correct horse battery");
    let shown = app.ok(&["journal", "show"]);
    assert!(!shown.contains("$argon2id$"), "{shown}");
    let json = app.ok(&["journal", "show", "--json"]);
    assert!(!json.contains("$argon2id$"), "{json}");

    app.raw_sql("UPDATE meta SET value = 'prod' WHERE key = 'environment'");
    // The environment lock sees a prod store now; run as prod, the journal names the change.
    app.fails_saying(&["journal", "verify"], 1, "environment mismatch");
    app.fails_saying(
        &["--as-env", "prod", "journal", "verify"],
        1,
        "store 1: the row differs from the journal",
    );
}

#[test]
fn empty_variables_and_bad_addresses_are_named() {
    let app = TestApp::sqlite();
    run_ok(
        app.command(&["config", "show"])
            .env("LEDGERFLOW_CONFIG", ""),
        "an empty LEDGERFLOW_CONFIG means none: ",
    );
    let out = app
        .command(&["status"])
        .env("LEDGERFLOW_DATA_DIR", "")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("data_dir must not be empty"));
    app.fails_saying(
        &["serve", "--bind", "nonsense"],
        2,
        "server.bind \"nonsense\"",
    );
}
