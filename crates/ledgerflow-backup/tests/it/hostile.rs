//! The backup directory is hostile: anyone with access to the share it lives on can drop or
//! edit files there. Crafted manifests, catalog lines, archives and edits behind LedgerFlow's
//! back, each of which once overwrote, deleted or "verified" something it must not (issue 12).

use std::io::Write;
use std::path::{Path, PathBuf};

use ledgerflow_backup::catalog::{CATALOG, Catalog};
use ledgerflow_backup::manifest::Manifest;
use ledgerflow_backup::restore::Expect;
use ledgerflow_backup::{Keep, Kind};
use ledgerflow_core::model::*;
use ledgerflow_core::service::verify_journal;
use ledgerflow_db::{Location, OpenMode};
use sha2::{Digest, Sha256};

use crate::*;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn sha256_file(p: &Path) -> String {
    sha256(&std::fs::read(p).expect("read"))
}

fn live_db(t: &TestStore) -> Option<PathBuf> {
    match &t.location {
        Location::Sqlite(p) => Some(p.clone()),
        Location::Postgres(_) => None,
    }
}

fn manifest_of(file: &Path) -> Manifest {
    let side = format!("{}.manifest.json", file.display());
    serde_json::from_slice(&std::fs::read(side).expect("manifest")).expect("json")
}

/// Writes `archive` bytes under `name` in the backup directory with a sidecar manifest made
/// from `m` (its file, size and SHA-256 set to match the bytes).
fn plant(dir: &Path, name: &str, archive: &[u8], mut m: Manifest) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, archive).expect("plant archive");
    m.file = name.to_string();
    m.size = Some(archive.len() as u64);
    m.sha256 = Some(sha256(archive));
    std::fs::write(
        dir.join(format!("{name}.manifest.json")),
        serde_json::to_vec_pretty(&m).expect("json"),
    )
    .expect("plant manifest");
    path
}

fn zstd_bytes(plain: &[u8]) -> Vec<u8> {
    zstd::encode_all(plain, 3).expect("zstd")
}

/// Text that is recognisably not a database.
fn payload() -> Vec<u8> {
    "OWNED BY A CRAFTED MANIFEST\n".repeat(600).into_bytes()
}

fn allow_other_lineage() -> Expect {
    Expect {
        other_lineage: true,
        ..default_expect()
    }
}

/// A SQLite store of 20 rows, its settings, and a first backup of `kind`.
async fn sqlite_backed_up(kind: Kind) -> (TestStore, Settings, ledgerflow_backup::Outcome) {
    let t = stores(20).await.remove(0);
    let s = t.settings();
    let good = take(&t, kind).await.expect("backup");
    (t, s, good)
}

fn default_expect() -> Expect {
    Expect {
        environment: "dev".into(),
        other_lineage: false,
    }
}

#[tokio::test]
async fn b1_a_manifest_member_naming_the_live_database_or_a_path_outside_is_never_written() {
    let (t, s, good) = sqlite_backed_up(Kind::Db).await;
    assert!(good.verified, "{}", good.verification);
    let live = live_db(&t).expect("sqlite");
    let before = sha256_file(&live);
    let p = payload();
    let outside = t.dir.path().join("escaped.txt");
    let names = [
        live.display().to_string(),
        "../escaped.txt".to_string(),
        format!("../../../../../../..{}", outside.display()),
        outside.display().to_string(),
        "sub/db.sqlite".to_string(),
        "..".to_string(),
    ];
    for (i, member) in names.iter().enumerate() {
        let mut m = manifest_of(&good.file);
        m.members = vec![ledgerflow_backup::manifest::Member {
            name: member.clone(),
            size: p.len() as u64,
            sha256: sha256(&p),
        }];
        let name = format!("ledgerflow_db_backup_20200101_00000{i}.sqlite.zst");
        let file = plant(&s.dir, &name, &zstd_bytes(&p), m);
        let verified = ledgerflow_backup::verify(&t.location, &s, &file)
            .await
            .map(|o| o.verified)
            .unwrap_or(false);
        assert!(!verified, "{member}");
        assert_eq!(
            sha256_file(&live),
            before,
            "the live database was written ({member})"
        );
        assert!(
            !outside.exists(),
            "a file escaped the backup directory ({member})"
        );
        assert!(!s.dir.join("escaped.txt").exists());
        // Restore refuses it the same way, before anything is written.
        let r = ledgerflow_backup::restore(&t.location, &s, &file, None, &default_expect()).await;
        assert!(r.is_err(), "{member}");
        assert_eq!(sha256_file(&live), before);
        assert!(!outside.exists());
    }
    assert!(verify_journal(t.store.as_ref()).await.expect("verify").ok);
    t.store.close().await;
}

/// A backup written by a newer LedgerFlow (a newer schema) is not restored here, and says why;
/// but it says nothing against the backup: it keeps its verified state and its name.
#[tokio::test]
async fn a_backup_of_a_newer_schema_is_refused_but_keeps_its_state() {
    let (t, s, good) = sqlite_backed_up(Kind::Db).await;
    let live = live_db(&t).expect("sqlite");
    let db = t.dir.path().join("newer.db");
    std::fs::write(
        &db,
        zstd::decode_all(std::fs::File::open(&good.file).expect("open")).expect("unzstd"),
    )
    .expect("write");
    let st = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(
            "INSERT INTO _sqlx_migrations SELECT version + 100, 'from the future', installed_on, \
             success, checksum, execution_time FROM _sqlx_migrations \
             WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
        )
        .status()
        .expect("sqlite3 runs");
    assert!(st.success());
    let plain = std::fs::read(&db).expect("read");
    let mut m = manifest_of(&good.file);
    m.members[0].size = plain.len() as u64;
    m.members[0].sha256 = sha256(&plain);
    let name = "ledgerflow_db_backup_20300101_000000.sqlite.zst";
    let file = plant(&s.dir, name, &zstd_bytes(&plain), m);
    t.store.close().await;
    let before = ledger_state(&live);
    let err = ledgerflow_backup::restore(&t.location, &s, &file, None, &default_expect())
        .await
        .expect_err("refused");
    assert!(matches!(err, BackupError::Environment(_)), "{err}");
    assert!(
        err.to_string().contains("newer than this LedgerFlow"),
        "{err}"
    );
    assert!(file.exists(), "not renamed *.failed");
    assert!(!s.dir.join(format!("{name}.failed")).exists());
    assert_eq!(ledger_state(&live), before);
    let leftovers: Vec<_> = std::fs::read_dir(live.parent().expect("dir"))
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".restoring-"))
        .collect();
    assert!(leftovers.is_empty(), "the staging directory is removed");
}

/// One restore at a time into a SQLite directory, whatever backup directory it restores from:
/// while another holds the lock beside the live file, a restore is refused and nothing changes.
#[tokio::test]
async fn a_restore_into_a_directory_another_restore_holds_is_refused() {
    let (t, s, good) = sqlite_backed_up(Kind::Db).await;
    let live = live_db(&t).expect("sqlite");
    t.store.close().await;
    let before = sha256_file(&live);
    let lock = std::fs::File::create(live.parent().expect("dir").join(".ledgerflow-restore.lock"))
        .expect("lock file");
    lock.try_lock().expect("held by the other restore");
    let err = ledgerflow_backup::restore(&t.location, &s, &good.file, None, &default_expect())
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("another restore is running"),
        "{err}"
    );
    assert_eq!(sha256_file(&live), before);
    drop(lock);
    ledgerflow_backup::restore(&t.location, &s, &good.file, None, &default_expect())
        .await
        .expect("restored once the other is done");
}

#[tokio::test]
async fn b1_a_full_archive_with_an_extra_member_escaping_the_directory_is_not_verified() {
    let (t, s, good) = sqlite_backed_up(Kind::Full).await;
    assert!(good.verified, "{}", good.verification);
    let escape = t.dir.path().join("x");
    // Rebuild the archive: its real members, then one named "../../x" (written raw: the tar
    // crate refuses such names, an attacker's tool does not).
    let inner = zstd::decode_all(std::fs::File::open(&good.file).expect("open")).expect("unzstd");
    let mut ar = tar::Archive::new(inner.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        let mut h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("read");
        out.append_data(&mut h, e.path().expect("path"), data.as_slice())
            .expect("append");
    }
    let evil = b"escaped\n".to_vec();
    let mut h = tar::Header::new_gnu();
    h.set_size(evil.len() as u64);
    h.set_mode(0o644);
    {
        let gnu = h.as_gnu_mut().expect("gnu");
        let name = b"../../x";
        gnu.name[..name.len()].copy_from_slice(name);
    }
    h.set_cksum();
    out.append(&h, evil.as_slice()).expect("append raw");
    let tarred = out.into_inner().expect("tar");
    let mut m = manifest_of(&good.file);
    m.members.push(ledgerflow_backup::manifest::Member {
        name: "../../x".into(),
        size: evil.len() as u64,
        sha256: sha256(&evil),
    });
    let file = plant(
        &s.dir,
        "ledgerflow_full_backup_20200101_000001.tar.zst",
        &zstd_bytes(&tarred),
        m,
    );
    let o = ledgerflow_backup::verify(&t.location, &s, &file).await;
    assert!(!o.as_ref().map(|o| o.verified).unwrap_or(false), "{o:?}");
    assert!(!escape.exists(), "a tar member escaped");
    let r = ledgerflow_backup::restore(&t.location, &s, &file, None, &default_expect()).await;
    assert!(r.is_err());
    assert!(!escape.exists(), "restore wrote the escaping member");
    t.store.close().await;
}

/// Appends a raw line to the catalog, as anyone with access to the share could.
fn append_catalog(dir: &Path, line: &serde_json::Value) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join(CATALOG))
        .expect("catalog");
    writeln!(f, "{line}").expect("append");
}

#[tokio::test]
async fn b2_a_catalog_line_or_symlink_never_makes_prune_delete_anything_but_its_own_backups() {
    let (t, mut s, good) = sqlite_backed_up(Kind::Db).await;
    assert!(good.verified);
    let live = live_db(&t).expect("sqlite");
    let lineage = t.lineage().await.to_string();
    let victim = t.dir.path().join("victim.txt");
    std::fs::write(&victim, b"precious").expect("victim");
    let old = "2020-01-01T00:00:00Z";
    // A catalog line for a verified SQLite database backup of this ledger, taken long ago.
    let record = |file: &str, size: u64, sha256: &str| {
        append_catalog(
            &s.dir,
            &serde_json::json!({
                "file": file, "kind": "db", "engine": "sqlite", "created_at": old,
                "lineage_id": lineage, "size": size, "sha256": sha256,
                "verified": true, "verification": "ok", "verified_at": old,
            }),
        );
    };
    for file in [
        "../data/ledgerflow.db".to_string(),
        live.display().to_string(),
        victim.display().to_string(),
        "ledgerflow_db_backup_20200101_000000.sqlite.zst/../../victim.txt".to_string(),
    ] {
        record(&file, 10, &"00".repeat(32));
    }
    // A backup-named symlink to the live database, recorded with the live file's true hash.
    let link = "ledgerflow_db_backup_20200102_000000.sqlite.zst";
    std::os::unix::fs::symlink(&live, s.dir.join(link)).expect("symlink");
    record(
        link,
        std::fs::metadata(&live).expect("len").len(),
        &sha256_file(&live),
    );
    // An old-looking real-name line whose file's content is not what the catalog says.
    let swapped = "ledgerflow_db_backup_20200103_000000.sqlite.zst";
    std::fs::write(s.dir.join(swapped), b"someone else's file").expect("swapped");
    record(swapped, 19, &"11".repeat(32));
    s.keep = Keep {
        hourly: 0,
        daily: 0,
        weekly: 0,
        monthly: 0,
    };
    // "Back up now" never prunes; the scheduled run and `backup prune` delete only files
    // proven to be their own backups.
    let now = ledgerflow_backup::backup_now(
        t.store.as_ref(),
        &t.location,
        &s,
        Kind::Db,
        false,
        ledgerflow_backup::Copies::Configured,
    )
    .await
    .expect("backup now");
    assert!(now.verified, "{}", now.verification);
    assert!(good.file.exists(), "backup now deleted an earlier backup");
    let plan = ledgerflow_backup::prune(t.store.as_ref(), &s, false)
        .await
        .expect("prune");
    assert!(live.exists(), "the live database was deleted");
    assert!(
        victim.exists(),
        "a file outside the backup directory was deleted"
    );
    assert!(
        s.dir.join(swapped).exists(),
        "a file whose hash differs was deleted"
    );
    assert!(
        std::fs::symlink_metadata(s.dir.join(link)).is_ok(),
        "the symlink was followed or removed"
    );
    assert!(!plan.refused.is_empty(), "{plan:?}");
    assert!(verify_journal(t.store.as_ref()).await.expect("verify").ok);
    t.store.close().await;
}

#[tokio::test]
async fn b2_an_inflated_catalog_size_does_not_make_later_backups_look_small() {
    for t in stores(20).await {
        let s = t.settings();
        take_verified(&t, Kind::Db).await;
        let lineage = t.lineage().await;
        append_catalog(
            &s.dir,
            &serde_json::json!({
                "file": "ledgerflow_db_backup_20991231_000000.sqlite.zst", "kind": "db",
                "engine": t.name(), "created_at": "2099-12-31T00:00:00Z",
                "lineage_id": lineage.to_string(), "size": 1_000_000_000_000u64,
                "sha256": "22".repeat(32), "verified": true, "verification": "ok",
                "verified_at": "2099-12-31T00:00:00Z",
            }),
        );
        take_verified(&t, Kind::Db).await;
        t.store.close().await;
    }
}

#[tokio::test]
async fn w7_an_archive_that_inflates_beyond_its_manifest_stops_at_the_manifest_size() {
    let (t, s, good) = sqlite_backed_up(Kind::Db).await;
    // 256 MiB of zeros, a few hundred kilobytes compressed, claiming to be 16 KiB.
    let bomb = {
        let mut enc = zstd::Encoder::new(Vec::new(), 19).expect("enc");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            enc.write_all(&zeros).expect("write");
        }
        enc.finish().expect("finish")
    };
    assert!(bomb.len() < 1 << 20);
    let mut m = manifest_of(&good.file);
    let claimed = vec![0u8; 16 << 10];
    m.members[0].size = claimed.len() as u64;
    m.members[0].sha256 = sha256(&claimed);
    let file = plant(
        &s.dir,
        "ledgerflow_db_backup_20200101_000002.sqlite.zst",
        &bomb,
        m,
    );
    refused_by_verify(&t, &s, &file, "inflates beyond").await;
    // Nothing big was left anywhere under the backup directory.
    for e in walk(&s.dir) {
        let len = std::fs::metadata(&e).map(|m| m.len()).unwrap_or(0);
        assert!(len < 8 << 20, "{} is {len} bytes", e.display());
    }
    t.store.close().await;
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Edits behind LedgerFlow's back: each must make the next backup fail its verification (with
/// the default settings: no full journal replay) and `journal verify` fail.
#[tokio::test]
async fn b4_w2_w3_a_store_edited_behind_ledgerflows_back_is_never_backed_up_as_verified() {
    let edits: &[(&str, &str)] = &[
        (
            "an amount changed",
            "UPDATE transactions SET amount_minor = amount_minor + 1 WHERE id = (SELECT min(id) FROM transactions)",
        ),
        (
            "a row deleted",
            "DELETE FROM transactions WHERE id = (SELECT max(id) FROM transactions)",
        ),
        (
            "a row inserted",
            "INSERT INTO transactions (account_id, posted_date, amount_minor, currency, payee, status, source, fingerprint, created_at, updated_at) \
             SELECT account_id, posted_date, 999, currency, 'ghost', status, source, fingerprint, created_at, updated_at FROM transactions WHERE id = (SELECT min(id) FROM transactions)",
        ),
        (
            "a middle journal entry deleted",
            "DELETE FROM journal WHERE seq = 2",
        ),
        (
            "a journal entry's after altered",
            "UPDATE journal SET after = replace(after, 'Checking', 'Chequing') WHERE entity = 'account'",
        ),
        (
            "an actor altered",
            "UPDATE journal SET actor = 'mallory' WHERE seq = 1",
        ),
        (
            "a user's role",
            "UPDATE users SET role = 'admin' WHERE name = 'vic'",
        ),
        (
            "an import batch's sha",
            "UPDATE import_batches SET file_sha256 = 'feedfeed'",
        ),
        (
            "a tombstone deleted (W3)",
            "DELETE FROM deleted_transactions",
        ),
        (
            "a trigger planted",
            "CREATE TRIGGER evil AFTER UPDATE ON journal_head BEGIN UPDATE transactions SET amount_minor = 0; END",
        ),
        (
            "an admin token inserted (W2)",
            "INSERT INTO credentials (kind, user_id, name, secret_sha256, created_at) \
             SELECT 'token', id, 'backdoor', secret_sha256, created_at FROM credentials WHERE kind = 'token'",
        ),
    ];
    for (what, sql) in edits {
        for t in stores(10).await {
            let a = actor();
            let vic = t
                .store
                .create_user(
                    &a,
                    &NewUser {
                        name: "vic".into(),
                        role: Role::Viewer,
                        password_hash: None,
                    },
                )
                .await
                .expect("user");
            t.store
                .create_credential(
                    &a,
                    &NewCredential {
                        kind: CredentialKind::Token,
                        user_id: vic.id,
                        name: "script".into(),
                        secret_sha256: [7; 32],
                        expires_at: None,
                    },
                )
                .await
                .expect("token");
            let doomed = t
                .store
                .list_transactions(&Default::default())
                .await
                .expect("list")
                .items[0]
                .id;
            t.store
                .delete_transaction(&a, doomed)
                .await
                .expect("delete");
            assert!(verify_journal(t.store.as_ref()).await.expect("verify").ok);
            let sql = sql.replace("'feedfeed'", "'feedfeed' || id");
            let sql = if t.name() == "postgres" && sql.starts_with("CREATE TRIGGER") {
                "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 UPDATE transactions SET amount_minor = 0; RETURN NEW; END $$; \
                 CREATE TRIGGER evil AFTER UPDATE ON journal_head FOR EACH ROW EXECUTE FUNCTION evil()"
                    .to_string()
            } else {
                sql
            };
            let sql = if t.name() == "postgres" && sql.contains("secret_sha256, created_at FROM") {
                // A different secret hash (the column is unique).
                sql.replace(
                    ", secret_sha256, created_at FROM",
                    ", sha256(secret_sha256), created_at FROM",
                )
            } else if sql.contains("secret_sha256, created_at FROM") {
                sql.replace(
                    ", secret_sha256, created_at FROM",
                    ", randomblob(32), created_at FROM",
                )
            } else {
                sql
            };
            t.raw_sql(&sql);
            let report = verify_journal(t.store.as_ref()).await.expect("verify runs");
            assert!(!report.ok, "{}: journal verify missed {what}", t.name());
            let verified = take(&t, Kind::Db)
                .await
                .map(|o| o.verified)
                .unwrap_or(false);
            assert!(
                !verified,
                "{}: a backup after {what} was called verified",
                t.name()
            );
            t.store.close().await;
        }
    }
}

/// Cut the newest journal entries off cleanly: delete the last row and its entry, set the head
/// back. Every check agrees with itself; only the newest verified backup knows better.
#[tokio::test]
async fn w4_a_journal_cut_back_below_the_newest_verified_backup_is_noticed() {
    for t in stores(10).await {
        let s = t.settings();
        let a = actor();
        let account = t
            .store
            .find_account("Checking")
            .await
            .expect("find")
            .expect("acct");
        t.store
            .insert_transactions(
                &a,
                vec![new_tx(account.id, "2024-05-01", -4_200, "LAST ROW")],
            )
            .await
            .expect("tx");
        let good = take_verified(&t, Kind::Db).await;
        assert_eq!(
            ledgerflow_backup::journal_behind_backups(t.store.as_ref(), &s)
                .await
                .expect("check"),
            None
        );
        t.raw_sql(
            "DELETE FROM transactions WHERE payee = 'LAST ROW'; \
             DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal); \
             UPDATE journal_head SET seq = (SELECT max(seq) FROM journal), \
               hash = (SELECT hash FROM journal WHERE seq = (SELECT max(seq) FROM journal)), \
               rows_digest = (SELECT rows_digest FROM journal WHERE seq = (SELECT max(seq) FROM journal));",
        );
        // The store agrees with itself...
        let report = verify_journal(t.store.as_ref()).await.expect("verify");
        assert!(report.ok, "{}: {:?}", t.name(), report.problem);
        // ...but not with the newest verified backup.
        let problem = ledgerflow_backup::journal_behind_backups(t.store.as_ref(), &s)
            .await
            .expect("check")
            .expect("noticed");
        assert!(problem.contains("cut off"), "{problem}");
        let next = take(&t, Kind::Db).await.expect("backup runs");
        assert!(!next.verified, "{}", next.verification);
        assert!(
            next.verification.contains("cut off"),
            "{}",
            next.verification
        );
        t.store.close().await;

        // The remedy the alarm names works: restoring the newest verified backup. Its safety
        // copy keeps the cut-back state as it is (verified, pinned, the cut named), and the
        // restored store has the row back and is no longer behind.
        let pinned_before = safety_backups(&s);
        let done = ledgerflow_backup::restore(&t.location, &s, &good.file, None, &default_expect())
            .await
            .unwrap_or_else(|e| panic!("{}: the restore repairs a cut-back store: {e}", t.name()));
        let safety = done.safety_backup.expect("a safety backup");
        let entry = Catalog::at(&s.dir)
            .entries()
            .expect("catalog")
            .into_iter()
            .find(|e| Some(e.file.as_str()) == safety.file_name().and_then(|n| n.to_str()))
            .expect("the safety backup is catalogued");
        assert!(entry.verified && entry.pinned, "{}", entry.verification);
        assert!(
            entry.verification.contains("cut off"),
            "{}",
            entry.verification
        );
        assert_eq!(safety_backups(&s), pinned_before + 1);
        let store = ledgerflow_db::open(&t.location, OpenMode::Existing)
            .await
            .expect("reopen");
        assert!(verify_journal(store.as_ref()).await.expect("verify").ok);
        assert_eq!(
            ledgerflow_backup::journal_behind_backups(store.as_ref(), &s)
                .await
                .expect("check"),
            None,
            "{}",
            t.name()
        );
        store.close().await;
    }
}

/// A backup of a store initialised as `env` with another lineage, in its own directory.
async fn other_store_backup(env: Environment, settings: &ledgerflow_backup::Settings) -> PathBuf {
    let into = settings.dir.as_path();
    let dir = tempfile::tempdir().expect("dir");
    let location = Location::Sqlite(dir.path().join("other.db"));
    let store = ledgerflow_db::open(&location, OpenMode::Create)
        .await
        .expect("open");
    store.initialize(&actor(), env).await.expect("init");
    fill(store.as_ref(), 5).await;
    let mut s = settings.clone();
    s.dir = dir.path().join("backups");
    s.destinations.clear();
    let o = ledgerflow_backup::backup(store.as_ref(), &location, &s, Kind::Db, false)
        .await
        .expect("backup");
    assert!(o.verified, "{}", o.verification);
    store.close().await;
    let name = o.file.file_name().expect("name").to_owned();
    std::fs::copy(&o.file, into.join(&name)).expect("copy");
    let side = format!("{}.manifest.json", name.to_string_lossy());
    std::fs::copy(s.dir.join(&side), into.join(&side)).expect("copy manifest");
    into.join(name)
}

fn safety_backups(s: &ledgerflow_backup::Settings) -> usize {
    Catalog::at(&s.dir)
        .entries()
        .expect("catalog")
        .iter()
        .filter(|e| e.pinned)
        .count()
}

#[tokio::test]
async fn w5_w6_c4_restore_reads_the_environment_from_the_backup_itself_and_refuses_other_ledgers() {
    let t = stores(10).await.remove(0);
    let s = t.settings();
    take(&t, Kind::Db).await.expect("first backup");
    let live = live_db(&t).expect("sqlite");
    t.store.close().await;
    let before = ledger_state(&live);

    // W5: a prod backup whose manifest was edited to say dev is refused in dev.
    let prod = other_store_backup(Environment::Prod, &s).await;
    let mut m = manifest_of(&prod);
    m.facts.environment = Some("dev".into());
    std::fs::write(
        format!("{}.manifest.json", prod.display()),
        serde_json::to_vec_pretty(&m).expect("json"),
    )
    .expect("edit");
    restore_refused(&t, &s, &prod, ["prod", "environment"], (&live, &before)).await;

    // W6: a dev backup of another ledger is refused without the flag...
    let other = other_store_backup(Environment::Dev, &s).await;
    restore_refused(
        &t,
        &s,
        &other,
        ["another ledger", "lineage"],
        (&live, &before),
    )
    .await;
    assert_eq!(
        safety_backups(&s),
        0,
        "no safety backup for a refused restore"
    );

    // C4: refused because the store is in use: nothing pinned is left behind.
    let busy = ledgerflow_db::open(&t.location, OpenMode::Existing)
        .await
        .expect("open");
    let _reader = busy.counts().await.expect("in use");
    let mut hold = hold_sqlite(&live);
    let err = ledgerflow_backup::restore(&t.location, &s, &other, None, &allow_other_lineage())
        .await
        .expect_err("in use");
    assert!(err.to_string().contains("in use"), "{err}");
    assert_eq!(
        safety_backups(&s),
        0,
        "a refused restore left a pinned safety backup"
    );
    let _ = hold.kill();
    let _ = hold.wait();
    busy.close().await;

    // ...and restores with it, after a pinned safety backup.
    let done = ledgerflow_backup::restore(&t.location, &s, &other, None, &allow_other_lineage())
        .await
        .expect("restored");
    assert!(done.safety_backup.is_some());
    assert_eq!(safety_backups(&s), 1);
}

/// Restoring `file` without flags is refused, the error naming one of `words`, and the ledger
/// in the SQLite file `live.0` still reads as `live.1`.
async fn restore_refused(
    t: &TestStore,
    s: &Settings,
    file: &Path,
    words: [&str; 2],
    live: (&Path, &str),
) {
    let err = ledgerflow_backup::restore(&t.location, s, file, None, &default_expect())
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(words.iter().any(|w| text.contains(w)), "{err}");
    assert_eq!(ledger_state(live.0), live.1);
}

/// What the ledger in a SQLite file holds, read by the standard tool.
fn ledger_state(db: &Path) -> String {
    raw::sqlite3_stdout(
        db,
        "SELECT count(*), sum(amount_minor) FROM transactions; SELECT seq, hex(hash) FROM journal_head; SELECT value FROM meta WHERE key = 'lineage_id';",
    )
}

/// Holds a read transaction open on a SQLite file from another connection (a running server).
fn hold_sqlite(path: &Path) -> std::process::Child {
    let mut child = std::process::Command::new("sqlite3")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("sqlite3");
    if let Some(stdin) = child.stdin.as_mut() {
        writeln!(stdin, "BEGIN; SELECT count(*) FROM transactions;").expect("write");
        stdin.flush().expect("flush");
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child
}

/// A backup killed mid-way leaves a work directory and a partial archive (hidden names, never
/// taken for backups); the next backup, holding the backup lock, removes them at once.
#[tokio::test]
async fn the_leftovers_of_a_killed_backup_go_with_the_next_backup() {
    let t = stores(10).await.remove(0);
    let s = t.settings();
    take(&t, Kind::Db).await.expect("first");
    let work = s.dir.join(".work-killed");
    std::fs::create_dir_all(&work).expect("work");
    std::fs::write(work.join("db.sqlite"), vec![0u8; 1 << 20]).expect("snapshot");
    let partial = s
        .dir
        .join(".ledgerflow_db_backup_20261202_000000.sqlite.zst.partial");
    std::fs::write(&partial, vec![1u8; 1 << 20]).expect("partial");
    // Someone else's hidden file is not a leftover of ours.
    let theirs = s.dir.join(".nas-metadata");
    std::fs::write(&theirs, b"keep").expect("theirs");
    take_verified(&t, Kind::Db).await;
    assert!(
        !work.exists(),
        "the killed backup's work directory is still there"
    );
    assert!(
        !partial.exists(),
        "the killed backup's partial archive is still there"
    );
    assert!(theirs.exists());
    t.store.close().await;
}
