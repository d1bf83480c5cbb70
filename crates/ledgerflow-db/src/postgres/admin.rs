//! PostgreSQL's side of [`crate::admin`]: `pg_dump` and `pg_restore` (the client's version
//! against the server's, the password through `PGPASSWORD`), scratch databases for test
//! restores, and the switch of a restored database into the live one's name.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use sqlx::ConnectOptions;
use tracing::{debug, warn};

use crate::admin::{AdminError, OldDatabase, Scratch};
use crate::{Location, OpenMode};

/// Writes `pg_dump --format=custom` of the database of `url` to `out`.
pub(crate) async fn dump(
    url: &str,
    out: &Path,
    pg_bin_dir: Option<&Path>,
) -> Result<(), AdminError> {
    let pg_dump = pg_tool(pg_bin_dir, "pg_dump")?;
    check_pg_dump_version(&pg_dump, url).await?;
    let (url, password) = split_password(url);
    let mut cmd = Command::new(&pg_dump);
    cmd.arg("--format=custom")
        .arg("--compress=0")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg(format!("--file={}", out.display()))
        .arg(format!("--dbname={url}"));
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    run(cmd, "pg_dump").await
}

/// Restores a `pg_dump` file into a new scratch database on the server of `url` and opens it.
pub(crate) async fn scratch_restore(
    url: &str,
    member: &Path,
    pg_bin_dir: Option<&Path>,
) -> Result<Scratch, AdminError> {
    let pg_restore = pg_tool(pg_bin_dir, "pg_restore")?;
    // The live database may be gone (a restore after its loss): then the
    // maintenance database serves to create the scratch one.
    let mut conn = match connect_pg(url).await {
        Ok(c) => c,
        Err(e) => connect_maintenance(url).await.map_err(|_| e)?,
    };
    drop_stale_scratch(&mut conn).await;
    let name = format!(
        "ledgerflow_verify_{}_{}",
        chrono::Utc::now().timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .map_err(|e| {
            AdminError::Environment(format!(
                "cannot create a scratch database for the test restore ({e}); the database user needs CREATEDB"
            ))
        })?;
    let scratch_url = with_database(url, &name);
    let db = PgScratch {
        admin_url: url.to_string(),
        name,
    };
    let (plain, password) = split_password(&scratch_url);
    let mut cmd = Command::new(pg_restore);
    cmd.arg("--no-owner")
        .arg("--no-privileges")
        .arg("--exit-on-error")
        .arg(format!("--dbname={plain}"))
        .arg(member);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    if let Err(e) = run(cmd, "pg_restore").await {
        db.drop_db().await;
        return Err(e);
    }
    match crate::open(&Location::Postgres(scratch_url), OpenMode::Existing).await {
        Ok(store) => Ok(Scratch {
            store,
            sqlite: None,
            pg: Some(db),
            _dir: None,
            frozen: false,
        }),
        Err(e) => {
            db.drop_db().await;
            Err(crate::admin::not_opened(e))
        }
    }
}

/// Runs a command to completion on a blocking thread; a non-zero exit is an error carrying the
/// tool's own message.
async fn run(mut cmd: Command, tool: &'static str) -> Result<(), AdminError> {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| AdminError::Snapshot(e.to_string()))?
        .map_err(|e| AdminError::Tool {
            tool,
            message: e.to_string(),
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(AdminError::Tool {
        tool,
        message: format!(
            "exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    })
}

/// `pg_dump`/`pg_restore`: from the configured directory, else the newest
/// `/usr/lib/postgresql/*/bin`, else `PATH`.
pub fn pg_tool(bin_dir: Option<&Path>, name: &'static str) -> Result<PathBuf, AdminError> {
    if let Some(d) = bin_dir {
        let p = d.join(name);
        return if p.exists() {
            Ok(p)
        } else {
            Err(AdminError::Environment(format!(
                "{name} failed: {} does not exist (backup.pg_bin_dir)",
                p.display()
            )))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path().join("bin").join(name);
            p.exists().then_some((v, p))
        })
        .collect();
    versions.sort();
    Ok(versions
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| PathBuf::from(name)))
}

fn major_of_version_text(text: &str) -> Option<u32> {
    // "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
    let after = text.split(')').nth(1)?.trim();
    after.split(['.', ' ']).next()?.parse().ok()
}

async fn check_pg_dump_version(pg_dump: &Path, url: &str) -> Result<(), AdminError> {
    let out = tokio::process::Command::new(pg_dump)
        .arg("--version")
        .output()
        .await
        .map_err(|e| AdminError::Tool {
            tool: "pg_dump",
            message: format!("cannot run {}: {e}", pg_dump.display()),
        })?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let client = major_of_version_text(&text).ok_or_else(|| AdminError::Tool {
        tool: "pg_dump",
        message: format!("cannot read its version from \"{}\"", text.trim()),
    })?;
    let mut conn = connect_pg(url).await?;
    let server: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| AdminError::Snapshot(e.to_string()))?;
    let server: u32 = server.trim().parse::<u32>().map_err(|_| AdminError::Tool {
        tool: "pg_dump",
        message: format!("cannot read the server's version from \"{server}\""),
    })? / 10_000;
    debug!(client, server, "pg_dump version");
    if client < server {
        return Err(AdminError::Tool {
            tool: "pg_dump",
            message: format!(
                "{} is version {client} but the server runs PostgreSQL {server}: install the PostgreSQL {server} client (or set backup.pg_bin_dir)",
                pg_dump.display()
            ),
        });
    }
    Ok(())
}

async fn connect_pg(url: &str) -> Result<sqlx::PgConnection, AdminError> {
    sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| AdminError::Environment(format!("the database URL: {e}")))?
        .connect()
        .await
        .map_err(|e| AdminError::Environment(format!("cannot connect to PostgreSQL: {e}")))
}

/// The URL without its password, and the password (given to tools through `PGPASSWORD`, so it
/// never shows in a process list): from `user:password@` or a `password=` parameter,
/// percent-decoded.
fn split_password(url: &str) -> (String, Option<String>) {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut password = None;
    let mut base = base.to_string();
    if let Some((scheme, rest)) = base.split_once("://") {
        let auth_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@')
            && let Some((user, pass)) = rest[..at].split_once(':')
        {
            password = Some(percent_decode(pass));
            base = format!("{scheme}://{user}@{}", &rest[at + 1..]);
        }
    }
    let mut kept = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("password", v)) => password = Some(percent_decode(v)),
            _ => kept.push(pair),
        }
    }
    if !kept.is_empty() {
        base.push('?');
        base.push_str(&kept.join("&"));
    }
    (base, password)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The same server URL naming another database.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Drops scratch databases left by a test restore that was killed (named with their creation
/// time; those older than six hours).
async fn drop_stale_scratch(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'ledgerflow\\_verify\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    for name in names {
        let born: Option<i64> = name
            .strip_prefix("ledgerflow_verify_")
            .and_then(|r| r.split('_').next())
            .and_then(|t| t.parse().ok());
        if born.is_some_and(|b| now - b > 6 * 3600)
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
            if dropped.is_ok() {
                tracing::info!(database = %name, "dropped the scratch database of an interrupted test restore");
            }
        }
    }
}

/// The database named by a PostgreSQL URL.
pub fn database_of(url: &str) -> Option<String> {
    let base = url.split('?').next().unwrap_or(url);
    let rest = &base[base.find("://")? + 3..];
    let name = &rest[rest.find('/')? + 1..];
    (!name.is_empty()).then(|| percent_decode(name))
}

/// A double-quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A connection to the server's maintenance database (`postgres`, else `template1`).
async fn connect_maintenance(url: &str) -> Result<sqlx::PgConnection, AdminError> {
    match connect_pg(&with_database(url, "postgres")).await {
        Ok(c) => Ok(c),
        Err(_) => connect_pg(&with_database(url, "template1")).await,
    }
}

/// Whether the server has a database of the URL's name (asked of the maintenance database).
pub async fn database_exists(url: &str) -> Result<bool, AdminError> {
    let name = database_of(url).ok_or_else(|| {
        AdminError::Refused("the database URL names no database to restore into".into())
    })?;
    let mut conn = connect_maintenance(url).await?;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| AdminError::Environment(format!("cannot list the databases: {e}")))
}

/// Connections to the database of `url` other than ours. A client that has just closed its
/// connection stays listed until its server process ends (our own pool's included): waits up
/// to three seconds before counting it.
pub async fn other_connections(url: &str) -> Result<i64, AdminError> {
    let name = database_of(url).ok_or_else(|| {
        AdminError::Refused("the database URL names no database to restore into".into())
    })?;
    let mut conn = connect_maintenance(url).await?;
    count_others(&mut conn, &name)
        .await
        .map_err(|e| AdminError::Environment(format!("cannot list the connections: {e}")))
}

async fn count_others(conn: &mut sqlx::PgConnection, db: &str) -> Result<i64, sqlx::Error> {
    let mut others: i64 = 0;
    for attempt in 0..30 {
        others = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(db)
        .fetch_one(&mut *conn)
        .await?;
        if others == 0 || attempt == 29 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(others)
}

pub(crate) async fn promote(
    scratch: &str,
    live_url: &str,
    old: OldDatabase,
) -> Result<Option<String>, AdminError> {
    let live = database_of(live_url).ok_or_else(|| {
        AdminError::Refused("the database URL names no database to restore into".into())
    })?;
    let mut conn = connect_maintenance(live_url).await?;
    let q = |e: sqlx::Error| AdminError::Restore(format!("switching databases failed: {e}"));
    let others = count_others(&mut conn, &live).await.map_err(q)?;
    if others > 0 {
        return Err(AdminError::Refused(format!(
            "the database {live} is in use by {others} other connection(s) (is `ledgerflow serve` running?): stop them, then restore again; nothing was changed"
        )));
    }
    // Pre-restore databases left by a restore killed between its switch and its clean-up.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1 || '_replaced_')",
    )
    .bind(&live)
    .fetch_all(&mut conn)
    .await
    .map_err(q)?;
    for name in stale {
        drop_database(&mut conn, &name).await;
    }
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&live)
            .fetch_one(&mut conn)
            .await
            .map_err(q)?;
    if exists && old == OldDatabase::MustNotExist {
        return Err(AdminError::Refused(format!(
            "the database {live} exists: --to-new restores into a new database only; nothing was changed"
        )));
    }
    let tag = if old == OldDatabase::KeepAside {
        "kept"
    } else {
        "replaced"
    };
    let mut aside = format!("{live}_{tag}_{}", chrono::Utc::now().timestamp());
    if aside.len() > 63 {
        aside = format!(
            "lf_{tag}_{}_{}",
            chrono::Utc::now().timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
    }
    let mut tx = sqlx::Connection::begin(&mut conn).await.map_err(q)?;
    if exists {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} RENAME TO {}",
            ident(&live),
            ident(&aside)
        )))
        .execute(&mut *tx)
        .await
        .map_err(q)?;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} RENAME TO {}",
        ident(scratch),
        ident(&live)
    )))
    .execute(&mut *tx)
    .await
    .map_err(q)?;
    tx.commit().await.map_err(q)?;
    match (exists, old) {
        (true, OldDatabase::Drop) => {
            drop_database(&mut conn, &aside).await;
            Ok(None)
        }
        (true, _) => Ok(Some(aside)),
        (false, _) => Ok(None),
    }
}

async fn drop_database(conn: &mut sqlx::PgConnection, name: &str) {
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        ident(name)
    )))
    .execute(&mut *conn)
    .await;
    if let Err(e) = dropped {
        warn!(database = %name, error = %e, "database not dropped");
    }
}

/// A temporary database on the live store's server.
pub(crate) struct PgScratch {
    admin_url: String,
    pub(crate) name: String,
}

impl PgScratch {
    pub(crate) async fn drop_db(&self) {
        let conn = match connect_pg(&self.admin_url).await {
            Ok(c) => Ok(c),
            Err(_) => connect_maintenance(&self.admin_url).await,
        };
        match conn {
            Ok(mut conn) => {
                let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .execute(&mut conn)
                .await;
                if let Err(e) = dropped {
                    warn!(database = %self.name, error = %e, "scratch database not dropped");
                }
            }
            Err(e) => warn!(database = %self.name, error = %e, "scratch database not dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_without_leaking_the_password() {
        assert_eq!(
            split_password("postgres://u:s3cret@127.0.0.1:5432/db?sslmode=disable"),
            (
                "postgres://u@127.0.0.1:5432/db?sslmode=disable".to_string(),
                Some("s3cret".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
        assert_eq!(
            split_password("postgres://u@h/db?sslmode=disable&password=p%40ss"),
            (
                "postgres://u@h/db?sslmode=disable".to_string(),
                Some("p@ss".to_string())
            )
        );
        assert_eq!(
            split_password("postgres://u:a%3Ab@h/db"),
            ("postgres://u@h/db".to_string(), Some("a:b".to_string()))
        );
        assert_eq!(
            with_database("postgres://u@h:1/db?sslmode=disable", "other"),
            "postgres://u@h:1/other?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            major_of_version_text("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_of_version_text("pg_dump (PostgreSQL) 17devel"), None);
    }
}
