//! Hostile input and hostile moments, end to end through the binary (issue 12): a journal cut
//! back behind LedgerFlow's back, secrets in configuration, a full data disk, edited rows and
//! overlapping imports.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TestApp;
use crate::helpers::tx_add;

/// Adds the transaction "Newest" by hand (one journal entry on top of an import).
fn add_newest(app: &TestApp) {
    app.ok(&tx_add("Checking", "2024-03-01", "-12.00", "Newest", &[]));
}

/// Takes a verified backup and returns its file name.
fn verified_backup(app: &TestApp) -> String {
    let b = app.json(&["backup", "--json"]);
    assert_eq!(b["verified"], true, "{b}");
    PathBuf::from(b["file"].as_str().expect("file"))
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string()
}

/// A SQLite app with `rows` Wells Fargo rows in "Checking" and a verified backup (its name).
fn sqlite_backed_up(rows: u64) -> (TestApp, String) {
    let app = TestApp::sqlite();
    app.with_checking();
    app.import_wf(0, rows);
    let name = verified_backup(&app);
    (app, name)
}

/// Deletes the newest row and its journal entry and sets the head back: a clean cut that
/// agrees with itself.
fn cut_last_entry(app: &TestApp) {
    app.raw_sql(
        "DELETE FROM transactions WHERE id = (SELECT max(id) FROM transactions); \
         DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal); \
         UPDATE journal_head SET seq = (SELECT max(seq) FROM journal), \
           hash = (SELECT hash FROM journal WHERE seq = (SELECT max(seq) FROM journal)), \
           rows_digest = (SELECT rows_digest FROM journal WHERE seq = (SELECT max(seq) FROM journal));",
    );
}

#[test]
fn w4_journal_verify_backup_verify_all_and_doctor_notice_a_journal_cut_back() {
    for app in TestApp::both() {
        app.with_checking();
        app.import_wf(0, 50);
        add_newest(&app);
        let b = app.json(&["backup", "--json"]);
        assert_eq!(b["verified"], true, "{b}");
        app.ok(&["journal", "verify"]);
        cut_last_entry(&app);
        app.fails_saying(&["journal", "verify"], 1, "cut off");
        app.fails_saying(&["backup", "verify", "--all"], 1, "cut off");
        let doctor = app.run(&["doctor"]);
        assert!(!doctor.status.success());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&doctor.stdout),
            String::from_utf8_lossy(&doctor.stderr)
        );
        assert!(text.contains("cut off"), "{text}");
        let next = app.run(&["backup", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&next.stdout).unwrap_or_default();
        assert_ne!(
            v["verified"], true,
            "a backup of a cut-back store was called verified"
        );
    }
}

#[test]
fn w8_full_backups_and_config_show_hide_every_secret() {
    let app = TestApp::sqlite();
    app.write_config("[backup]\nalert_webhook = \"https://hooks.example/services/T0/B0/SeCrEtPaTh?token=QuErYsEcReT\"\n");
    app.with_checking();
    let b = app.json(&["backup", "--kind", "full", "--json"]);
    assert_eq!(b["verified"], true, "{b}");
    let file = app.path().join(b["file"].as_str().expect("file"));
    let tar = app.path().join("full.tar");
    let st = Command::new("zstd")
        .args(["-d", "-q", "-f"])
        .arg(&file)
        .arg("-o")
        .arg(&tar)
        .status()
        .expect("zstd");
    assert!(st.success());
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&tar)
        .arg("config.toml")
        .output()
        .expect("tar");
    let config = String::from_utf8_lossy(&out.stdout);
    assert!(config.contains("alert_webhook"), "{config}");
    for secret in ["SeCrEtPaTh", "QuErYsEcReT"] {
        assert!(
            !config.contains(secret),
            "{secret} in the full backup: {config}"
        );
    }
}

/// A small tmpfs mounted over `dir` for the life of the value (root only: CI runs as root).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).expect("dir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var("CI").is_err(),
                "CI runs as root and must be able to mount a small tmpfs for the full-disk test"
            );
            eprintln!("skipped: cannot mount a tmpfs here (not root)");
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn w13_a_store_on_a_full_disk_can_still_be_backed_up_and_the_error_says_disk_full() {
    let app = TestApp::sqlite();
    let data = app.path().join("ledgerflow-data");
    let Some(_disk) = SmallDisk::mount(&data, "12m") else {
        return;
    };
    app.with_checking();
    app.import_wf(0, 2_000);
    // Fill the data disk to the last byte.
    let filler = data.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output();
    let b = app.json(&["backup", "--json"]);
    assert_eq!(b["verified"], true, "{b}");
    assert_eq!(b["transactions"], 2_000, "{b}");
    // A write says the disk is full, in words, and changes nothing.
    let out = app.run(&tx_add(
        "Checking",
        "2024-03-01",
        "-1.00",
        "Nowhere to go",
        &[],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("full"), "{err}");
    let _ = std::fs::remove_file(&filler);
    app.ok(&["journal", "verify"]);
}

#[test]
fn c1_an_edited_amount_or_date_is_not_imported_again_from_an_overlapping_export() {
    for app in TestApp::both() {
        app.with_checking();
        app.import_wf(0, 30);
        let rows = app.json(&["tx", "list", "--json", "--limit", "100"]);
        let items = rows["items"].as_array().expect("items").clone();
        let id_amount = items[0]["id"].as_i64().expect("id").to_string();
        let id_date = items[1]["id"].as_i64().expect("id").to_string();
        let old_amount = items[0]["amount"].as_str().expect("amount").to_string();
        let new_amount = if old_amount.starts_with('-') {
            "-999.45"
        } else {
            "999.45"
        };
        app.ok(&["tx", "edit", &id_amount, "--amount", new_amount]);
        let date =
            chrono::NaiveDate::parse_from_str(items[1]["date"].as_str().expect("date"), "%Y-%m-%d")
                .expect("date")
                + chrono::Days::new(8);
        app.ok(&["tx", "edit", &id_date, "--date", &date.to_string()]);
        // An export overlapping the first one (rows 0..40): the two edited rows stay single.
        let csv = app.path().join("overlap.csv");
        ledgerflow_test_support::write_wf_csv(&csv, 0, 40).expect("csv");
        let out = app.json(&["import", "overlap.csv", "--account", "Checking", "--json"]);
        assert_eq!(out["new"], 10, "{}: {out}", app.engine);
        let after = app.json(&["tx", "list", "--json", "--limit", "1000"]);
        assert_eq!(
            after["items"].as_array().expect("items").len(),
            40,
            "{after}"
        );
    }
}

#[test]
fn c5_a_copy_restored_with_to_new_opens_with_data_dir_and_never_mixes_with_the_ledger() {
    let (app, name) = sqlite_backed_up(40);
    // No terminal and no --yes: a restore into a new directory replaces nothing, so it runs.
    let out = app.ok(&["restore", &name, "--to-new", "copy"]);
    assert!(out.contains("ledgerflow --data-dir copy status"), "{out}");
    let copy = app.json(&["--data-dir", "copy", "status", "--json"]);
    let live = app.json(&["status", "--json"]);
    assert_eq!(copy["counts"]["transactions"], 40);
    assert_ne!(
        copy["lineage_id"], live["lineage_id"],
        "a copy is a ledger of its own"
    );
    // The ledger moves on and is backed up; the copy's checks are not confused by that.
    app.import_wf(40, 10);
    assert_eq!(app.json(&["backup", "--json"])["verified"], true);
    app.ok(&["--data-dir", "copy", "journal", "verify"]);
    let cb = app.json(&["--data-dir", "copy", "backup", "--json"]);
    assert_eq!(cb["verified"], true, "{cb}");
    app.ok(&["journal", "verify"]);
    let doctor = app.run(&["doctor"]);
    assert!(
        doctor.status.success(),
        "{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
}

/// Files of LedgerFlow's own in the shared backup directory (the catalog, the restore lock and
/// time, the accepted lineages) replaced by symlinks or FIFOs: never followed, never a hang.
#[test]
fn symlinks_and_fifos_planted_for_ledgerflows_own_files_are_never_followed() {
    let (app, name) = sqlite_backed_up(20);
    let dir = app.path().join("ledgerflow-backups");
    let db = app.sqlite_file();
    let config = app.path().join("ledgerflow.toml");
    std::fs::write(&config, "# mine\n").expect("config");
    let sum = |p: &Path| std::fs::read(p).expect("read");
    let db_before = std::fs::metadata(&db).expect("db").len();

    // The time of the last restore: a symlink to the live database is replaced, not written.
    std::os::unix::fs::symlink("../ledgerflow-data/ledgerflow.db", dir.join("last-restore"))
        .expect("symlink");
    app.ok(&["restore", &name, "--yes"]);
    app.ok(&["journal", "verify"]);
    assert_eq!(
        app.json(&["status", "--json"])["counts"]["transactions"],
        20
    );

    // The catalog as a symlink to the configuration: refused, the configuration untouched.
    let catalog = dir.join("catalog.jsonl");
    let saved = sum(&catalog);
    std::fs::remove_file(&catalog).expect("rm");
    std::os::unix::fs::symlink("../ledgerflow.toml", &catalog).expect("symlink");
    let out = app.run(&["backup", "--json"]);
    assert!(!out.status.success());
    assert_eq!(
        sum(&config),
        b"# mine\n",
        "the catalog symlink was followed"
    );
    assert!(std::fs::metadata(&db).expect("db").len() >= db_before);
    // The journal cannot be compared with the backups: said, not skipped.
    let out = app.run(&["journal", "verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("symlink"));

    // The catalog as a FIFO: every command answers (an error), none waits for a writer.
    std::fs::remove_file(&catalog).expect("rm");
    let st = Command::new("mkfifo")
        .arg(&catalog)
        .status()
        .expect("mkfifo");
    assert!(st.success());
    for args in [
        &["status"][..],
        &["journal", "verify"][..],
        &["backup", "list"][..],
    ] {
        let mut child = app
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let mut done = None;
        for _ in 0..600 {
            if let Some(s) = child.try_wait().expect("wait") {
                done = Some(s);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if done.is_none() {
            let _ = child.kill();
            panic!("ledgerflow {args:?} hung on a FIFO catalog");
        }
    }
    std::fs::remove_file(&catalog).expect("rm");
    std::fs::write(&catalog, saved).expect("restore catalog");
    app.ok(&["journal", "verify"]);
}

#[test]
fn f2_to_new_through_a_directory_that_does_not_exist_yet_never_reaches_the_live_store() {
    let (app, name) = sqlite_backed_up(20);
    app.ok(&tx_add("Checking", "2024-07-01", "-7.00", "newer", &[]));
    let err = app.fails(
        &[
            "restore",
            &name,
            "--to-new",
            "./x/../ledgerflow-data",
            "--yes",
        ],
        1,
    );
    assert!(err.contains(".."), "{err}");
    assert_eq!(
        app.json(&["status", "--json"])["counts"]["transactions"],
        21
    );
}

#[test]
fn f5_moving_the_newest_backup_away_does_not_hide_a_journal_cut_back() {
    let app = TestApp::sqlite();
    app.with_checking();
    app.import_wf(0, 20);
    add_newest(&app);
    let b = app.json(&["backup", "--json"]);
    cut_last_entry(&app);
    let file = app.path().join(b["file"].as_str().expect("file"));
    std::fs::rename(&file, app.path().join("moved-away")).expect("move");
    let err = app.fails(&["journal", "verify"], 1);
    assert!(err.contains("cut off") && err.contains("missing"), "{err}");
    let doctor = app.run(&["doctor"]);
    assert!(!doctor.status.success());
}

#[test]
fn doctor_reports_a_store_that_opens_but_cannot_be_read_and_goes_on() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    app.raw_sql("UPDATE meta SET value = 'prodx' WHERE key = 'environment'");
    let out = app.run(&["doctor"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a finding, not an internal error"
    );
    let says = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        says.lines()
            .any(|l| l.starts_with("PROBLEM") && l.contains("store") && l.contains("prodx")),
        "{says}"
    );
    // the other checks still ran
    assert!(says.contains("disk (backups)"), "{says}");
}
