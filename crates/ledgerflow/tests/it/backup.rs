//! `ledgerflow backup` from the command line, on both engines.

use crate::*;

#[test]
fn backup_prints_its_verification_and_verify_fails_loudly_on_a_cut_file() {
    for app in TestApp::both() {
        app.ok(&["init"]);
        app.ok(&[
            "account",
            "add",
            "Checking",
            "--kind",
            "checking",
            "--currency",
            "USD",
        ]);
        for i in 0..40 {
            app.ok(&[
                "tx",
                "add",
                "--account",
                "Checking",
                "--date",
                "2024-01-05",
                "--amount",
                &format!("-{i}.25"),
                "--payee",
                "Coffee shop on the corner",
            ]);
        }
        let out = app.json(&["backup", "--json"]);
        for key in [
            "file",
            "kind",
            "size",
            "verified",
            "verification",
            "duration_ms",
        ] {
            assert!(out.get(key).is_some(), "{key} in {out}");
        }
        assert_eq!(out["verified"], true, "{out}");
        assert_eq!(out["kind"], "db");
        let file = out["file"].as_str().expect("file").to_string();
        assert!(app.path().join(&file).exists() || std::path::Path::new(&file).exists());
        assert!(
            file.contains("ledgerflow-backups/ledgerflow_db_backup_"),
            "the default directory, outside the data directory: {file}"
        );
        let full = app.json(&["backup", "--kind", "full", "--json"]);
        assert_eq!(full["verified"], true, "{full}");
        let list = app.json(&["backup", "list", "--json"]);
        assert_eq!(list.as_array().map(Vec::len), Some(2));
        app.ok(&["backup", "verify", "--all"]);
        let st = app.json(&["status", "--json"]);
        assert_eq!(st["backups"]["stale"], false, "{st}");
        assert!(st["backups"]["last_verified"].as_str().is_some(), "{st}");

        // The cloud folder hands back a 0-byte file: verify says so and exits 1.
        let path = app.path().join(&file);
        std::fs::write(&path, b"").expect("truncate");
        let err = app.fails(&["backup", "verify", "--all"], 1);
        assert!(err.contains("empty"), "{err}");
        let list = app.ok(&["backup", "list"]);
        assert!(list.contains("FAILED"), "{list}");
        let status = app.ok(&["status"]);
        assert!(status.contains("backup FAILED"), "{status}");
        // And pruning waits for a backup that verifies.
        let err = app.fails(&["backup", "prune"], 1);
        assert!(err.contains("nothing is pruned"), "{err}");
    }
}

/// An embedded store with `rows` Wells Fargo rows imported into "Checking".
fn app_with_imported_rows(rows: u64) -> TestApp {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.ok(&[
        "account",
        "add",
        "Checking",
        "--kind",
        "checking",
        "--currency",
        "USD",
    ]);
    let csv = app.path().join("wf.csv");
    ledgerflow_test_support::write_wf_csv(&csv, 0, rows).expect("csv");
    app.ok(&["import", "wf.csv", "--account", "Checking"]);
    app
}

/// Runs `ledgerflow backup` with a file-size limit, as on a full disk: writes past the limit
/// fail (SIGXFSZ ignored, so they return an error instead of killing the process).
#[test]
fn a_full_disk_fails_the_backup_clearly_and_keeps_the_last_good_one() {
    let app = app_with_imported_rows(20_000);
    let good = app.json(&["backup", "--json"]);
    assert_eq!(good["verified"], true, "{good}");
    let bin = env!("CARGO_BIN_EXE_ledgerflow");
    let mut sh = std::process::Command::new("bash");
    sh.current_dir(app.path())
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f 256; exec {bin} backup"));
    for (k, _) in std::env::vars() {
        if k.starts_with("LEDGERFLOW_") {
            sh.env_remove(k);
        }
    }
    let out = sh.output().expect("bash runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("disk full") && err.contains("I/O error"),
        "a clear reason: {err}"
    );
    let dir = app.path().join("ledgerflow-backups");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "nothing half-written: {names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".zst")).count(),
        1,
        "the good backup is still there: {names:?}"
    );
    app.ok(&["backup", "verify", "--all"]);
}

/// Kills `ledgerflow backup` with SIGKILL at moments spread over its run: whatever is left
/// never looks finished unless it is (every finished-looking archive verifies).
#[test]
fn a_backup_killed_at_any_moment_leaves_nothing_that_looks_finished() {
    let app = app_with_imported_rows(30_000);
    // How long one backup takes here, to spread the kills over it.
    let t = std::time::Instant::now();
    app.ok(&["backup"]);
    let full = t.elapsed().as_millis().max(50) as u64;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let kills = 20;
    for _ in 0..kills {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = x % (full + full / 5);
        let mut child = app
            .command(&["backup"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(at));
        let _ = child.kill();
        let _ = child.wait();
    }
    let dir = app.path().join("ledgerflow-backups");
    for e in std::fs::read_dir(&dir).expect("dir").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("ledgerflow_") && name.ends_with(".zst") {
            let out = app.run(&["backup", "verify", &name]);
            assert!(
                out.status.success(),
                "{name} looks finished but does not verify: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // The catalog still reads, and the store is untouched.
    app.ok(&["backup", "list"]);
    app.ok(&["journal", "verify"]);
}
