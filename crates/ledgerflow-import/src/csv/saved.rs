//! The user's saved CSV profiles (`import-profiles/NAME.toml` in the data directory) and the
//! profile remembered for each account (`import-profiles/by-account/ID`, holding a name).
//!
//! Both are files the user (or a sync tool) may have touched: a name is a plain name before it
//! becomes a path, only regular files are read (a symlink, a FIFO or a directory is refused),
//! and sizes are bounded. Writes go to a temporary name, are synced, then renamed.

use std::path::{Path, PathBuf};

use crate::files::{read_small, write_whole};

use super::profile::Profile;

/// The largest profile file read.
const MAX_PROFILE_BYTES: u64 = 64 * 1024;
/// The most saved profiles listed.
const MAX_PROFILES: usize = 500;

/// Where saved profiles live, and what they are.
#[derive(Debug, Clone)]
pub struct SavedProfiles {
    dir: PathBuf,
}

/// A profile's name is a plain file name: letters, digits, `-` and `_`, at most 64.
pub fn check_profile_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "profile name \"{}\" may only hold letters, digits, - and _ (at most 64)",
            ledgerflow_core::error::shown(name)
        ));
    }
    Ok(())
}

/// A name made from free text (an account's name): what [`check_profile_name`] accepts.
pub fn profile_name_from(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 48 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "my-bank".into()
    } else {
        out
    }
}

impl SavedProfiles {
    /// The profiles kept in `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> SavedProfiles {
        SavedProfiles {
            dir: data_dir.join("import-profiles"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the profile `name` is (or would be) saved.
    pub fn path(&self, name: &str) -> Result<PathBuf, String> {
        check_profile_name(name)?;
        Ok(self.dir.join(format!("{name}.toml")))
    }

    /// A saved profile file, checked.
    pub fn load_file(path: &Path) -> Result<Profile, String> {
        let shown = path.display();
        let text = read_small(path, MAX_PROFILE_BYTES).map_err(|e| format!("{shown}: {e}"))?;
        let p: Profile = toml::from_str(&text).map_err(|e| format!("{shown}: {}", e.message()))?;
        p.validate().map_err(|e| format!("{shown}: {e}"))?;
        Ok(p)
    }

    /// The saved profile `name`, if there is one.
    pub fn load(&self, name: &str) -> Result<Option<Profile>, String> {
        let path = self.path(name)?;
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => {
                let mut p = Self::load_file(&path)?;
                // The file's name is the profile's name, whatever the TOML says.
                p.name = name.to_string();
                Ok(Some(p))
            }
        }
    }

    /// Saves `p` under its name (`note` first, as comments). An existing profile of that name
    /// is replaced only when `replace` says so.
    pub fn save(&self, p: &Profile, note: &str, replace: bool) -> Result<PathBuf, String> {
        p.validate()
            .map_err(|e| format!("profile {}: {e}", p.name))?;
        let dest = self.path(&p.name)?;
        let taken = || {
            format!(
                "a profile \"{}\" is already saved ({}): choose another name, or replace it",
                p.name,
                dest.display()
            )
        };
        let body = toml::to_string_pretty(p).map_err(|e| e.to_string())?;
        let note: String = note
            .lines()
            .map(|l| format!("# {}\n", ledgerflow_core::error::shown_whole(l)))
            .collect();
        write_whole(&dest, format!("{note}{body}").as_bytes(), replace, taken)?;
        tracing::info!(profile = %p.name, path = %dest.display(), "CSV profile saved");
        Ok(dest)
    }

    /// The saved profiles' names, sorted.
    pub fn names(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                (p.extension()? == "toml")
                    .then(|| p.file_stem()?.to_str().map(str::to_string))
                    .flatten()
            })
            .filter(|n| check_profile_name(n).is_ok())
            .take(MAX_PROFILES)
            .collect();
        names.sort();
        names
    }

    fn account_file(&self, account_id: i64) -> PathBuf {
        self.dir.join("by-account").join(account_id.to_string())
    }

    /// The profile remembered for an account: its name and the profile, when both are there
    /// and valid (a broken or missing one is as if none was remembered, with a warning).
    pub fn for_account(&self, account_id: i64) -> Option<Profile> {
        let path = self.account_file(account_id);
        if std::fs::symlink_metadata(&path).is_err() {
            return None;
        }
        let found = read_small(&path, 256)
            .map(|t| t.trim().to_string())
            .and_then(|name| self.load(&name)?.ok_or(format!("no profile \"{name}\"")));
        match found {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(account_id, path = %path.display(), "remembered CSV profile not used: {e}");
                None
            }
        }
    }

    /// Remembers the saved profile `name` for an account's unknown CSVs.
    pub fn remember(&self, account_id: i64, name: &str) -> Result<(), String> {
        check_profile_name(name)?;
        write_whole(
            &self.account_file(account_id),
            format!("{name}\n").as_bytes(),
            true,
            String::new,
        )
    }

    /// Whether `name` is taken: a saved profile, anything else at its place, or no plain name.
    pub fn exists(&self, name: &str) -> bool {
        self.path(name).map_or(true, |p| crate::files::taken(&p))
    }

    /// A name not yet taken: `base`, else `base-2`, `base-3`, …
    pub fn free_name(&self, base: &str) -> String {
        let base = profile_name_from(base);
        if !self.exists(&base) {
            return base;
        }
        (2..1000)
            .map(|i| format!("{}-{i}", &base[..base.len().min(56)]))
            .find(|n| !self.exists(n))
            .unwrap_or(base)
    }

    /// The profile remembered for the account, for a file no format or preset recognises:
    /// `Ok(Some)` when it reads the file cleanly (at least one row, none it cannot read),
    /// `Ok(None)` when there is none to try, `Err` saying why the remembered one does not fit.
    /// `bytes` is the file, or its head when `whole` is false (a cut last line is not held
    /// against it).
    pub fn remembered_reading(
        &self,
        account_id: i64,
        bytes: &[u8],
        whole: bool,
    ) -> Result<Option<Profile>, String> {
        if crate::detect(bytes).is_some() {
            return Ok(None);
        }
        let Some(p) = self.for_account(account_id) else {
            return Ok(None);
        };
        let misfit = |why: String| {
            Err(format!(
                "the CSV profile \"{}\" remembered for this account does not read this file ({why})",
                p.name
            ))
        };
        let bytes = if whole {
            bytes
        } else {
            &bytes[..bytes.iter().rposition(|b| *b == b'\n').unwrap_or(0)]
        };
        // The numbers must be written as the profile reads them: a file whose amounts do
        // not say their decimal mark (`-1,200`, `3.000`), or say another one, is not read with
        // it (a German profile would make `1,000` of a US file 1.00).
        if let Ok(inferred) = super::infer_bytes(bytes, whole) {
            if inferred.decimal_unsure {
                return misfit("its amounts could be read with either decimal mark".into());
            }
            if inferred.decimal_seen && inferred.profile.decimal != p.decimal {
                return misfit(format!(
                    "its amounts are written with the decimal mark \"{}\"",
                    inferred.profile.decimal
                ));
            }
        }
        let parsed = match super::parse(bytes, "remembered", Some(&p)) {
            Ok(parsed) => parsed,
            Err(e) => return misfit(e.reason),
        };
        let rows: usize = parsed.statements.iter().map(|s| s.transactions.len()).sum();
        match parsed.errors.first() {
            Some(e) => misfit(format!("{} rows unreadable; {e}", parsed.errors.len())),
            None if rows == 0 => misfit("no rows".into()),
            None => Ok(Some(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_made_from_text() {
        assert!(check_profile_name("my-bank_2").is_ok());
        for bad in ["", "../x", "a/b", "a.b", "é", &"x".repeat(65)] {
            assert!(check_profile_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            profile_name_from("Giro (DE) – Sparkasse"),
            "giro-de-sparkasse"
        );
        assert_eq!(profile_name_from("€€€"), "my-bank");
        assert!(check_profile_name(&profile_name_from(&"Ab ".repeat(100))).is_ok());
    }

    #[test]
    fn a_profile_is_saved_whole_remembered_and_refused_when_tampered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let saved = SavedProfiles::in_data_dir(dir.path());
        let mut p = super::super::presets().remove(0);
        p.name = "mine".into();
        saved.save(&p, "from a test", false).expect("saved");
        assert!(saved.save(&p, "", false).is_err(), "no silent replace");
        saved.save(&p, "", true).expect("replaced when asked");
        assert_eq!(saved.names(), vec!["mine".to_string()]);
        assert_eq!(saved.load("mine").expect("reads"), Some(p.clone()));
        assert_eq!(saved.for_account(7), None);
        saved.remember(7, "mine").expect("remembered");
        assert_eq!(saved.for_account(7), Some(p.clone()));
        // A remembered name that is a path is not followed.
        std::fs::write(saved.account_file(8), "../../etc/passwd").expect("write");
        assert_eq!(saved.for_account(8), None);
        // A profile replaced by a symlink or grown huge is refused.
        let path = saved.path("mine").expect("path");
        std::fs::write(&path, "x".repeat(70 * 1024)).expect("write");
        assert!(saved.load("mine").is_err());
        assert_eq!(saved.for_account(7), None);
        #[cfg(unix)]
        {
            std::fs::remove_file(&path).expect("rm");
            std::os::unix::fs::symlink("/etc/hostname", &path).expect("symlink");
            assert!(
                saved
                    .load("mine")
                    .unwrap_err()
                    .contains("not a regular file")
            );
        }
    }
}
