//! SQL run behind LedgerFlow's back, with the engine's own command-line tool, as a user (or an
//! attacker with shell access) would: `sqlite3 FILE SQL` or `psql URL -c SQL`.

use std::path::Path;
use std::process::{Command, Output};

/// Where a statement goes: a SQLite file or a PostgreSQL database URL.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Sqlite(&'a Path),
    Postgres(&'a str),
}

/// Runs `sql` on `target` (psql: no `.psqlrc`, quiet, unaligned tuples only, stop on the first
/// error), asserts that the tool succeeded (else fails naming the SQL and the tool's stderr),
/// and returns what it printed, trimmed.
pub fn sql(target: Target<'_>, sql: &str) -> String {
    let out = match target {
        Target::Sqlite(path) => sqlite3(path, sql),
        Target::Postgres(url) => {
            let server = crate::postgres().expect("server");
            Command::new(server.bin("psql"))
                .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .arg(url)
                .arg("-c")
                .arg(sql)
                .output()
                .expect("run psql")
        }
    };
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `sqlite3 FILE SQL`, whatever its outcome (the caller judges it).
pub fn sqlite3(path: &Path, sql: &str) -> Output {
    Command::new("sqlite3")
        .arg(path)
        .arg(sql)
        .output()
        .expect("run sqlite3")
}

/// What `sqlite3 FILE SQL` printed to stdout, whatever its exit status.
pub fn sqlite3_stdout(path: &Path, sql: &str) -> String {
    String::from_utf8_lossy(&sqlite3(path, sql).stdout).into_owned()
}
