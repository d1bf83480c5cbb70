//! End-to-end tests of the `ledgerflow` binary, run as a user would run it.
//!
//! - `scenario`: the same user story on SQLite and PostgreSQL.
//! - `cli`: errors, exit codes, pagination, users, categories.
//! - `config`: layers, provenance, unknown keys.
//! - `serve`: the server starts, answers and stops.

mod backup;
mod cli;
mod config;
mod deploy;
mod helpers;
mod hostile;
mod imports;
mod migrate;
mod restore;
mod scenario;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ledgerflow_core::model::Engine;
use ledgerflow_test_support::raw;

/// A working directory plus, for PostgreSQL, a database of its own.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub db_url: Option<String>,
    /// Set for every command (`with_env`).
    pub env: Vec<(String, String)>,
}

impl TestApp {
    pub fn sqlite() -> TestApp {
        TestApp {
            dir: tempfile::tempdir().expect("tempdir"),
            engine: Engine::Sqlite,
            db_url: None,
            env: Vec::new(),
        }
    }

    pub fn postgres() -> Option<TestApp> {
        let server = ledgerflow_test_support::postgres()?;
        Some(TestApp {
            dir: tempfile::tempdir().expect("tempdir"),
            engine: Engine::Postgres,
            db_url: Some(server.create_database()),
            env: Vec::new(),
        })
    }

    /// Both engines (PostgreSQL only when its binaries exist; CI requires them).
    pub fn both() -> Vec<TestApp> {
        let mut v = vec![TestApp::sqlite()];
        match TestApp::postgres() {
            Some(p) => v.push(p),
            None => eprintln!("WARNING: PostgreSQL unavailable, this test ran on SQLite only"),
        }
        v
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn sqlite_file(&self) -> PathBuf {
        self.path().join("ledgerflow-data").join("ledgerflow.db")
    }

    /// Writes `ledgerflow.toml` in this app's directory.
    pub fn write_config(&self, toml: impl AsRef<[u8]>) {
        std::fs::write(self.path().join("ledgerflow.toml"), toml).expect("write ledgerflow.toml");
    }

    /// The binary, run in this app's directory, with a clean `LEDGERFLOW_*` environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ledgerflow"));
        c.args(args).current_dir(self.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LEDGERFLOW_") || k == "RUST_LOG" {
                c.env_remove(k);
            }
        }
        if let Some(url) = &self.db_url {
            c.env("LEDGERFLOW_DATABASE_URL", url);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Every command of this app runs with `key=value` in its environment.
    pub fn with_env(mut self, key: &str, value: &str) -> TestApp {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// `init`, then a USD checking account named "Checking".
    pub fn with_checking(&self) {
        self.ok(&["init"]);
        self.ok(&helpers::account_add("Checking", "checking", "USD", &[]));
    }

    /// `rows` Wells Fargo rows, numbered from `from`, imported into "Checking".
    pub fn import_wf(&self, from: u64, rows: u64) {
        let csv = self.path().join(format!("wf-{from}.csv"));
        ledgerflow_test_support::write_wf_csv(&csv, from, from + rows).expect("csv");
        let name = format!("wf-{from}.csv");
        self.ok(&["import", &name, "--account", "Checking"]);
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ledgerflow")
    }

    /// Runs and expects exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ledgerflow {args:?} failed ({:?}):\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects exit `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "ledgerflow {args:?}: expected exit {code}\nstdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// Runs and expects exit `code` with `text` in stderr; returns stderr.
    pub fn fails_saying(&self, args: &[&str], code: i32, text: &str) -> String {
        let err = self.fails(args, code);
        assert!(err.contains(text), "{err}");
        err
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{out}"))
    }

    /// How many elements the JSON array that `args` prints has (`None`: not an array).
    pub fn json_len(&self, args: &[&str]) -> Option<usize> {
        self.json(args).as_array().map(Vec::len)
    }

    /// Runs with a terminal (util-linux `script` gives it a pseudo-terminal) and `typed` as
    /// what the user types at it; `env` added. Returns the exit status and what it printed.
    pub fn typed(&self, args: &[&str], typed: &str, env: &[(&str, &str)]) -> (bool, String) {
        use std::io::Write;
        let mut line = String::from(env!("CARGO_BIN_EXE_ledgerflow"));
        for a in args {
            line.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
        }
        let mut sh = Command::new("script");
        sh.current_dir(self.path())
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("LEDGERFLOW_") || k == "RUST_LOG" {
                sh.env_remove(k);
            }
        }
        if let Some(url) = &self.db_url {
            sh.env("LEDGERFLOW_DATABASE_URL", url);
        }
        for (k, v) in self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(env.iter().copied())
        {
            sh.env(k, v);
        }
        let mut child = sh.spawn().expect("script (util-linux)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{typed}\n").as_bytes())
            .expect("type");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Runs `args` (expecting success) and returns how long it took in ms (at least 50): the
    /// span that kill tests spread their kills over.
    pub fn timed(&self, args: &[&str]) -> u64 {
        let t = std::time::Instant::now();
        self.ok(args);
        t.elapsed().as_millis().max(50) as u64
    }

    /// Starts `args`, kills it with SIGKILL after `ms` milliseconds, and waits for it.
    pub fn kill_after(&self, args: &[&str], ms: u64) {
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// `user add NAME --role ROLE --password-stdin`, the password piped in.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        use std::io::Write;
        let mut child = self
            .command(&["user", "add", name, "--role", role, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success(), "user add {name}");
    }

    /// Runs SQL behind LedgerFlow's back with sqlite3 or psql.
    pub fn raw_sql(&self, sql: &str) {
        let file = self.sqlite_file();
        let target = match &self.db_url {
            None => raw::Target::Sqlite(&file),
            Some(url) => raw::Target::Postgres(url),
        };
        raw::sql(target, sql);
    }
}

/// `n` moments in `0..span` ms from a fixed xorshift seed: spread out, and the same every run.
pub fn kill_moments(seed: u64, n: usize, span: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % span
        })
        .collect()
}
