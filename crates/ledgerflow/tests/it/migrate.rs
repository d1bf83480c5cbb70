//! Migrations wait for a verified, pinned backup; a newer schema is refused; `doctor` reports.
//! Pending migrations are made by undoing the web app's (3) and the text index's (5) by hand:
//! their objects dropped and their rows removed from the store's migration history.

use crate::TestApp;
use crate::helpers::run_ok;

fn with_rows(app: &TestApp) {
    app.with_checking();
    app.import_wf(0, 400);
}

/// Takes migrations 3 (the web app's) and 5 (which remakes 3's text index) back out, as if the
/// store were older.
fn make_pending(app: &TestApp) {
    app.raw_sql(match app.db_url {
        None => {
            "DROP TRIGGER transactions_fts_insert; DROP TRIGGER transactions_fts_delete; \
             DROP TRIGGER transactions_fts_update; DROP TABLE transactions_fts; \
             DROP TABLE credentials; DELETE FROM _sqlx_migrations WHERE version IN (3, 5)"
        }
        Some(_) => {
            "DROP INDEX transactions_search; DROP FUNCTION ledgerflow_search_words; \
             DROP FUNCTION ledgerflow_fold; \
             DROP TABLE credentials; DELETE FROM _sqlx_migrations WHERE version IN (3, 5)"
        }
    });
}

/// `doctor` exits 1 with a PROBLEM line that says `problem`.
fn doctor_finds(app: &TestApp, problem: &str) {
    let out = app.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let says = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        says.lines()
            .any(|l| l.starts_with("PROBLEM") && l.contains(problem)),
        "{says}"
    );
}

fn pinned(app: &TestApp) -> usize {
    app.json(&["backup", "list", "--json"])
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["pinned"] == true && e["verified"] == true)
        .count()
}

#[test]
fn a_pending_migration_runs_after_a_pinned_verified_backup_and_a_newer_schema_is_refused() {
    for app in TestApp::both() {
        with_rows(&app);
        make_pending(&app);
        doctor_finds(&app, "run `ledgerflow migrate`");
        // Any command migrates, after the backup.
        let out = run_ok(&mut app.command(&["tx", "list", "--limit", "1"]), "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Migrated the schema from version 2 to 5"),
            "{err}"
        );
        assert_eq!(pinned(&app), 1);
        assert_eq!(app.json(&["status", "--json"])["schema_version"], 5);
        app.ok(&["journal", "verify"]);
        // That backup holds the store at schema 2: restored, it is migrated forward.
        let before = app.json(&["backup", "list", "--json"])[0]["file"]
            .as_str()
            .expect("file")
            .to_string();
        let out = app.ok(&["restore", &before, "--yes"]);
        assert!(
            out.contains("migrated forward from version 2 to 5"),
            "{out}"
        );
        assert_eq!(app.json(&["status", "--json"])["schema_version"], 5);
        app.ok(&["journal", "verify"]);
        // `migrate` itself.
        make_pending(&app);
        let out = app.command(&["migrate"]).output().expect("run");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("from version 2 to 5"));
        // The first, the restore's safety backup, and this one.
        assert_eq!(pinned(&app), 3);
        assert!(app.ok(&["migrate"]).contains("up to date (version 5)"));
        // A store newer than this binary: refused, never touched.
        match &app.db_url {
            None => app.raw_sql(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'future', 1, x'00', 0)",
            ),
            Some(_) => app.raw_sql(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'future', true, '\\x00'::bytea, 0)",
            ),
        }
        app.fails_saying(&["tx", "list"], 3, "99");
        app.fails_saying(&["migrate"], 3, "99");
    }
}

#[test]
fn in_prod_only_an_authorized_migration_runs() {
    let app = TestApp::sqlite().with_env("LEDGERFLOW_ENV", "prod");
    with_rows(&app);
    make_pending(&app);
    let run = |args: &[&str]| app.run(args);
    let out = run(&["tx", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("migrate --authorize-prod"));
    let out = run(&["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    // No verified backup younger than an hour yet: refused, and told how to take one.
    let out = run(&["migrate", "--authorize-prod"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("take one with `ledgerflow backup`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `backup` takes the store as it is (schema 2), without migrating it.
    app.ok(&["backup"]);
    assert_eq!(app.json(&["status", "--json"])["schema_version"], 2);
    let out = run(&["migrate", "--authorize-prod"]);
    assert_eq!(out.status.code(), Some(1), "no terminal");
    assert!(String::from_utf8_lossy(&out.stderr).contains("typed at a terminal"));
    let (ok, said) = app.typed(&["migrate", "--authorize-prod"], "wrong-name", &[]);
    assert!(!ok, "{said}");
    let (ok, said) = app.typed(&["migrate", "--authorize-prod"], "ledgerflow-data", &[]);
    assert!(ok, "{said}");
    assert!(said.contains("from version 2 to 5"), "{said}");
    assert!(run(&["tx", "list"]).status.success());
}

#[test]
fn doctor_says_ok_on_a_sound_store_and_names_each_problem() {
    for app in TestApp::both() {
        with_rows(&app);
        // No backup yet.
        doctor_finds(&app, "no verified backup");
        app.ok(&["backup"]);
        let says = app.ok(&["doctor"]);
        for check in [
            "environment",
            "protection",
            "lineage",
            "schema",
            "journal",
            "backups",
            "disk (backups)",
        ] {
            assert!(
                says.lines()
                    .any(|l| l.starts_with("ok") && l.contains(check)),
                "{check} in {says}"
            );
        }
        if app.db_url.is_some() {
            assert!(says.contains("pg_dump (PostgreSQL)"), "{says}");
        }
        let v = app.json(&["doctor", "--json"]);
        assert!(
            v.as_array()
                .expect("findings")
                .iter()
                .all(|f| f["ok"] == true),
            "{v}"
        );
        // A row changed behind LedgerFlow's back, and a dev configuration on a prod store.
        app.raw_sql("UPDATE transactions SET amount_minor = amount_minor + 1 WHERE id = 1");
        let out = app
            .command(&["doctor", "--as-env", "prod"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1));
        let says = String::from_utf8_lossy(&out.stdout).to_string();
        for check in ["environment", "journal"] {
            assert!(
                says.lines()
                    .any(|l| l.starts_with("PROBLEM") && l.contains(check)),
                "{check} in {says}"
            );
        }
    }
}
