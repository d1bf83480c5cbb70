use std::path::Path;
use std::process::{Command, Stdio};

use ledgerflow_backup::{BackupError, Kind, Settings};

use crate::*;

/// Verifying `archive` with the settings `with` cannot run (an environment error saying `why`),
/// and the backup's recorded state (listed with `s`) stays verified.
async fn verify_cannot_run(
    t: &TestStore,
    s: &Settings,
    with: &Settings,
    archive: &Path,
    why: &str,
) {
    let err = ledgerflow_backup::verify(&t.location, with, archive)
        .await
        .expect_err("verify cannot run");
    assert!(matches!(err, BackupError::Environment(_)), "{err}");
    assert!(err.to_string().contains(why), "{err}");
    assert!(ledgerflow_backup::list(s).expect("list")[0].verified);
}

/// A new age identity from the real `age-keygen`: its file and public key.
fn keygen(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    let st = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .expect("age-keygen runs (apt-get install age)");
    assert!(st.success());
    let text = std::fs::read_to_string(&key).expect("key file");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .to_string();
    (key, public)
}

fn encrypted(t: &TestStore, key: &Path, public: &str) -> Settings {
    Settings {
        encrypt_to: Some(public.to_string()),
        age_identity: Some(key.to_path_buf()),
        ..t.settings()
    }
}

#[tokio::test]
async fn an_encrypted_backup_is_verified_and_opens_with_age_and_zstd_alone() {
    for t in stores(400).await {
        let (key, public) = keygen(t.dir.path(), "key.txt");
        let s = encrypted(&t, &key, &public);
        for kind in [Kind::Db, Kind::Full] {
            let out = ledgerflow_backup::backup(t.store.as_ref(), &t.location, &s, kind, false)
                .await
                .expect("backup");
            assert!(out.verified, "{}: {}", t.name(), out.verification);
            let name = out.file.to_string_lossy().to_string();
            assert!(name.ends_with(".zst.age"), "{name}");
            let bytes = std::fs::read(&out.file).expect("archive");
            assert!(
                bytes.starts_with(b"age-encryption.org/v1"),
                "the archive is an age file"
            );
            let side: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(format!("{name}.manifest.json")).expect("sidecar"),
            )
            .expect("json");
            assert_eq!(side["encryption"], "age");
            assert_eq!(side["recipient"], public.as_str());
        }

        // LedgerFlow gone: age -d, zstd -d, then the engine's own tools.
        let db = ledgerflow_backup::list(&s)
            .expect("list")
            .into_iter()
            .find(|e| e.kind == "db")
            .expect("db backup");
        let archive = s.dir.join(&db.file);
        let raw = t.dir.path().join("restored");
        let sh = format!(
            "age -d -i '{}' '{}' | zstd -d -q -o '{}'",
            key.display(),
            archive.display(),
            raw.display()
        );
        let st = Command::new("bash")
            .args(["-o", "pipefail", "-c", &sh])
            .status()
            .expect("bash");
        assert!(st.success(), "{sh}");
        let sums = t.store.account_sums().await.expect("sums");
        let count = count_with_standard_tools(&t, &raw);
        assert!(
            count.contains(&format!("400|{}", sums[0].1)),
            "{}: {count}",
            t.name()
        );

        // Re-verified with the key; without it nothing is learnt and the state stays.
        let again = ledgerflow_backup::verify(&t.location, &s, &archive)
            .await
            .expect("verify");
        assert!(again.verified, "{}", again.verification);
        let keyless = Settings {
            age_identity: None,
            ..s.clone()
        };
        verify_cannot_run(&t, &s, &keyless, &archive, "age_identity_file").await;
        // The wrong key (rotated, mixed up): nothing learnt about the backup either.
        let (other, _) = keygen(t.dir.path(), "other.txt");
        let wrong = Settings {
            age_identity: Some(other),
            ..s.clone()
        };
        verify_cannot_run(&t, &s, &wrong, &archive, "does not open it").await;
        assert!(archive.exists(), "not renamed .failed");

        // A flipped byte in the ciphertext, with the manifest's hash forged to match: the
        // hash check passes and age's authentication refuses the file.
        let mut bytes = std::fs::read(&archive).expect("read");
        let at = bytes.len() - 40;
        bytes[at] ^= 1;
        std::fs::write(&archive, &bytes).expect("write");
        let sum = Command::new("sha256sum")
            .arg(&archive)
            .output()
            .expect("sha256sum");
        let sum = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .expect("sum")
            .to_string();
        let side = format!("{}.manifest.json", archive.display());
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&side).expect("sidecar")).expect("json");
        m["sha256"] = sum.into();
        std::fs::write(&side, m.to_string()).expect("forge");
        refused_by_verify(&t, &s, &archive, "decompression failed").await;
        t.store.close().await;
    }
}

#[tokio::test]
async fn encryption_is_refused_without_the_matching_key_before_anything_is_written() {
    for t in stores(50).await {
        let (key, public) = keygen(t.dir.path(), "key.txt");
        let (other, _) = keygen(t.dir.path(), "other.txt");
        let cases = [
            (
                Settings {
                    age_identity: None,
                    ..encrypted(&t, &key, &public)
                },
                "cannot be proven by a restore without the key",
            ),
            (encrypted(&t, &other, &public), "is not the key of"),
            (
                encrypted(&t, &key, "age1notarecipient"),
                "is not an age recipient",
            ),
        ];
        for (s, says) in cases {
            let err = ledgerflow_backup::backup(t.store.as_ref(), &t.location, &s, Kind::Db, false)
                .await
                .expect_err("refused");
            assert!(err.to_string().contains(says), "{err}");
            assert!(
                backup_files(&s.dir).is_empty(),
                "{:?}",
                backup_files(&s.dir)
            );
        }
        t.store.close().await;
    }
}
