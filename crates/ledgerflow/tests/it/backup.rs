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

        // The cloud folder hands back a 0-byte file: verify says so and exits 1.
        let path = app.path().join(&file);
        std::fs::write(&path, b"").expect("truncate");
        let err = app.fails(&["backup", "verify", "--all"], 1);
        assert!(err.contains("empty"), "{err}");
        let list = app.ok(&["backup", "list"]);
        assert!(list.contains("FAILED"), "{list}");
        // And pruning waits for a backup that verifies.
        let err = app.fails(&["backup", "prune"], 1);
        assert!(err.contains("nothing is pruned"), "{err}");
    }
}
