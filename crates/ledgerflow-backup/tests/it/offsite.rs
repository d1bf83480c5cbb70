use ledgerflow_backup::{Destination, Kind, S3Destination, Settings};
use ledgerflow_test_support::http::{Damage, FaultyS3, Moto, Webhook};

use crate::*;

fn s3(t: &TestStore, endpoint: &str, url: &str) -> Destination {
    let secret = t.dir.path().join("s3-secret");
    std::fs::write(&secret, "test-secret\n").expect("secret");
    Destination::S3(S3Destination {
        url: url.into(),
        endpoint: endpoint.into(),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key_file: secret.display().to_string(),
    })
}

fn with(t: &TestStore, name: &str, dest: Destination, hook: &Webhook) -> Settings {
    Settings {
        destinations: [(name.to_string(), dest)].into(),
        alert_webhook: Some(hook.url.clone()),
        ..t.settings()
    }
}

/// Copies `out` to the one destination `name`, at `url` on the S3 service at `endpoint`, alerts
/// going to `hook`: the copy must fail. Returns the settings and the error's text.
async fn failed_copy(
    t: &TestStore,
    hook: &Webhook,
    out: &ledgerflow_backup::Outcome,
    name: &str,
    endpoint: &str,
    url: &str,
) -> (Settings, String) {
    let s = with(t, name, s3(t, endpoint, url), hook);
    let err = ledgerflow_backup::copy_to(&s, out, name)
        .await
        .expect_err("the copy fails");
    (s, err.to_string())
}

fn file_name(o: &ledgerflow_backup::Outcome) -> String {
    o.file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .expect("name")
}

#[tokio::test]
async fn a_backup_is_copied_to_s3_and_read_back_before_it_counts() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("ledger-backups");
    for t in stores(300).await {
        let hook = Webhook::start();
        let prefix = format!("{}/hourly", t.name());
        let dest = s3(&t, &moto.endpoint, &format!("s3://ledger-backups/{prefix}"));
        let s = with(&t, "offsite", dest, &hook);
        let out = ledgerflow_backup::backup(t.store.as_ref(), &t.location, &s, Kind::Db, false)
            .await
            .expect("backup");
        assert!(out.verified, "{}", out.verification);
        let copied = ledgerflow_backup::copy_to_destinations(&s, &out)
            .await
            .expect("copied");
        assert_eq!(copied, vec!["offsite"]);
        let name = file_name(&out);
        let there = moto
            .get("ledger-backups", &format!("{prefix}/{name}"))
            .expect("object in the bucket");
        assert_eq!(there, std::fs::read(&out.file).expect("archive"));
        let manifest = moto
            .get("ledger-backups", &format!("{prefix}/{name}.manifest.json"))
            .expect("manifest in the bucket");
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("json");
        assert_eq!(manifest["facts"]["counts"]["transactions"], 300);
        assert_eq!(
            ledgerflow_backup::list(&s).expect("list")[0].copies,
            vec!["offsite"]
        );
        // Copying again finds the same bytes there and succeeds without replacing them.
        ledgerflow_backup::copy_to(&s, &out, "offsite")
            .await
            .expect("again");
        assert!(hook.events().is_empty(), "{:?}", hook.received());

        // A missing bucket is a clear failure and an alert.
        let (_, err) = failed_copy(
            &t,
            &hook,
            &out,
            "gone",
            &moto.endpoint,
            "s3://no-such-bucket",
        )
        .await;
        assert!(err.contains("no-such-bucket"), "{err}");
        assert_eq!(hook.events(), vec!["copy_failed"]);
        t.store.close().await;
    }
}

#[tokio::test]
async fn a_destination_that_keeps_an_empty_or_cut_file_is_reported_failed_at_once() {
    for t in stores(300).await {
        let out = take_verified(&t, Kind::Db).await;
        let name = file_name(&out);
        for (damage, says) in [(Damage::Empty, "emptied"), (Damage::Truncate, "cut")] {
            let hook = Webhook::start();
            let faulty = FaultyS3::start(damage);
            let (s, text) = failed_copy(
                &t,
                &hook,
                &out,
                "cloud",
                &faulty.endpoint,
                "s3://bucket/ledger",
            )
            .await;
            assert!(
                text.contains(says) && text.contains("reads back as"),
                "{text}"
            );
            // The damaged object is removed, the catalog records no copy, and an alert went out.
            assert!(
                faulty.objects().iter().all(|(k, _)| !k.contains(&name)),
                "{:?}",
                faulty.objects()
            );
            let entry = &ledgerflow_backup::list(&s).expect("list")[0];
            assert!(entry.copies.is_empty(), "{:?}", entry.copies);
            assert!(entry.verified, "the local backup stays good");
            let got = hook.received();
            assert_eq!(got.len(), 1, "{got:?}");
            assert_eq!(got[0]["event"], "copy_failed");
            assert_eq!(got[0]["file"], name.as_str());
            assert!(
                got[0]["message"].as_str().unwrap_or("").contains(says),
                "{got:?}"
            );
        }
        t.store.close().await;
    }
}

#[tokio::test]
async fn failed_backups_and_verifications_raise_an_alert_and_keep_the_last_good_backup() {
    for t in stores(300).await {
        let hook = Webhook::start();
        let s = Settings {
            alert_webhook: Some(hook.url.clone()),
            ..t.settings()
        };
        let good = ledgerflow_backup::backup(t.store.as_ref(), &t.location, &s, Kind::Db, false)
            .await
            .expect("backup");
        assert!(good.verified);
        assert!(hook.events().is_empty());
        // Below the minimum size: fails, and says so to the webhook.
        let strict = Settings {
            min_size: 1 << 40,
            ..s.clone()
        };
        let bad =
            ledgerflow_backup::backup(t.store.as_ref(), &t.location, &strict, Kind::Db, false)
                .await
                .expect("backup runs");
        assert!(!bad.verified);
        let got = hook.received();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["event"], "backup_failed");
        assert!(
            got[0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("min_size"),
            "{got:?}"
        );
        assert!(got[0]["host"].is_string() && got[0]["at"].is_string());
        // A flipped byte found by a later verify.
        let mut bytes = std::fs::read(&good.file).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x10;
        std::fs::write(&good.file, &bytes).expect("write");
        refused_by_verify(&t, &s, &good.file, "").await;
        assert_eq!(hook.events(), vec!["backup_failed", "verify_failed"]);
        t.store.close().await;
    }
}
