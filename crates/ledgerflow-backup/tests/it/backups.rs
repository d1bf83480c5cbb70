use std::process::Command;

use ledgerflow_backup::Kind;

use crate::*;

#[tokio::test]
async fn a_backup_is_verified_and_restores_with_the_standard_tools_alone() {
    for t in stores(3_000).await {
        let out = take_verified(&t, Kind::Db).await;
        assert!(
            out.verification.contains("test restore"),
            "{}",
            out.verification
        );
        assert_eq!(out.transactions, 3_000);
        let name = out
            .file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_string();
        let ext = if t.name() == "sqlite" {
            ".sqlite.zst"
        } else {
            ".pgdump.zst"
        };
        assert!(
            name.starts_with("ledgerflow_db_backup_") && name.ends_with(ext),
            "{name}"
        );
        let dir = t.settings().dir;
        // The manifest beside it and a catalog line; no temporary file left.
        let side = dir.join(format!("{name}.manifest.json"));
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&side).expect("sidecar")).expect("json");
        assert_eq!(manifest["facts"]["counts"]["transactions"], 3_000);
        assert_eq!(manifest["sha256"].as_str().map(str::len), Some(64));
        let listed = ledgerflow_backup::list(&t.settings()).expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].verified);
        assert!(
            backup_files(&dir).iter().all(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // The backup lock is kept; nothing else hidden is.
                !n.starts_with('.') || n == ".backup.lock"
            }),
            "{:?}",
            backup_files(&dir)
        );

        // An off-site copy, read back before it counts.
        ledgerflow_backup::copy_to(&t.settings(), &out, "nas")
            .await
            .expect("copy");
        let copy = t.dir.path().join("nas").join(&name);
        assert_eq!(
            std::fs::read(&copy).expect("copy exists"),
            std::fs::read(&out.file).expect("original")
        );
        assert!(
            t.dir
                .path()
                .join("nas")
                .join(format!("{name}.manifest.json"))
                .exists()
        );
        assert_eq!(
            ledgerflow_backup::list(&t.settings()).expect("list")[0].copies,
            vec!["nas"]
        );
        let err = ledgerflow_backup::copy_to(&t.settings(), &out, "tape")
            .await
            .expect_err("unknown");
        assert!(
            err.to_string().contains("no backup destination \"tape\""),
            "{err}"
        );
        // Asked for by name, an unknown destination is refused before anything is taken.
        let before = ledgerflow_backup::list(&t.settings()).expect("list").len();
        let err = ledgerflow_backup::backup_now(
            t.store.as_ref(),
            &t.location,
            &t.settings(),
            Kind::Db,
            false,
            ledgerflow_backup::Copies::Only("tape"),
        )
        .await
        .expect_err("unknown destination");
        assert!(err.to_string().contains("nothing was taken"), "{err}");
        assert_eq!(
            ledgerflow_backup::list(&t.settings()).expect("list").len(),
            before
        );

        // LedgerFlow gone: zstd, then sqlite3 or pg_restore + psql.
        let raw = t.dir.path().join("restored");
        zstd_decompress(&out.file, &raw);
        let count = count_with_standard_tools(&t, &raw);
        let sums = t.store.account_sums().await.expect("sums");
        let want = format!("3000|{}", sums[0].1);
        assert!(
            count.contains(&want),
            "{}: {count:?} wanted {want}",
            t.name()
        );
        t.store.close().await;
    }
}

#[tokio::test]
async fn bit_rot_and_empty_files_are_caught_by_verify_and_never_look_finished() {
    for t in stores(500).await {
        let s = t.settings();
        let a = take(&t, Kind::Db).await.expect("backup");
        let b = take(&t, Kind::Full).await.expect("backup");
        assert!(
            a.verified && b.verified,
            "{} / {}",
            a.verification,
            b.verification
        );
        for o in [&a, &b] {
            let again = ledgerflow_backup::verify(&t.location, &s, &o.file)
                .await
                .expect("verify");
            assert!(again.verified, "{}", again.verification);
            assert!(
                again.verification.contains("test restore"),
                "{}",
                again.verification
            );
        }
        // One flipped byte in the middle.
        let mut bytes = std::fs::read(&a.file).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&a.file, &bytes).expect("write");
        let rotten = refused_by_verify(&t, &s, &a.file, "SHA-256").await;
        assert!(
            rotten.file.to_string_lossy().ends_with(".failed"),
            "renamed"
        );
        assert!(
            !a.file.exists(),
            "nothing that failed keeps a finished name"
        );
        // A cloud folder that cut the other one to 0 bytes.
        std::fs::write(&b.file, b"").expect("truncate");
        refused_by_verify(&t, &s, &b.file, "empty").await;
        let states: Vec<bool> = ledgerflow_backup::list(&s)
            .expect("list")
            .iter()
            .map(|e| e.verified)
            .collect();
        assert_eq!(
            states,
            vec![false, false],
            "the catalog records both failures"
        );
        t.store.close().await;
    }
}

#[tokio::test]
async fn a_full_backup_holds_the_database_the_manifest_and_the_config_without_secrets() {
    for t in stores(200).await {
        let out = take_verified(&t, Kind::Full).await;
        let tar = t.dir.path().join("full.tar");
        zstd_decompress(&out.file, &tar);
        let listing = Command::new("tar")
            .arg("tf")
            .arg(&tar)
            .output()
            .expect("tar");
        let names = String::from_utf8_lossy(&listing.stdout).to_string();
        let db = if t.name() == "sqlite" {
            "db.sqlite"
        } else {
            "db.pgdump"
        };
        for m in [db, "config.toml", "manifest.json"] {
            assert!(names.lines().any(|l| l == m), "{m} in {names}");
        }
        let config = Command::new("tar")
            .arg("xOf")
            .arg(&tar)
            .arg("config.toml")
            .output()
            .expect("tar");
        let config = String::from_utf8_lossy(&config.stdout).to_string();
        assert!(
            config.contains("********") && !config.contains("s3cret"),
            "{config}"
        );
        t.store.close().await;
    }
}

#[tokio::test]
async fn a_snapshot_whose_rows_do_not_match_the_journal_is_never_marked_good() {
    for t in stores(100).await {
        // Someone edits a row behind LedgerFlow's back: the snapshot carries the edit, and its
        // test restore (the journal replayed against every row) refuses it.
        t.raw_sql("UPDATE transactions SET amount_minor = amount_minor + 1 WHERE id = 1");
        let mut s = t.settings();
        s.replay_journal = true;
        let err = ledgerflow_backup::backup(t.store.as_ref(), &t.location, &s, Kind::Db, false)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("journal"), "{}: {err}", t.name());
        let left: Vec<_> = backup_files(&s.dir)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ledgerflow_"))
            })
            .collect();
        assert!(left.is_empty(), "no archive: {left:?}");
        assert!(ledgerflow_backup::list(&s).expect("list").is_empty());
        t.store.close().await;
    }
}

#[tokio::test]
async fn a_suspiciously_small_backup_fails_and_stops_pruning() {
    for t in stores(0).await {
        let s = t.settings();
        // Enough rows that the schema's fixed part (functions, indexes' definitions) is small
        // beside them: the undone rows stay in the journal, so the dump shrinks by half only.
        let batch = fill(t.store.as_ref(), 12_000).await;
        for _ in 0..2 {
            take_verified(&t, Kind::Db).await;
            // Distinct file names even within one second.
        }
        // Most of the data goes (an import undone): the next backup is much smaller.
        t.store.undo_import(&actor(), batch).await.expect("undo");
        fill(t.store.as_ref(), 10).await;
        let small = take(&t, Kind::Db).await.expect("backup runs");
        assert!(
            !small.verified,
            "{}: {} bytes: {}",
            t.name(),
            small.size,
            small.verification
        );
        assert!(
            small.verification.contains("suspiciously small"),
            "{}",
            small.verification
        );
        let err = ledgerflow_backup::prune(t.store.as_ref(), &s, false)
            .await
            .expect_err("prune refuses");
        assert!(err.to_string().contains("nothing is pruned"), "{err}");
        assert_eq!(ledgerflow_backup::list(&s).expect("list").len(), 3);
        t.store.close().await;
    }
}

#[tokio::test]
async fn prune_keeps_the_newest_verified_backup_and_removes_what_retention_drops() {
    for t in stores(50).await {
        let mut s = t.settings();
        let mut files = Vec::new();
        for _ in 0..3 {
            files.push(take(&t, Kind::Db).await.expect("backup").file);
        }
        s.keep = ledgerflow_backup::Keep {
            hourly: 0,
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        let plan = ledgerflow_backup::prune(t.store.as_ref(), &s, true)
            .await
            .expect("dry run");
        assert_eq!(plan.delete.len(), 2);
        assert!(
            files.iter().all(|f| f.exists()),
            "a dry run deletes nothing"
        );
        let plan = ledgerflow_backup::prune(t.store.as_ref(), &s, false)
            .await
            .expect("prune");
        let newest = files[2].file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(plan.keep, vec![newest.to_string()]);
        assert!(files[2].exists());
        assert!(!files[0].exists() && !files[1].exists());
        let left = ledgerflow_backup::list(&s).expect("list");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].file, newest);
        t.store.close().await;
    }
}

/// A stand-in `pg_dump` in a directory of its own: the real `pg_restore` beside it.
fn fake_pg_bin(dir: &std::path::Path, script: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).expect("dir");
    let p = bin.join("pg_dump");
    std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).expect("script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if let Some(real) = ledgerflow_test_support::find_bindir() {
        let _ = std::os::unix::fs::symlink(real.join("pg_restore"), bin.join("pg_restore"));
    }
    bin
}

#[tokio::test]
async fn pg_dump_missing_failing_or_too_old_fails_clearly_and_keeps_the_last_good_backup() {
    for t in stores(300).await {
        if t.name() != "postgres" {
            continue;
        }
        let good = take_verified(&t, Kind::Db).await;
        let cases = [
            (
                Some(
                    "echo 'pg_dump (PostgreSQL) 15.18'\n[ \"$1\" = --version ] && exit 0\necho 'pg_dump: error: connection to server lost' >&2\nexit 1",
                ),
                "connection to server lost",
            ),
            (
                Some("echo 'pg_dump (PostgreSQL) 9.6.24'"),
                "install the PostgreSQL",
            ),
            (None, "does not exist"),
        ];
        let hook = ledgerflow_test_support::http::Webhook::start();
        for (script, want) in cases {
            let mut s = t.settings();
            s.alert_webhook = Some(hook.url.clone());
            s.pg_bin_dir = Some(match script {
                Some(script) => fake_pg_bin(t.dir.path(), script),
                None => t.dir.path().join("no-such-bin"),
            });
            let err = ledgerflow_backup::backup(t.store.as_ref(), &t.location, &s, Kind::Db, false)
                .await
                .expect_err("refused");
            assert!(err.to_string().contains(want), "{err}");
            let alert = hook.received().pop().expect("an alert");
            assert_eq!(alert["event"], "backup_failed");
            assert!(
                alert["message"].as_str().unwrap_or("").contains(want),
                "{alert}"
            );
            let _ = std::fs::remove_dir_all(t.dir.path().join("fakebin"));
        }
        assert_eq!(hook.received().len(), 3);
        let s = t.settings();
        let names: Vec<String> = backup_files(&s.dir)
            .iter()
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .collect();
        let archives: Vec<&String> = names.iter().filter(|n| n.ends_with(".zst")).collect();
        assert_eq!(archives.len(), 1, "only the good backup: {names:?}");
        assert!(
            names
                .iter()
                .all(|n| !n.starts_with('.') || n == ".backup.lock"),
            "no temporary files left: {names:?}"
        );
        let again = ledgerflow_backup::verify(&t.location, &s, &good.file)
            .await
            .expect("verify");
        assert!(again.verified, "{}", again.verification);
        // A verification that cannot run here (no pg_restore) says so and leaves the backup's
        // state alone: the archive is not blamed for the machine.
        let mut broken = t.settings();
        broken.pg_bin_dir = Some(t.dir.path().join("no-such-bin"));
        let err = ledgerflow_backup::verify(&t.location, &broken, &good.file)
            .await
            .expect_err("cannot verify here");
        assert!(err.to_string().contains("pg_restore"), "{err}");
        assert!(good.file.exists());
        assert!(ledgerflow_backup::list(&s).expect("list")[0].verified);
        t.store.close().await;
    }
}
