//! Restore, the environment lock, protection, nuke and the lineage guard, on both engines:
//! every refusal leaves the data where it was.

use crate::TestApp;
use crate::helpers::tx_add;

fn with_rows(app: &TestApp, rows: u64) {
    app.with_checking();
    app.import_wf(0, rows);
}

/// `rows` rows, a verified backup of them (its name), then `more` rows after it.
fn backup_then_more(app: &TestApp, rows: u64, more: u64) -> String {
    with_rows(app, rows);
    let b = backup(app);
    app.import_wf(rows, more);
    b
}

fn transactions(app: &TestApp) -> i64 {
    app.json(&["status", "--json"])["counts"]["transactions"]
        .as_i64()
        .expect("count")
}

fn backup(app: &TestApp) -> String {
    let out = app.json(&["backup", "--json"]);
    assert_eq!(out["verified"], true, "{out}");
    std::path::Path::new(out["file"].as_str().expect("file"))
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_string()
}

#[test]
fn restore_returns_exactly_the_backups_state_and_leaves_a_pinned_safety_backup() {
    for app in TestApp::both() {
        with_rows(&app, 3_000);
        let sums_then = app.json(&["account", "list", "--json"]);
        let b = backup(&app);
        app.import_wf(3_000, 2_000);
        app.ok(&tx_add("Checking", "2024-01-02", "-9.99", "Late", &[]));
        assert_eq!(transactions(&app), 5_001);

        // No terminal and no --yes: refused, nothing changed.
        app.fails_saying(&["restore", &b], 1, "typed at a terminal");
        assert_eq!(transactions(&app), 5_001);

        let out = app.ok(&["restore", &b, "--yes"]);
        assert!(out.contains("3000 transactions"), "{out}");
        assert!(out.contains("to undo: ledgerflow restore"), "{out}");
        assert_eq!(transactions(&app), 3_000);
        assert_eq!(app.json(&["account", "list", "--json"]), sums_then);
        app.ok(&["journal", "verify"]);

        // The safety backup is pinned, verified, and undoes the restore.
        let listed = app.json(&["backup", "list", "--json"]);
        let safety = listed
            .as_array()
            .expect("list")
            .iter()
            .find(|e| e["pinned"] == true)
            .expect("a pinned safety backup")
            .clone();
        assert_eq!(safety["verified"], true);
        assert_eq!(safety["transactions"], 5_001);
        let undo = safety["file"].as_str().expect("file");
        app.ok(&["restore", undo, "--yes"]);
        assert_eq!(transactions(&app), 5_001);
        app.ok(&["journal", "verify"]);

        // Into a new store, leaving this one alone: on SQLite a new data directory, opened
        // afterwards with `--data-dir` like any other (C5).
        let new_target = match &app.db_url {
            None => app.path().join("copy").display().to_string(),
            Some(url) => {
                let (base, _) = url.rsplit_once('/').expect("db name");
                format!("{base}/lf_restored_{}", std::process::id())
            }
        };
        let out = app.ok(&["restore", &b, "--yes", "--to-new", &new_target]);
        assert!(out.contains("There was no store to keep"), "{out}");
        assert_eq!(transactions(&app), 5_001);
        let copy = match &app.db_url {
            None => {
                assert!(
                    out.contains(&format!("ledgerflow --data-dir {new_target} status")),
                    "{out}"
                );
                app.command(&["status", "--json", "--data-dir", &new_target])
                    .output()
                    .expect("status")
            }
            Some(_) => app
                .command(&["status", "--json", "--database-url", &new_target])
                .output()
                .expect("status"),
        };
        assert!(
            copy.status.success(),
            "{}",
            String::from_utf8_lossy(&copy.stderr)
        );
        let st: serde_json::Value = serde_json::from_slice(&copy.stdout).expect("json");
        assert_eq!(st["counts"]["transactions"], 3_000, "{st}");
        let again = app.fails(&["restore", &b, "--yes", "--to-new", &new_target], 1);
        assert!(again.contains("already exists"), "{again}");
    }
}

#[test]
fn a_backup_that_fails_verification_is_never_restored() {
    for app in TestApp::both() {
        let b = backup_then_more(&app, 500, 100);
        let path = app.path().join("ledgerflow-backups").join(&b);
        let mut bytes = std::fs::read(&path).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x20;
        std::fs::write(&path, &bytes).expect("write");
        app.fails_saying(&["restore", &b, "--yes"], 1, "failed its verification");
        assert_eq!(transactions(&app), 600);
        app.ok(&["journal", "verify"]);
    }
}

/// Kills `ledgerflow restore` at moments spread over its run, alternating between two backups
/// of different sizes: after every kill the store is one of the two states, whole.
#[test]
fn a_restore_killed_at_any_moment_leaves_the_old_or_the_new_store_whole() {
    for app in TestApp::both() {
        let small = backup_then_more(&app, 2_000, 1_500);
        let large = backup(&app);
        // One full restore, timed, to spread the kills over it.
        let full = app.timed(&["restore", &small, "--yes"]);
        let mut state = 2_000;
        let (mut old, mut new) = (0, 0);
        let kills = 50;
        for at in crate::kill_moments(0x2545_F491_4F6C_DD1D, kills, full + full / 4) {
            let (target, target_rows) = if state == 2_000 {
                (&large, 3_500)
            } else {
                (&small, 2_000)
            };
            app.kill_after(&["restore", target, "--yes"], at);
            let now = transactions(&app);
            assert!(
                now == state || now == target_rows,
                "after a kill at {at} ms the store holds {now} transactions"
            );
            if now == state {
                old += 1;
            } else {
                new += 1;
            }
            state = now;
            app.ok(&["journal", "verify"]);
        }
        eprintln!(
            "{:?}: {kills} restores killed over {full} ms: {old} left the old store, {new} the new one, all whole",
            app.engine
        );
        assert!(old > 0, "some kills must land before the switch");
    }
}

#[test]
fn a_store_of_another_environment_is_refused_and_status_says_why() {
    for app in TestApp::both() {
        with_rows(&app, 100);
        let as_prod = |args: &[&str]| {
            app.command(args)
                .env("LEDGERFLOW_ENV", "prod")
                .output()
                .expect("run")
        };
        for args in [
            &["tx", "list"][..],
            &[
                "account",
                "add",
                "Savings",
                "--kind",
                "savings",
                "--currency",
                "USD",
            ][..],
            &["backup"][..],
            &["nuke"][..],
        ] {
            let out = as_prod(args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(
                err.contains("this is a dev store but LedgerFlow runs as prod"),
                "{args:?}: {err}"
            );
        }
        let st = as_prod(&["status", "--json"]);
        assert_eq!(st.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&st.stdout).expect("json");
        assert!(
            v["problems"][0]
                .as_str()
                .unwrap_or("")
                .contains("environment mismatch"),
            "{v}"
        );
        assert_eq!(transactions(&app), 100);
        assert_eq!(app.json_len(&["account", "list", "--json"]), Some(1));
    }
}

#[test]
fn nuke_is_refused_on_protected_stores_without_a_terminal_and_in_prod() {
    for app in TestApp::both() {
        with_rows(&app, 200);
        app.ok(&["protect"]);
        app.fails_saying(&["nuke"], 1, "is protected");
        app.ok(&["unprotect"]);
        // No terminal to type DESTROY at: refused after the backup, data untouched.
        app.fails_saying(&["nuke"], 1, "typed at a terminal");
        assert_eq!(transactions(&app), 200);
        app.ok(&["journal", "verify"]);
        let pinned = app.json(&["backup", "list", "--json"]);
        assert!(
            pinned
                .as_array()
                .expect("list")
                .iter()
                .any(|e| e["pinned"] == true && e["verified"] == true),
            "{pinned}"
        );
        // Protection changes are journaled.
        let shown = app.ok(&["journal", "show", "--entity", "store"]);
        assert!(shown.matches("meta").count() >= 2, "{shown}");
    }
    // A prod store: protected at init, unprotect and nuke refused.
    let app = TestApp::sqlite().with_env("LEDGERFLOW_ENV", "prod");
    app.with_checking();
    let prod = |args: &[&str]| app.run(args);
    for args in [&["unprotect"][..], &["nuke"][..]] {
        let out = prod(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    let listed = prod(&["account", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
}

/// The `docker compose down -v` case: the data is gone and the store comes back empty while
/// the backup directory remembers it. Everything refuses and names the restore command.
#[test]
fn a_lost_store_is_refused_until_it_is_restored_or_a_new_one_accepted() {
    for app in TestApp::both() {
        with_rows(&app, 700);
        backup(&app);
        // The store disappears: the data directory deleted, or the database recreated empty.
        match &app.db_url {
            None => std::fs::remove_dir_all(app.path().join("ledgerflow-data")).expect("rm"),
            Some(url) => {
                let pg = ledgerflow_test_support::postgres().expect("server");
                let name = url.rsplit('/').next().expect("db");
                let st = pg
                    .psql("postgres")
                    .arg("-c")
                    .arg(format!("DROP DATABASE {name} WITH (FORCE)"))
                    .arg("-c")
                    .arg(format!("CREATE DATABASE {name}"))
                    .status()
                    .expect("psql");
                assert!(st.success());
                // Someone runs init on the empty database.
                app.fails_saying(&["init"], 1, "ledgerflow restore");
            }
        }
        if app.db_url.is_none() {
            let serve = app.fails(&["serve", "--bind", "127.0.0.1:0"], 1);
            assert!(serve.contains("is missing"), "{serve}");
            assert!(
                serve.contains("ledgerflow restore ledgerflow_db_backup_"),
                "{serve}"
            );
            assert!(!app.sqlite_file().exists(), "serve created nothing");
        }
        // status and doctor say so and exit 1.
        let st = app.fails(&["status"], 1);
        assert!(
            st.contains("ledgerflow restore ledgerflow_db_backup_"),
            "{st}"
        );
        let doctor = app.run(&["doctor"]);
        assert_eq!(doctor.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&doctor.stdout)
                .lines()
                .any(|l| l.starts_with("PROBLEM") && l.contains("lineage")),
            "{}",
            String::from_utf8_lossy(&doctor.stdout)
        );
        let err = app.fails(&["account", "list"], 1);
        let cmd = err
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("ledgerflow restore "))
            .unwrap_or_else(|| panic!("the restore command in: {err}"))
            .to_string();
        let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let out = app.ok(&args);
        if let Some(url) = &app.db_url {
            // The recreated database held no ledger: it is kept aside, never dropped.
            assert!(out.contains("it is kept as"), "{out}");
            let kept = out
                .lines()
                .find_map(|l| l.split("it is kept as ").nth(1))
                .map(|k| k.trim_end_matches('.').to_string())
                .expect("kept name");
            let pg = ledgerflow_test_support::postgres().expect("server");
            let listed = pg
                .psql("postgres")
                .args(["-At", "-c", "SELECT datname FROM pg_database"])
                .output()
                .expect("psql");
            assert!(
                String::from_utf8_lossy(&listed.stdout)
                    .lines()
                    .any(|l| l == kept)
            );
            assert!(url.ends_with(kept.split("_kept_").next().unwrap_or("?")));
        }
        assert_eq!(transactions(&app), 700);
        app.ok(&["journal", "verify"]);
    }
    // Or a new ledger, on purpose.
    let app = TestApp::sqlite();
    with_rows(&app, 50);
    backup(&app);
    std::fs::remove_dir_all(app.path().join("ledgerflow-data")).expect("rm");
    app.ok(&["init", "--accept-new-lineage"]);
    app.ok(&["account", "list"]);
    assert_eq!(transactions(&app), 0);
}

/// In dev, with DESTROY typed at a terminal: everything goes, a new empty store takes its place
/// (accepted by the lineage guard), and the printed undo brings the data back.
#[test]
fn nuke_in_dev_deletes_after_a_verified_backup_and_can_be_undone() {
    for app in TestApp::both() {
        with_rows(&app, 300);
        let (ok, printed) = app.typed(&["nuke"], "WRONG", &[]);
        assert!(!ok, "{printed}");
        assert!(printed.contains("not confirmed"), "{printed}");
        assert_eq!(transactions(&app), 300);
        let lineage = app.json(&["status", "--json"])["lineage_id"].clone();
        let (ok, printed) = app.typed(&["nuke"], "DESTROY", &[]);
        assert!(ok, "{printed}");
        assert_eq!(transactions(&app), 0);
        assert_ne!(app.json(&["status", "--json"])["lineage_id"], lineage);
        app.ok(&["account", "list"]);
        let undo = printed
            .lines()
            .find_map(|l| l.trim().strip_prefix("Undo: ledgerflow "))
            .unwrap_or_else(|| panic!("an undo line in {printed}"))
            .to_string();
        let args: Vec<&str> = undo.split_whitespace().collect();
        app.ok(&args);
        assert_eq!(transactions(&app), 300);
        assert_eq!(app.json(&["status", "--json"])["lineage_id"], lineage);
        app.ok(&["journal", "verify"]);
    }
}

/// In prod a restore, or an import undone, needs --authorize-prod, a verified backup younger
/// than an hour, and the store's name typed; every refusal leaves the data as it was.
#[test]
fn in_prod_restore_and_bulk_deletion_need_authorization_a_fresh_backup_and_the_name() {
    let app = TestApp::sqlite().with_env("LEDGERFLOW_ENV", "prod");
    let b = backup_then_more(&app, 400, 100);
    for args in [
        &["restore", b.as_str(), "--yes"][..],
        &["restore", b.as_str(), "--authorize-prod"][..],
        &["import", "undo", "2"][..],
        &["import", "undo", "2", "--authorize-prod"][..],
    ] {
        let err = app.fails(args, 1);
        assert!(
            err.contains("--authorize-prod") || err.contains("typed at a terminal"),
            "{args:?}: {err}"
        );
        assert_eq!(transactions(&app), 500);
    }
    let (ok, said) = app.typed(&["restore", &b, "--authorize-prod"], "wrong", &[]);
    assert!(!ok, "{said}");
    assert_eq!(transactions(&app), 500);
    let (ok, said) = app.typed(&["restore", &b, "--authorize-prod"], "ledgerflow-data", &[]);
    assert!(ok, "{said}");
    assert_eq!(transactions(&app), 400);
    // With only old backups the gate refuses: the catalog's backups are aged by an hour.
    let catalog = app.path().join("ledgerflow-backups").join("catalog.jsonl");
    let text = std::fs::read_to_string(&catalog).expect("catalog");
    let now = chrono::Utc::now();
    let aged: String = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("line");
            let at = (now - chrono::Duration::hours(2)).to_rfc3339();
            v["created_at"] = at.into();
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&catalog, aged).expect("age the catalog");
    let (ok, said) = app.typed(
        &["import", "undo", "1", "--authorize-prod"],
        "ledgerflow-data",
        &[],
    );
    assert!(!ok, "{said}");
    assert!(said.contains("younger than 60 min"), "{said}");
    assert_eq!(transactions(&app), 400);
    // A restore takes its own safety backup: old backups do not stop it (a lost prod store
    // must come back whatever their age).
    app.import_wf(400, 50);
    let (ok, said) = app.typed(&["restore", &b, "--authorize-prod"], "ledgerflow-data", &[]);
    assert!(ok, "{said}");
    assert_eq!(transactions(&app), 400);
}

/// An older, smaller backup still verifies and restores, and after the restore new backups of
/// the smaller store are not "suspiciously small" next to the big ones before it.
#[test]
fn a_restore_to_a_much_smaller_state_keeps_backups_working() {
    let app = TestApp::sqlite();
    let small = backup_then_more(&app, 300, 6_000);
    backup(&app);
    backup(&app);
    let v = app.json(&["backup", "verify", &small, "--json"]);
    assert_eq!(v["verified"], true, "{v}");
    app.ok(&["restore", &small, "--yes"]);
    assert_eq!(transactions(&app), 300);
    let after = app.json(&["backup", "--json"]);
    assert_eq!(after["verified"], true, "{after}");
}

#[test]
fn to_new_never_touches_an_existing_database() {
    let Some(app) = TestApp::postgres() else {
        return;
    };
    with_rows(&app, 100);
    let b = backup(&app);
    let pg = ledgerflow_test_support::postgres().expect("server");
    let other = pg.create_database();
    let name = other.rsplit('/').next().expect("name").to_string();
    let st = pg
        .psql(&name)
        .args([
            "-c",
            "CREATE TABLE theirs (x int); INSERT INTO theirs VALUES (42)",
        ])
        .status()
        .expect("psql");
    assert!(st.success());
    app.fails_saying(
        &["restore", &b, "--yes", "--to-new", &other],
        1,
        "already exists",
    );
    let out = pg
        .psql(&name)
        .args(["-At", "-c", "SELECT x FROM theirs"])
        .output()
        .expect("psql");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}
