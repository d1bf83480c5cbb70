//! Archives: the compressing (and optionally encrypting) writer, and the checks that read an
//! archive back: L0 size, L1 SHA-256, L2 full decompression with every member's hash.
//!
//! An archive and its manifest come from the backup directory, which is hostile ground. So
//! unpacking never trusts them: the manifest is checked first (member names from a fixed set,
//! see [`Manifest::check`]); members are written only into the fresh private directory the
//! caller made, with `create_new` (a planted symlink is never followed); a tar entry must be a
//! regular file named exactly like a member, once; and no member may inflate beyond the size its
//! manifest lists, nor all of them beyond the free space where they are unpacked.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::fsx::{Hashing, free_space, hash_file};
use crate::manifest::{MAX_MANIFEST, Manifest, Member};
use crate::{Compression, Settings, crypt};

/// Why an archive check failed: the archive itself, or this machine (a full disk where it is
/// unpacked), which says nothing about the archive.
#[derive(Debug)]
pub(crate) enum Failure {
    Archive(String),
    Here(String),
}

impl From<String> for Failure {
    fn from(s: String) -> Failure {
        Failure::Archive(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Failure {
        Failure::Archive(s.to_string())
    }
}

impl Failure {
    pub(crate) fn reason(self) -> String {
        match self {
            Failure::Archive(s) => s,
            Failure::Here(s) => format!("it could not be checked here: {s}"),
        }
    }
}

type Out<'a> = crypt::Sink<&'a mut Hashing<BufWriter<File>>>;

/// Compression, then (optionally) age encryption, then the hashing file writer.
pub(crate) enum Encoder<'a> {
    Zstd(zstd::stream::write::Encoder<'static, Out<'a>>),
    Gzip(flate2::write::GzEncoder<Out<'a>>),
}

impl<'a> Encoder<'a> {
    pub(crate) fn new(
        out: &'a mut Hashing<BufWriter<File>>,
        c: Compression,
        to: Option<&age::x25519::Recipient>,
    ) -> std::io::Result<Self> {
        let out = crypt::Sink::new(out, to)?;
        Ok(match c {
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(out, 3)?),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
        })
    }
    pub(crate) fn finish(self) -> std::io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.finish()?.finish(),
            Encoder::Gzip(e) => e.finish()?.finish(),
        }
    }
}

impl Write for Encoder<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
        }
    }
}

/// The archive's decompressed bytes (decrypted first when it is encrypted).
fn decoder(path: &Path, m: &Manifest, identity: Option<&Path>) -> Result<Box<dyn Read>, Failure> {
    let file = BufReader::new(crypt::open(path, m.encryption.as_deref(), identity)?);
    let bad = |e: String| Failure::Archive(format!("decompression failed: {e}"));
    match m.compression.as_str() {
        "zstd" => Ok(Box::new(
            zstd::stream::read::Decoder::new(file).map_err(|e| bad(e.to_string()))?,
        )),
        "gzip" => Ok(Box::new(flate2::read::GzDecoder::new(file))),
        other => Err(bad(format!("unknown compression \"{other}\""))),
    }
}

/// L0 (size), L1 (hash read back from disk) and L2 (full decompression, members' hashes).
/// `recent` are the sizes of recent verified backups of the same series (empty: no size-ratio
/// check).
/// L0 and L1: the archive's size (not empty, as written, not below the minimum, not suspiciously
/// smaller than recent verified backups) and its SHA-256 read back. Returns its size.
fn check_file(
    path: &Path,
    m: &Manifest,
    settings: &Settings,
    recent: &[u64],
) -> Result<u64, Failure> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size == 0 {
        return Err("the file is empty (0 bytes)".into());
    }
    if Some(size) != m.size {
        return Err(format!(
            "the file has {size} bytes but {} were written",
            m.size.unwrap_or(0)
        )
        .into());
    }
    if size < settings.min_size {
        return Err(format!(
            "{size} bytes is below the minimum of {} (backup.min_size)",
            settings.min_size
        )
        .into());
    }
    if let Some(median) = recent.get(recent.len() / 2)
        && settings.size_ratio > 0.0
        && (size as f64) < settings.size_ratio * (*median as f64)
    {
        return Err(format!(
            "{size} bytes is suspiciously small next to recent verified backups (median {median} bytes; backup.size_ratio {})",
            settings.size_ratio
        ).into());
    }
    let (_, sha) = hash_file(path).map_err(|e| format!("reading it back failed: {e}"))?;
    if Some(&sha) != m.sha256.as_ref() {
        return Err(
            "its SHA-256 read back from disk differs from the one written (bit rot or a cut copy)"
                .into(),
        );
    }
    Ok(size)
}

/// L0–L2 of a db archive just written from a snapshot whose size and CRC-32 were taken as it
/// was compressed: the archive decompresses in full to exactly those bytes (size and CRC-32),
/// and the snapshot's SH-256 for the manifest is computed from what it decompresses to (one
/// SHA-256 pass instead of two). Returns what was checked and that SHA-256.
pub(crate) fn check_fresh_archive(
    path: &Path,
    m: &Manifest,
    settings: &Settings,
    recent: &[u64],
    crc: u32,
) -> Result<(String, String), Failure> {
    let size = check_file(path, m, settings, recent)?;
    let want = m
        .members
        .first()
        .ok_or_else(|| "the manifest lists no members".to_string())?;
    let mut reader = decoder(path, m, settings.age_identity.as_deref())?.take(want.size + 1);
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    let mut c = crc32fast::Hasher::new();
    let total = for_each_chunk(&mut reader, |_, chunk| {
        sha2::Digest::update(&mut h, chunk);
        c.update(chunk);
        Ok(())
    })?;
    if total != want.size || c.finalize() != crc {
        return Err(Failure::Archive(format!(
            "{} decompresses to {total} bytes that are not the snapshot's",
            want.name
        )));
    }
    Ok((
        format!(
            "size {size} bytes, SHA-256 read back, decompressed in full to the snapshot's exact bytes"
        ),
        hex::encode(sha2::Digest::finalize(h)),
    ))
}

pub(crate) fn check_archive(
    path: &Path,
    m: &Manifest,
    settings: &Settings,
    recent: &[u64],
) -> Result<String, Failure> {
    let size = check_file(path, m, settings, recent)?;
    unpack(path, m, settings.age_identity.as_deref(), None)?;
    Ok(archive_checked(size))
}

/// L0–L2 of a stored archive ([`check_archive`]) in the one pass that unpacks it into `into` (a
/// fresh, private, empty directory the caller made): returns what was checked and the database
/// snapshot's path there.
pub(crate) fn check_and_extract(
    path: &Path,
    m: &Manifest,
    settings: &Settings,
    into: &Path,
) -> Result<(String, PathBuf), Failure> {
    let size = check_file(path, m, settings, &[])?;
    let member = extract_member(path, m, settings.age_identity.as_deref(), into)?;
    Ok((archive_checked(size), member))
}

fn archive_checked(size: u64) -> String {
    format!(
        "size {size} bytes, SHA-256 read back, decompressed in full with every member's hash matching"
    )
}

/// Decompresses the archive into `into` (a fresh, private, empty directory the caller made) and
/// returns the database snapshot inside it, every member's size and hash checked against the
/// manifest.
pub(crate) fn extract_member(
    path: &Path,
    m: &Manifest,
    identity: Option<&Path>,
    into: &Path,
) -> Result<PathBuf, Failure> {
    unpack(path, m, identity, Some(into))?.ok_or_else(|| Failure::Archive("no member".into()))
}

/// Decompresses the archive, checking every member's size and hash against the manifest as it
/// streams; with `into`, the members are written there too (and the snapshot's path returned),
/// without it nothing is written (a verification).
fn unpack(
    path: &Path,
    m: &Manifest,
    identity: Option<&Path>,
    into: Option<&Path>,
) -> Result<Option<PathBuf>, Failure> {
    // Names, kinds and sizes are checked before a byte is written.
    m.check_members().map_err(Failure::Archive)?;
    let db = m
        .members
        .first()
        .ok_or_else(|| "the manifest lists no members".to_string())?;
    let needed: u64 = m.members.iter().map(|x| x.size).sum();
    if let Some(into) = into
        && let Some(free) = free_space(into)
        && needed.saturating_add(needed / 20 + (1 << 20)) > free
    {
        return Err(Failure::Here(format!(
            "unpacking it needs {needed} bytes but {} has {free} free",
            into.display()
        )));
    }
    let out = into.map(|d| d.join(&db.name));
    let mut reader = decoder(path, m, identity)?;
    if m.kind == "full" {
        let bad = |e: std::io::Error| Failure::Archive(format!("decompression failed: {e}"));
        let mut archive = tar::Archive::new(reader);
        let mut seen: Vec<&str> = Vec::new();
        let mut inner_manifest = false;
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).to_string();
            if !entry.header().entry_type().is_file() {
                return Err(format!(
                    "the archive holds {} that is not a regular file (a link or a directory): refused",
                    crate::fsx::printable(&name, 120)
                )
                .into());
            }
            if name == "manifest.json" {
                if inner_manifest {
                    return Err("the archive holds two manifest.json members".into());
                }
                inner_manifest = true;
                same_inner_manifest(&mut entry, m)?;
                continue;
            }
            let Some(want) = m.members.iter().find(|x| x.name == name) else {
                return Err(format!(
                    "the archive holds an unexpected member {}",
                    crate::fsx::printable(&name, 120)
                )
                .into());
            };
            if seen.contains(&want.name.as_str()) {
                return Err(format!("the archive holds {} twice", want.name).into());
            }
            seen.push(&want.name);
            let target = into.map(|d| d.join(&want.name));
            copy_out(&mut entry, target.as_deref(), want)?;
        }
        if seen.len() != m.members.len() {
            return Err("the archive is missing members the manifest lists".into());
        }
    } else {
        copy_out(&mut reader, out.as_deref(), db)?;
    }
    Ok(out)
}

/// The manifest inside a full archive must say what the one beside it says.
fn same_inner_manifest(from: &mut impl Read, m: &Manifest) -> Result<(), Failure> {
    let mut bytes = Vec::new();
    from.take(MAX_MANIFEST + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Archive(format!("decompression failed: {e}")))?;
    let inner: Manifest = serde_json::from_slice(&bytes)
        .ok()
        .filter(|_| bytes.len() as u64 <= MAX_MANIFEST)
        .ok_or_else(|| "the manifest inside the archive cannot be read".to_string())?;
    if inner.file != m.file
        || inner.kind != m.kind
        || inner.engine != m.engine
        || inner.facts != m.facts
        || inner.members != m.members
    {
        return Err("the manifest inside the archive differs from the one beside it".into());
    }
    Ok(())
}

/// Copies what the archive yields into `to` (which must not exist; `None`: nowhere), hashing it
/// as it goes, stopping as soon as it yields more than the member's size, and compares size and
/// hash with the manifest's: a read error, excess or difference is the archive's, a write error
/// (a full disk) is this machine's.
fn copy_out(from: &mut impl Read, to: Option<&Path>, want: &Member) -> Result<(), Failure> {
    let here = |e: std::io::Error| {
        Failure::Here(format!(
            "{}: {e}",
            to.map(|p| p.display().to_string()).unwrap_or_default()
        ))
    };
    let mut file = match to {
        Some(to) => Some(BufWriter::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(to)
                .map_err(here)?,
        )),
        None => None,
    };
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    let limited = from.take(want.size.saturating_add(1));
    let total = for_each_chunk(limited, |total, chunk| {
        if total > want.size {
            return Err(Failure::Archive(format!(
                "{} inflates beyond the {} bytes its manifest lists: refused",
                want.name, want.size
            )));
        }
        sha2::Digest::update(&mut h, chunk);
        if let Some(f) = file.as_mut() {
            f.write_all(chunk).map_err(here)?;
        }
        Ok(())
    })?;
    if let Some(mut f) = file {
        f.flush().map_err(here)?;
    }
    let sha = hex::encode(sha2::Digest::finalize(h));
    if total != want.size || sha != want.sha256 {
        return Err(Failure::Archive(format!(
            "{} decompresses to {total} bytes with another hash than the manifest's",
            want.name
        )));
    }
    Ok(())
}

/// Reads `reader` to its end in 64 KiB chunks, handing `each` the total so far and the chunk;
/// returns the total.
fn for_each_chunk(
    mut reader: impl Read,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), Failure>,
) -> Result<u64, Failure> {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| Failure::Archive(format!("decompression failed: {e}")))?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        each(total, &buf[..n])?;
    }
}
