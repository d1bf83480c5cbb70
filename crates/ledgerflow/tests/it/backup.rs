//! `ledgerflow backup` from the command line, on both engines.

use crate::helpers::tx_add;
use crate::*;

#[test]
fn backup_prints_its_verification_and_verify_fails_loudly_on_a_cut_file() {
    for app in TestApp::both() {
        app.with_checking();
        for i in 0..40 {
            app.ok(&tx_add(
                "Checking",
                "2024-01-05",
                &format!("-{i}.25"),
                "Coffee shop on the corner",
                &[],
            ));
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
        app.fails_saying(&["backup", "verify", "--all"], 1, "empty");
        let list = app.ok(&["backup", "list"]);
        assert!(list.contains("FAILED"), "{list}");
        let status = app.ok(&["status"]);
        assert!(status.contains("backup FAILED"), "{status}");
        // And pruning waits for a backup that verifies.
        app.fails_saying(&["backup", "prune"], 1, "nothing is pruned");
    }
}

/// An embedded store with `rows` Wells Fargo rows imported into "Checking".
fn app_with_imported_rows(rows: u64) -> TestApp {
    let app = TestApp::sqlite();
    app.with_checking();
    app.import_wf(0, rows);
    app
}

/// A small tmpfs mounted on a directory for the life of the value (as root; CI runs as root).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status();
        if st.is_ok_and(|s| s.success()) {
            return Some(Tmpfs(dir.to_path_buf()));
        }
        let msg = "mounting a tmpfs needs root (CAP_SYS_ADMIN): the full-disk test cannot run";
        assert!(std::env::var("CI").is_err(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The backup directory on a small tmpfs that fills up: the next backup fails clearly and
/// raises an alert, nothing half-written is left, and the last good backup stays good (a
/// re-verification on the full disk says it cannot check, and does not mark it failed).
#[test]
fn a_full_disk_fails_the_backup_clearly_and_keeps_the_last_good_one() {
    let app = app_with_imported_rows(20_000);
    let dir = app.path().join("ledgerflow-backups");
    let Some(_fs) = Tmpfs::mount(&dir, "16m") else {
        return;
    };
    let hook = ledgerflow_test_support::http::Webhook::start();
    let run = |args: &[&str]| {
        app.command(args)
            .env("LEDGERFLOW_BACKUP__ALERT_WEBHOOK", &hook.url)
            .output()
            .expect("run ledgerflow")
    };
    let good = run(&["backup", "--json"]);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    // Fill the disk, leaving 64 KiB.
    let free = || {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&dir)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<u64>().ok())
            .expect("df avail")
    };
    let fill = dir.join("ballast");
    std::fs::write(&fill, vec![0u8; (free() - 64 * 1024) as usize]).expect("ballast");
    let out = run(&["backup"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("disk is full") || err.contains("No space left on device"),
        "a clear reason: {err}"
    );
    let events = hook.events();
    assert_eq!(events, vec!["backup_failed"], "{:?}", hook.received());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with('.') || n == ".backup.lock"),
        "nothing half-written: {names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".zst")).count(),
        1,
        "the good backup is still there: {names:?}"
    );
    // Verifying on the full disk cannot unpack it: an error, an alert, and the backup stays good.
    let reverify = run(&["backup", "verify", "--all"]);
    assert!(!reverify.status.success());
    let listed = app.json(&["backup", "list", "--json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["verified"], true, "{listed}");
    std::fs::remove_file(&fill).expect("free the disk");
    app.ok(&["backup", "verify", "--all"]);
}

/// Kills `ledgerflow backup` with SIGKILL at moments spread over its run: whatever is left
/// never looks finished unless it is (every finished-looking archive verifies).
#[test]
fn a_backup_killed_at_any_moment_leaves_nothing_that_looks_finished() {
    let app = app_with_imported_rows(30_000);
    // How long one backup takes here, to spread the kills over it.
    let full = app.timed(&["backup"]);
    for at in crate::kill_moments(0x9E37_79B9_7F4A_7C15, 20, full + full / 5) {
        app.kill_after(&["backup"], at);
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

/// `backup schedule` with every backup failing: each failure is an alert, and so is the store
/// having no verified backup within two scheduled intervals.
#[test]
fn the_schedule_alerts_on_failures_and_when_no_verified_backup_is_recent() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    let hook = ledgerflow_test_support::http::Webhook::start();
    let mut child = app
        .command(&["backup", "schedule"])
        .env("LEDGERFLOW_BACKUP__ALERT_WEBHOOK", &hook.url)
        .env("LEDGERFLOW_BACKUP__MIN_SIZE", "1000000000000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut events = Vec::new();
    for _ in 0..600 {
        events = hook.events();
        if events.iter().any(|e| e == "no_recent_verified_backup") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let code = child.wait().expect("wait");
    assert!(code.success(), "{code:?}");
    assert_eq!(
        events,
        vec![
            "backup_failed",
            "backup_failed",
            "no_recent_verified_backup"
        ],
        "{:?}",
        hook.received()
    );
    let stale = &hook.received()[2];
    assert!(
        stale["message"]
            .as_str()
            .unwrap_or("")
            .contains("no verified backup"),
        "{stale}"
    );
    // The failures are in the catalog and status says so.
    let st = app.json(&["status", "--json"]);
    assert_eq!(st["backups"]["stale"], true, "{st}");
    assert_eq!(
        st["backups"]["failures"].as_array().map(Vec::len),
        Some(2),
        "{st}"
    );
}

/// From the configuration file: an S3 destination (moto on loopback), an age key, and
/// `backup --encrypt-to … --dest …` from the command line.
#[test]
fn an_encrypted_backup_goes_to_an_s3_destination_named_in_the_config() {
    let Some(moto) = ledgerflow_test_support::http::Moto::start() else {
        return;
    };
    moto.create_bucket("ledgerflow-offsite");
    let app = app_with_imported_rows(2_000);
    let key = app.path().join("key.txt");
    let keygen = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .expect("age-keygen runs (apt-get install age)");
    assert!(keygen.status.success());
    let public = std::fs::read_to_string(&key)
        .expect("key")
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .expect("public key");
    std::fs::write(app.path().join("s3-secret"), "test").expect("secret");
    app.write_config(format!(
        "[backup]\nage_identity_file = \"key.txt\"\n\n[backup.destinations.offsite]\nurl = \"s3://ledgerflow-offsite/prod\"\nendpoint = \"{}\"\naccess_key_id = \"test\"\nsecret_access_key_file = \"s3-secret\"\n",
        moto.endpoint
    ));
    let out = app.json(&[
        "backup",
        "--encrypt-to",
        &public,
        "--dest",
        "offsite",
        "--json",
    ]);
    assert_eq!(out["verified"], true, "{out}");
    let file = out["file"].as_str().expect("file");
    assert!(file.ends_with(".sqlite.zst.age"), "{file}");
    let name = std::path::Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name");
    let there = moto
        .get("ledgerflow-offsite", &format!("prod/{name}"))
        .expect("in the bucket");
    assert_eq!(there, std::fs::read(app.path().join(file)).expect("local"));
    let listed = app.json(&["backup", "list", "--json"]);
    assert_eq!(listed[0]["copies"][0], "offsite", "{listed}");
    // Without the key the verification cannot run: an error, the state unchanged.
    let err = app
        .command(&["backup", "verify", "--all"])
        .env("LEDGERFLOW_BACKUP__AGE_IDENTITY_FILE", "")
        .output()
        .expect("run");
    assert!(!err.status.success());
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("age_identity_file"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
    app.ok(&["backup", "verify", "--all"]);
}
