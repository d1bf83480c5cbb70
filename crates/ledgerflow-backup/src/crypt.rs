//! Optional age encryption of archives (`backup.encrypt_to`). The archive is compressed, then
//! encrypted to one X25519 recipient in the standard age format, so `age -d -i key.txt` opens it
//! without LedgerFlow. A backup counts only once a restore has proven it, so the identity that
//! decrypts it (`backup.age_identity_file`) must be at hand and must match the recipient.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::str::FromStr;

use crate::{BackupError, Failure, Settings};

/// The recipient archives are encrypted to, checked against the identity that verifies them.
pub(crate) fn recipient(
    settings: &Settings,
) -> Result<Option<age::x25519::Recipient>, BackupError> {
    let Some(text) = settings.encrypt_to.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let recipient = age::x25519::Recipient::from_str(text.trim()).map_err(|e| {
        BackupError::Refused(format!("\"{text}\" is not an age recipient (age1…): {e}"))
    })?;
    let Some(key_file) = &settings.age_identity else {
        return Err(BackupError::Refused(format!(
            "backups encrypted to {text} cannot be proven by a restore without the key: set backup.age_identity_file to the identity file (age-keygen -o key.txt) that decrypts them"
        )));
    };
    let identities = x25519_identities(key_file)?;
    if !identities
        .iter()
        .any(|i| i.to_public().to_string() == recipient.to_string())
    {
        return Err(BackupError::Refused(format!(
            "the identity in {} is not the key of {text}: those backups could not be decrypted",
            key_file.display()
        )));
    }
    Ok(Some(recipient))
}

fn x25519_identities(path: &Path) -> Result<Vec<age::x25519::Identity>, BackupError> {
    let file = std::fs::File::open(path).map_err(|e| BackupError::io(path, e))?;
    let mut found = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| BackupError::io(path, e))?;
        let line = line.trim();
        if line.starts_with("AGE-SECRET-KEY-") {
            let id = age::x25519::Identity::from_str(line).map_err(|e| {
                BackupError::Refused(format!("{}: not an age identity: {e}", path.display()))
            })?;
            found.push(id);
        }
    }
    if found.is_empty() {
        return Err(BackupError::Refused(format!(
            "{} holds no age identity (AGE-SECRET-KEY-…)",
            path.display()
        )));
    }
    Ok(found)
}

/// Where the compressed bytes go: the file itself, or an age stream in front of it.
pub(crate) enum Sink<W: Write> {
    Plain(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Sink<W> {
    pub(crate) fn new(out: W, to: Option<&age::x25519::Recipient>) -> std::io::Result<Self> {
        Ok(match to {
            None => Sink::Plain(out),
            Some(r) => {
                let enc =
                    age::Encryptor::with_recipients(std::iter::once(r as &dyn age::Recipient))
                        .map_err(std::io::Error::other)?;
                Sink::Age(enc.wrap_output(out)?)
            }
        })
    }

    pub(crate) fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(_) => Ok(()),
            Sink::Age(w) => w.finish().map(|_| ()),
        }
    }
}

impl<W: Write> Sink<W> {
    /// Where the bytes go: the file itself, or the age stream in front of it.
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Age(w) => w,
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer().flush()
    }
}

/// The archive's bytes after decryption (when it was encrypted).
pub(crate) fn open(
    path: &Path,
    encryption: Option<&str>,
    identity: Option<&Path>,
) -> Result<Box<dyn Read>, Failure> {
    let bad = |e: &dyn std::fmt::Display| Failure::Archive(format!("decompression failed: {e}"));
    let file = BufReader::new(std::fs::File::open(path).map_err(|e| bad(&e))?);
    match encryption {
        None => Ok(Box::new(file)),
        Some("age") => {
            // A missing or wrong key is this machine's problem, not the archive's.
            let key = identity.ok_or_else(|| {
                Failure::Here(
                    "it is encrypted with age: set backup.age_identity_file to decrypt it".into(),
                )
            })?;
            let ids = x25519_identities(key).map_err(|e| Failure::Here(e.to_string()))?;
            let dec = age::Decryptor::new_buffered(file).map_err(|e| bad(&e))?;
            let reader = dec
                .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
                .map_err(|e| match e {
                    age::DecryptError::NoMatchingKeys => Failure::Here(format!(
                        "the key in {} does not open it (age: {e})",
                        key.display()
                    )),
                    e => bad(&format!("age decryption failed: {e}")),
                })?;
            Ok(Box::new(reader))
        }
        Some(other) => Err(bad(&format!("unknown encryption \"{other}\""))),
    }
}
