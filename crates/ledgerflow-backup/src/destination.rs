//! Off-site copies of verified backups: a directory (a mounted NAS, a cloud-synced folder) or an
//! S3-compatible bucket. Every copy is read back and compared with the manifest (size and
//! SHA-256) before the catalog records it: a destination that keeps an empty or cut file is
//! reported failed at once, and the bad copy is not left looking finished.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use object_store::ObjectStoreExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::info;

use crate::catalog::Catalog;
use crate::manifest::Manifest;
use crate::{BackupError, Outcome, Settings, hash_file, read_manifest, write_atomic};

/// One off-site destination, as configured under `backup.destinations.NAME`: a path, or a
/// table for S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Destination {
    Dir(PathBuf),
    S3(S3Destination),
}

/// An S3-compatible bucket. The secret key never sits in the configuration: it comes from
/// `secret_access_key_file` or from `AWS_SECRET_ACCESS_KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Destination {
    /// `s3://bucket` or `s3://bucket/prefix`.
    pub url: String,
    /// The service's address for S3-compatible stores (`https://…`); empty for AWS. Plain
    /// `http://` is accepted on loopback only.
    #[serde(default)]
    pub endpoint: String,
    /// Empty: `AWS_REGION`, else us-east-1.
    #[serde(default)]
    pub region: String,
    /// Empty: `AWS_ACCESS_KEY_ID`.
    #[serde(default)]
    pub access_key_id: String,
    /// A file holding the secret key; empty: `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub secret_access_key_file: String,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Dir(p) => write!(f, "{}", p.display()),
            Destination::S3(s) => write!(f, "{}", s.url),
        }
    }
}

/// Above this size an upload goes in parts instead of one request.
const SINGLE_PUT_MAX: u64 = 16 << 20;
const PART_SIZE: usize = 8 << 20;

impl S3Destination {
    fn bucket_and_prefix(&self) -> Result<(String, String), BackupError> {
        let rest = self.url.strip_prefix("s3://").ok_or_else(|| {
            BackupError::Refused(format!(
                "S3 destination url \"{}\" must look like s3://bucket/prefix",
                self.url
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BackupError::Refused(format!(
                "S3 destination url \"{}\" names no bucket",
                self.url
            )));
        }
        Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
    }

    fn client(&self) -> Result<(AmazonS3, String), BackupError> {
        crate::alert::install_tls();
        let (bucket, prefix) = self.bucket_and_prefix()?;
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        if !self.endpoint.is_empty() {
            if self.endpoint.starts_with("http://") {
                if !is_loopback_url(&self.endpoint) {
                    return Err(BackupError::Refused(format!(
                        "S3 endpoint {} is plain http: use https (http is accepted on loopback only)",
                        self.endpoint
                    )));
                }
                b = b.with_allow_http(true);
            }
            b = b
                .with_endpoint(&self.endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if !self.region.is_empty() {
            b = b.with_region(&self.region);
        } else if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            b = b.with_region("us-east-1");
        }
        if !self.access_key_id.is_empty() {
            b = b.with_access_key_id(&self.access_key_id);
        }
        if !self.secret_access_key_file.is_empty() {
            let path = Path::new(&self.secret_access_key_file);
            let secret = std::fs::read_to_string(path).map_err(|e| BackupError::io(path, e))?;
            b = b.with_secret_access_key(secret.trim());
        }
        let client = b
            .build()
            .map_err(|e| BackupError::Refused(format!("S3 destination {}: {e}", self.url)))?;
        Ok((client, prefix))
    }
}

fn is_loopback_url(url: &str) -> bool {
    let host = url
        .trim_start_matches("http://")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "localhost" | "[::1]")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Copies a verified backup (and its manifest) to every configured destination.
pub async fn copy_to_destinations(
    settings: &Settings,
    outcome: &Outcome,
) -> Result<Vec<String>, BackupError> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for name in settings.destinations.keys() {
        match copy_to(settings, outcome, name).await {
            Ok(()) => done.push(name.clone()),
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(done)
    } else {
        Err(BackupError::Refused(format!(
            "off-site copies failed: {}",
            failed.join("; ")
        )))
    }
}

/// Copies a verified backup to the destination `name`, reads it back and compares it with the
/// manifest, then records the copy in the catalog. A failure raises an alert.
pub async fn copy_to(
    settings: &Settings,
    outcome: &Outcome,
    name: &str,
) -> Result<(), BackupError> {
    let result = copy_checked(settings, outcome, name).await;
    if let Err(e) = &result {
        crate::alert::send(
            settings,
            crate::alert::Alert::new(
                "copy_failed",
                format!(
                    "the off-site copy of {} to \"{name}\" failed: {e}",
                    outcome.file.display()
                ),
            )
            .file(&outcome.file),
        )
        .await;
    }
    result
}

async fn copy_checked(
    settings: &Settings,
    outcome: &Outcome,
    name: &str,
) -> Result<(), BackupError> {
    let dest = settings.destinations.get(name).ok_or_else(|| {
        BackupError::NotFound(format!(
            "no backup destination \"{name}\" (configure backup.destinations.{name} = \"/path\")"
        ))
    })?;
    outcome.verified_or(|o| {
        format!(
            "{} is not verified: it is not copied off-site",
            o.file.display()
        )
    })?;
    let file_name = outcome
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BackupError::NotFound(outcome.file.display().to_string()))?
        .to_string();
    let manifest = read_manifest(&outcome.file)?;
    match dest {
        Destination::Dir(dir) => {
            let (dir, src, m) = (dir.clone(), outcome.file.clone(), manifest.clone());
            let name = file_name.clone();
            tokio::task::spawn_blocking(move || copy_to_dir(&dir, &src, &name, &m))
                .await
                .map_err(|e| BackupError::Io(format!("the copy task failed: {e}")))??;
        }
        Destination::S3(s3) => copy_to_s3(s3, &outcome.file, &file_name, &manifest).await?,
    }
    let catalog = Catalog::at(&settings.dir);
    if let Some(mut e) = catalog.entries()?.into_iter().find(|e| e.file == file_name) {
        if !e.copies.iter().any(|c| c == name) {
            e.copies.push(name.to_string());
        }
        catalog.record(&e)?;
    }
    info!(file = %file_name, destination = %name, "copied off-site and read back");
    Ok(())
}

/// Written through a temporary name, fsynced, renamed, then read back.
fn copy_to_dir(dest: &Path, src: &Path, file_name: &str, m: &Manifest) -> Result<(), BackupError> {
    std::fs::create_dir_all(dest).map_err(|e| BackupError::io(dest, e))?;
    let target = dest.join(file_name);
    if target.exists() {
        let (_, there) = hash_file(&target).map_err(|e| BackupError::io(&target, e))?;
        if Some(&there) != m.sha256.as_ref() {
            return Err(another_file(&dest.display().to_string(), file_name));
        }
    }
    // A copy killed mid-write leaves its temporary file: it would block every later copy.
    let partial = dest.join(format!(".{file_name}.partial"));
    if partial.exists() {
        std::fs::remove_file(&partial).map_err(|e| BackupError::io(&partial, e))?;
    }
    write_atomic(&target, |out| {
        std::io::copy(&mut File::open(src)?, out).map(|_| ())
    })?;
    let (size, sha) = hash_file(&target).map_err(|e| BackupError::io(&target, e))?;
    if let Err(e) = compare(&dest.display().to_string(), size, &sha, m) {
        let _ = std::fs::rename(&target, dest.join(format!("{file_name}.failed")));
        return Err(e);
    }
    let json = serde_json::to_vec_pretty(m).map_err(|e| BackupError::Io(e.to_string()))?;
    crate::write_atomic_replace(&dest.join(format!("{file_name}.manifest.json")), &json)
}

fn another_file(dest: &str, file_name: &str) -> BackupError {
    BackupError::Refused(format!(
        "{dest} already holds another file named {file_name} (another LedgerFlow writing there?): not replaced"
    ))
}

/// The copy read back must have the manifest's size and SHA-256.
fn compare(dest: &str, size: u64, sha: &str, m: &Manifest) -> Result<(), BackupError> {
    let want = m.size.unwrap_or(0);
    if size != want {
        return Err(BackupError::Refused(format!(
            "the copy in {dest} reads back as {size} bytes, not {want}: the destination {} it",
            if size == 0 { "emptied" } else { "cut" }
        )));
    }
    if Some(sha) != m.sha256.as_deref() {
        return Err(BackupError::Refused(format!(
            "the copy in {dest} reads back with another SHA-256: the destination damaged it"
        )));
    }
    Ok(())
}

async fn copy_to_s3(
    s3: &S3Destination,
    src: &Path,
    file_name: &str,
    m: &Manifest,
) -> Result<(), BackupError> {
    let (client, prefix) = s3.client()?;
    let key = |name: &str| {
        if prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{prefix}/{name}"))
        }
    };
    let object = key(file_name);
    let url = format!("s3://{}/{object}", s3.bucket_and_prefix()?.0);
    let s3_err = |e: object_store::Error| BackupError::Refused(format!("{url}: {e}"));
    match client.head(&object).await {
        Ok(_) => {
            let (size, sha) = read_back(&client, &object).await.map_err(s3_err)?;
            if compare(&url, size, &sha, m).is_err() {
                return Err(another_file(&url, file_name));
            }
            // The same backup is already there, whole.
        }
        Err(object_store::Error::NotFound { .. }) => {
            upload(&client, &object, src, m.size.unwrap_or(0))
                .await
                .map_err(|e| match e {
                    Upload::Io(e) => BackupError::io(src, e),
                    Upload::Store(e) => s3_err(e),
                })?;
            let (size, sha) = read_back(&client, &object).await.map_err(s3_err)?;
            if let Err(e) = compare(&url, size, &sha, m) {
                // A damaged copy must not stay looking like a backup.
                let _ = client.delete(&object).await;
                return Err(e);
            }
        }
        Err(e) => return Err(s3_err(e)),
    }
    let json = serde_json::to_vec_pretty(m).map_err(|e| BackupError::Io(e.to_string()))?;
    client
        .put(&key(&format!("{file_name}.manifest.json")), json.into())
        .await
        .map_err(s3_err)?;
    Ok(())
}

enum Upload {
    Io(std::io::Error),
    Store(object_store::Error),
}

async fn upload(
    client: &AmazonS3,
    object: &ObjectPath,
    src: &Path,
    size: u64,
) -> Result<(), Upload> {
    if size <= SINGLE_PUT_MAX {
        let bytes = tokio::fs::read(src).await.map_err(Upload::Io)?;
        client
            .put(object, bytes.into())
            .await
            .map_err(Upload::Store)?;
        return Ok(());
    }
    let mut parts = object_store::WriteMultipart::new_with_chunk_size(
        client.put_multipart(object).await.map_err(Upload::Store)?,
        PART_SIZE,
    );
    let mut file = File::open(src).map_err(Upload::Io)?;
    let mut buf = vec![0u8; PART_SIZE];
    loop {
        let n = file.read(&mut buf).map_err(Upload::Io)?;
        if n == 0 {
            break;
        }
        parts.wait_for_capacity(4).await.map_err(Upload::Store)?;
        parts.write(&buf[..n]);
    }
    parts.finish().await.map_err(Upload::Store)?;
    Ok(())
}

/// Size and SHA-256 of the object as the service returns it.
async fn read_back(
    client: &AmazonS3,
    object: &ObjectPath,
) -> Result<(u64, String), object_store::Error> {
    let mut stream = client.get(object).await?.into_stream();
    let mut h = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        h.update(&chunk);
        size += chunk.len() as u64;
    }
    Ok((size, hex::encode(h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_from_a_path_or_a_table() {
        let d: std::collections::BTreeMap<String, Destination> = serde_json::from_str(
            r#"{"nas": "/mnt/nas", "s3": {"url": "s3://bucket/ledger", "endpoint": "http://127.0.0.1:9000"}}"#,
        )
        .expect("parse");
        assert_eq!(d["nas"], Destination::Dir("/mnt/nas".into()));
        let Destination::S3(s3) = &d["s3"] else {
            panic!("not s3: {:?}", d["s3"]);
        };
        assert_eq!(
            s3.bucket_and_prefix().expect("url"),
            ("bucket".to_string(), "ledger".to_string())
        );
        assert!(is_loopback_url("http://127.0.0.1:9000"));
        assert!(is_loopback_url("http://localhost/x"));
        assert!(!is_loopback_url("http://backup.example.com:9000"));
        assert!(!is_loopback_url("http://127.0.0.1.evil.example:9000"));
        let far = S3Destination {
            url: "s3://b".into(),
            endpoint: "http://backup.example.com".into(),
            region: String::new(),
            access_key_id: String::new(),
            secret_access_key_file: String::new(),
        };
        let err = far.client().expect_err("plain http off loopback");
        assert!(err.to_string().contains("use https"), "{err}");
        let bad = S3Destination {
            url: "bucket/x".into(),
            ..far
        };
        assert!(bad.bucket_and_prefix().is_err());
    }
}
