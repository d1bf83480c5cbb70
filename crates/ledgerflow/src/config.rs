//! Layered, typed configuration: defaults, then `ledgerflow.toml` (or `--config` /
//! `LEDGERFLOW_CONFIG`), then `LEDGERFLOW_*` environment variables (`__` nests:
//! `LEDGERFLOW_SERVER__BIND`), then command-line flags. Every value remembers where it came from
//! for `config show`. An unknown key in the file is an error that names it; an unknown
//! `LEDGERFLOW_*` variable is a warning.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ledgerflow_core::model::Environment;
use ledgerflow_db::Location;
use serde::{Deserialize, Serialize};

/// The configuration file looked for in the working directory when none is named.
pub const DEFAULT_CONFIG_FILE: &str = "ledgerflow.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded SQLite store (and later attachments) live.
    pub data_dir: PathBuf,
    /// `postgres://…` to run on PostgreSQL; empty for the embedded SQLite store.
    pub database_url: String,
    /// A file holding the database URL (keeps the password out of the environment).
    pub database_url_file: String,
    /// The environment this LedgerFlow runs as: dev, staging or prod.
    pub env: Environment,
    /// Where backups are written; deliberately outside the data directory.
    pub backup_dir: PathBuf,
    pub backup: BackupSettings,
    pub server: ServerSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// "zstd" (default) or "gzip".
    pub compression: String,
    /// A backup smaller than this many bytes fails its verification.
    pub min_size: u64,
    /// A backup smaller than this fraction of the recent verified ones fails (0 turns it off).
    pub size_ratio: f64,
    /// Retention: hourly backups kept for this many hours, daily for days, and so on.
    pub keep_hourly: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    /// Where pg_dump and pg_restore are; empty finds them.
    pub pg_bin_dir: String,
    /// Replay the whole journal against every row of the test restore (thorough, slower).
    pub replay_journal: bool,
    /// Cron expressions (local time) for scheduled backups; empty turns one off.
    pub schedule_db: String,
    pub schedule_full: String,
    /// Encrypt archives to this age recipient (age1…); empty: not encrypted.
    pub encrypt_to: String,
    /// The age identity file that decrypts them (needed to verify them).
    pub age_identity_file: String,
    /// A URL that receives failures and staleness as a JSON POST; empty: the log only.
    pub alert_webhook: String,
    /// In prod, restore, migrations and bulk deletions need a verified backup this recent.
    pub prod_max_age_minutes: u32,
    /// Off-site copies: name = "directory" (a mounted NAS or a cloud-synced folder), or
    /// name = { url = "s3://bucket/prefix", endpoint = "https://…" }.
    #[serde(default)]
    pub destinations: std::collections::BTreeMap<String, ledgerflow_backup::Destination>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port `serve` listens on.
    pub bind: String,
    /// Reverse proxies (addresses or ranges, comma-separated) whose X-Forwarded-For and
    /// X-Forwarded-Proto headers are believed; from anyone else they are ignored.
    #[serde(default)]
    pub trusted_proxies: String,
    /// Mark session cookies Secure even when no trusted proxy reports HTTPS.
    #[serde(default)]
    pub secure_cookies: bool,
}

impl ServerSettings {
    pub fn proxies(&self) -> Result<Vec<ledgerflow_web::IpNet>, String> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse()
                    .map_err(|e| format!("server.trusted_proxies: {e}"))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter ("info", "ledgerflow=debug,sqlx=warn"); empty picks per command.
    pub level: String,
    /// "text" or "json".
    pub format: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./ledgerflow-data"),
            database_url: String::new(),
            database_url_file: String::new(),
            env: Environment::Dev,
            backup_dir: PathBuf::from("./ledgerflow-backups"),
            backup: BackupSettings {
                compression: "zstd".into(),
                min_size: 1024,
                size_ratio: 0.5,
                keep_hourly: 48,
                keep_daily: 7,
                keep_weekly: 0,
                keep_monthly: 0,
                pg_bin_dir: String::new(),
                replay_journal: false,
                schedule_db: "0 * * * *".into(),
                schedule_full: "0 2 * * *".into(),
                encrypt_to: String::new(),
                age_identity_file: String::new(),
                alert_webhook: String::new(),
                prod_max_age_minutes: 60,
                destinations: Default::default(),
            },
            server: ServerSettings {
                bind: "127.0.0.1:9001".into(),
                trusted_proxies: String::new(),
                secure_cookies: false,
            },
            log: LogSettings {
                level: String::new(),
                format: "text".into(),
            },
        }
    }
}

/// Values given as flags; only those present override the layers below.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerFlags>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogFlags>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerFlags {
    pub bind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogFlags {
    pub level: String,
}

/// Leaf keys, in display order.
pub const KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "database_url_file",
    "env",
    "backup_dir",
    "backup.compression",
    "backup.min_size",
    "backup.size_ratio",
    "backup.keep_hourly",
    "backup.keep_daily",
    "backup.keep_weekly",
    "backup.keep_monthly",
    "backup.pg_bin_dir",
    "backup.replay_journal",
    "backup.schedule_db",
    "backup.schedule_full",
    "backup.encrypt_to",
    "backup.age_identity_file",
    "backup.alert_webhook",
    "backup.prod_max_age_minutes",
    "server.bind",
    "server.trusted_proxies",
    "server.secure_cookies",
    "log.level",
    "log.format",
];

/// Environment variables with the prefix that are not configuration keys.
const NON_KEY_VARS: &[&str] = &["LEDGERFLOW_CONFIG"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    #[error("configuration error: {0}")]
    Invalid(String),
}

/// The loaded configuration and the layers it came from.
pub struct Loaded {
    pub settings: Settings,
    pub figment: Figment,
    pub file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

fn env_var_for(key: &str) -> String {
    format!("LEDGERFLOW_{}", key.replace('.', "__").to_uppercase())
}

fn is_known_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase().replace("__", ".");
    KEYS.contains(&k.as_str())
        || k == "server"
        || k == "log"
        || k == "backup"
        || k.starts_with("backup.destinations")
}

/// Loads the layers. `config_path` is the `--config`/`LEDGERFLOW_CONFIG` value, if any.
pub fn load(config_path: Option<&Path>, flags: &FlagOverrides) -> Result<Loaded, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Settings::default()));
    let file = match config_path {
        Some(p) if !p.exists() => {
            return Err(ConfigError::MissingFile(p.display().to_string()));
        }
        Some(p) => Some(p.to_path_buf()),
        None => {
            let p = PathBuf::from(DEFAULT_CONFIG_FILE);
            p.exists().then_some(p)
        }
    };
    if let Some(p) = &file {
        figment = figment.merge(Toml::file_exact(p));
    }
    let mut warnings = Vec::new();
    for (name, _) in std::env::vars() {
        let Some(rest) = name.strip_prefix("LEDGERFLOW_") else {
            continue;
        };
        if NON_KEY_VARS.contains(&name.as_str()) || rest.starts_with("TEST_") {
            continue;
        }
        let key = rest.to_lowercase().replace("__", ".");
        if !KEYS.contains(&key.as_str()) && !key.starts_with("backup.destinations.") {
            warnings.push(format!(
                "ignoring unknown environment variable {name} (known: {})",
                KEYS.iter()
                    .map(|k| env_var_for(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    figment = figment
        .merge(
            Env::prefixed("LEDGERFLOW_")
                .split("__")
                .filter(|k| is_known_key(k.as_str())),
        )
        .merge(Serialized::defaults(flags.clone()));
    let mut settings: Settings = figment
        .extract()
        .map_err(|e| ConfigError::Invalid(describe(e)))?;
    if settings.database_url.is_empty() && !settings.database_url_file.is_empty() {
        let text = std::fs::read_to_string(&settings.database_url_file).map_err(|e| {
            ConfigError::Invalid(format!(
                "cannot read database_url_file {}: {e}",
                settings.database_url_file
            ))
        })?;
        settings.database_url = text.trim().to_string();
    }
    if settings.data_dir.as_os_str().is_empty() {
        return Err(ConfigError::Invalid("data_dir must not be empty".into()));
    }
    if settings
        .server
        .bind
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        return Err(ConfigError::Invalid(format!(
            "server.bind \"{}\" is not an address and port such as 127.0.0.1:9001",
            settings.server.bind
        )));
    }
    settings.server.proxies().map_err(ConfigError::Invalid)?;
    if !matches!(settings.log.format.as_str(), "text" | "json") {
        return Err(ConfigError::Invalid(format!(
            "log.format \"{}\" is not valid (expected text or json)",
            settings.log.format
        )));
    }
    Ok(Loaded {
        settings,
        figment,
        file,
        warnings,
    })
}

/// One sentence per figment error, naming the key and where it came from.
fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|err| {
            let key = err.path.join(".");
            let source = err
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref().map(|s| s.to_string()))
                .unwrap_or_else(|| {
                    err.metadata
                        .as_ref()
                        .map(|m| m.name.to_string())
                        .unwrap_or_default()
                });
            let what = match &err.kind {
                figment::error::Kind::UnknownField(field, _) => {
                    let full = if key.is_empty() || err.path.last() == Some(field) {
                        if key.is_empty() {
                            field.clone()
                        } else {
                            key.clone()
                        }
                    } else {
                        format!("{key}.{field}")
                    };
                    return format!(
                        "unknown key \"{full}\" in {source} (known keys: {})",
                        KEYS.join(", ")
                    );
                }
                other => other.to_string(),
            };
            if key.is_empty() {
                format!("{what} in {source}")
            } else {
                format!("key \"{key}\" in {source}: {what}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Settings {
    /// Where the store lives: the database URL when given, else `data_dir/ledgerflow.db`.
    pub fn location(&self) -> Result<Location, ledgerflow_core::StoreError> {
        if self.database_url.trim().is_empty() {
            Ok(Location::sqlite_in(&self.data_dir))
        } else {
            Location::parse(&self.database_url)
        }
    }
}

/// One line of `config show`.
#[derive(Debug, Serialize)]
pub struct Shown {
    pub key: String,
    pub value: serde_json::Value,
    pub source: String,
}

/// Every key with its effective value (secrets redacted) and the layer it came from; then
/// each off-site destination.
pub fn show(loaded: &Loaded) -> Vec<Shown> {
    let json = serde_json::to_value(&loaded.settings).unwrap_or_default();
    let destinations = loaded
        .settings
        .backup
        .destinations
        .keys()
        .map(|name| format!("backup.destinations.{name}"));
    KEYS.iter()
        .map(|k| k.to_string())
        .chain(destinations)
        .map(|key| {
            let mut value = key
                .split('.')
                .try_fold(&json, |v, part| v.get(part))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            let last = key.rsplit('.').next().unwrap_or(&key);
            value = redacted(&value, last);
            let source = loaded
                .figment
                .find_metadata(&key)
                .map(|m| {
                    let name = m.name.to_string();
                    match &m.source {
                        Some(figment::Source::File(path)) => format!("file {}", path.display()),
                        _ if name.contains("FlagOverrides") => "command-line flag".to_string(),
                        _ if name.contains("environment variable") => {
                            format!("environment variable {}", env_var_for(&key))
                        }
                        _ if key == "database_url"
                            && !loaded.settings.database_url_file.is_empty()
                            && !loaded.settings.database_url.is_empty() =>
                        {
                            format!(
                                "file {} (database_url_file)",
                                loaded.settings.database_url_file
                            )
                        }
                        _ => "default".to_string(),
                    }
                })
                .unwrap_or_else(|| "default".into());
            Shown { key, value, source }
        })
        .collect()
}

/// Whether a key names a secret (a token, secret, password, passphrase or key). Paths to
/// files holding one (`*_file`) are not secrets themselves.
fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !key.ends_with("_file")
        && key.split(['_', '.', '-']).any(|part| {
            matches!(
                part,
                "token" | "secret" | "password" | "passphrase" | "key" | "apikey" | "credentials"
            )
        })
}

/// A URL with its secret-bearing parts hidden: the password of its user info, its query string
/// and fragment, and for a webhook (whose path is often the token itself) its path.
fn redact_url_parts(url: &str, webhook: bool) -> String {
    let shown = ledgerflow_db::redact_url(url);
    let Some((scheme, rest)) = shown.split_once("://") else {
        return shown;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let (path, query) = tail.split_at(path_end);
    let path = if webhook && path.len() > 1 {
        "/***"
    } else {
        path
    };
    let query = if query.is_empty() { "" } else { "?***" };
    format!("{scheme}://{authority}{path}{query}")
}

/// A configuration value with every secret hidden: values of keys that name a secret, and the
/// secret-bearing parts of every URL ([`redact_url_parts`]). Used by `config show` and for the
/// `config.toml` inside full backups.
pub fn redacted(value: &serde_json::Value, key: &str) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), redacted(v, k))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| redacted(v, key)).collect()),
        Value::String(s) if !s.is_empty() && names_a_secret(key) => {
            Value::String("********".into())
        }
        Value::String(s) if s.contains("://") => Value::String(redact_url_parts(
            s,
            key.to_ascii_lowercase().contains("webhook"),
        )),
        other => other.clone(),
    }
}

/// An annotated example configuration file.
pub const EXAMPLE: &str = r#"# ledgerflow.toml: every key, with its default. Environment variables override the file
# (LEDGERFLOW_DATA_DIR, LEDGERFLOW_SERVER__BIND, ...) and flags override both.

# Where the embedded SQLite store lives (ledgerflow.db inside it).
data_dir = "./ledgerflow-data"

# postgres://user:password@host:5432/dbname runs LedgerFlow on PostgreSQL instead.
database_url = ""

# A file whose content is the database URL (keeps the password out of env and flags).
database_url_file = ""

# The environment this LedgerFlow runs as: dev, staging or prod.
env = "dev"

# Where backups go; keep it outside the data directory.
backup_dir = "./ledgerflow-backups"

[backup]
# zstd or gzip; either restores with the standard tool (zstd -d, gunzip).
compression = "zstd"
# A backup below this many bytes, or below this fraction of the recent verified ones, fails.
min_size = 1024
size_ratio = 0.5
# Retention (ledgerflow backup prune): one backup per hour for 48 hours, per day for 7 days...
keep_hourly = 48
keep_daily = 7
keep_weekly = 0
keep_monthly = 0
# Where pg_dump and pg_restore are (PostgreSQL stores); empty finds them.
pg_bin_dir = ""
# The test restore checks integrity, counts, sums and the journal head; this also replays the
# whole journal against every restored row (about 11 s per million transactions).
replay_journal = false
# When `serve` (or `backup schedule`) takes backups: cron expressions in local time; "" = off.
schedule_db = "0 * * * *"
schedule_full = "0 2 * * *"

# Encrypt archives to an age recipient (age-keygen prints one); "" = not encrypted. The
# identity file that decrypts them must be given too: no backup counts until it is restored.
encrypt_to = ""
age_identity_file = ""
# Failures, and no verified backup for two scheduled intervals, are logged and POSTed here as
# JSON ({"event": …, "message": …}); "" = the log only.
alert_webhook = ""
# In prod, restore, migrations and bulk deletions (import undo) need --authorize-prod, the
# store's name typed at a terminal, and a verified backup younger than this.
prod_max_age_minutes = 60

# Off-site copies, made after each verified scheduled backup (and by `backup --dest NAME`),
# each read back and compared with the manifest.
[backup.destinations]
# nas = "/mnt/nas/ledgerflow"
# offsite = { url = "s3://bucket/ledgerflow", endpoint = "https://s3.example.com", region = "eu-1", access_key_id = "…", secret_access_key_file = "/run/secrets/s3" }

[server]
bind = "127.0.0.1:9001"
# Behind a reverse proxy (Caddy, nginx): its address, so the client's address and HTTPS are
# taken from X-Forwarded-For / X-Forwarded-Proto. Comma-separated addresses or ranges.
trusted_proxies = ""
# Mark the session cookie Secure even without a proxy saying HTTPS (serving HTTPS yourself).
secure_cookies = false

[log]
# A tracing filter; empty means "info" for serve and "warn" for other commands.
level = ""
# text or json
format = "text"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_to_the_defaults() {
        let s: Settings = toml::from_str(EXAMPLE).expect("example parses");
        let d = Settings::default();
        assert_eq!(s.data_dir, d.data_dir);
        assert_eq!(s.server.bind, d.server.bind);
        assert_eq!(s.env, d.env);
        assert_eq!(s.backup.keep_hourly, d.backup.keep_hourly);
        assert_eq!(s.backup.compression, d.backup.compression);
    }
}
