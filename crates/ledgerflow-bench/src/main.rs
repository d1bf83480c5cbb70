//! Benchmarks with fixed data sizes. Not tests: they print figures for the notes.
//!
//! ```text
//! cargo run --release -p ledgerflow-bench -- store-insert [--engine sqlite|postgres] [--rows N] [--batch N]
//! cargo run --release -p ledgerflow-bench -- import [--engine sqlite|postgres] [--rows N]
//! cargo run --release -p ledgerflow-bench -- backup [--engine sqlite|postgres] [--rows N]
//! cargo run --release -p ledgerflow-bench -- gen-wf --rows N --out FILE [--from K]
//! cargo run --release -p ledgerflow-bench -- web [--engine sqlite|postgres] [--rows N]
//! ```
//!
//! `web` imports N rows (one Wells Fargo export), starts the server on loopback and measures,
//! from an HTTP client on loopback (one request at a time), p50/p99 of the transaction list
//! (first page and pages deep in history by cursor), of a common and a rare text search, for
//! the API and the HTML page; then the throughput of the list page and the search API under
//! `wrk` (a separate process) when it is installed.
//!
//! `import` writes a Wells Fargo export of N rows (the generator is
//! `ledgerflow_test_support::wf_row`), imports it into a fresh store with duplicate detection,
//! then imports an export of the same rows with other bytes (all duplicates), then an export
//! overlapping the second half (half new), then the first export listed newest first (as banks
//! list) into another account, timing each and printing the peak memory; on SQLite, last, the
//! sqlite3 command-line pipeline loads the first export, for the side-by-side ratio.
//!
//! `store-insert` inserts N transactions through the `Store` (batched, each batch one journaled
//! database transaction) into a fresh store, reads back a filtered page, runs `journal verify`,
//! and prints rows/s and the process's peak memory.

use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{Days, NaiveDate};
use ledgerflow_core::Currency;
use ledgerflow_core::model::*;
use ledgerflow_core::service::verify_journal;
use ledgerflow_db::{Location, OpenMode};

const USAGE: &str = "\
usage: ledgerflow-bench BENCHMARK [--engine sqlite|postgres] [--rows N] [--batch N]

  store-insert   N transactions through the Store in batches of --batch (default 10000)
  import         a Wells Fargo export of N rows: first import, all duplicates, an overlapping
                 export (half new), the same rows newest first into another account, then the
                 standard tools' pipeline (sqlite3 or psql) on the first file
  backup         a verified backup of a store of N rows against sqlite3 .backup + zstd -3
                 (SQLite) or pg_dump -Fc + pg_restore (PostgreSQL)
  web            list and search latencies and throughput of the web app over N rows
  gen-wf         writes a Wells Fargo export: --rows N --out FILE [--from K] (rows K..K+N;
                 300 rows a day from 2015-01-01, newest last; --from N/2 overlaps half)

--rows defaults to 1000000; PostgreSQL runs on a throwaway server from this machine's binaries.";

struct Opts {
    engine: String,
    rows: usize,
    batch: usize,
    out: Option<std::path::PathBuf>,
    from: u64,
}

fn parse_args() -> anyhow::Result<(String, Opts)> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_else(|| "store-insert".into());
    let mut o = Opts {
        engine: "sqlite".into(),
        rows: 1_000_000,
        batch: 10_000,
        out: None,
        from: 0,
    };
    while let Some(a) = args.next() {
        let v = args.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--engine" => o.engine = v,
            "--rows" => o.rows = v.parse()?,
            "--batch" => o.batch = v.parse()?,
            "--out" => o.out = Some(v.into()),
            "--from" => o.from = v.parse()?,
            _ => bail!("unknown option {a}"),
        }
    }
    Ok((cmd, o))
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

const MERCHANTS: &[&str] = ledgerflow_test_support::WF_TEXT;

/// Deterministic rows: 8 accounts, 10 years, mostly small debits.
fn rows(n: usize, offset: usize, total: usize, accounts: &[i64]) -> Vec<NewTransaction> {
    let start = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or_default();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D ^ offset as u64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = offset + i;
            let day = (k as u64 * 3_652) / total.max(1) as u64;
            let merchant = MERCHANTS[(x % MERCHANTS.len() as u64) as usize];
            let amount = if x.is_multiple_of(67) {
                250_000
            } else {
                -(((x >> 8) % 20_000) as i64)
            };
            NewTransaction {
                account_id: accounts[(x >> 3) as usize % accounts.len()],
                posted_date: start + Days::new(day),
                amount_minor: amount,
                currency: Currency::USD,
                payee: String::new(),
                description: format!("{merchant} {k}"),
                memo: String::new(),
                category_id: None,
                status: TxStatus::Cleared,
                source: "bench".into(),
                import_batch_id: None,
                external_id: Some(format!("FIT{k:010}")),
                transfer_id: None,
                needs_review: false,
            }
        })
        .collect()
}

/// A fresh store of the chosen engine; the server (PostgreSQL) lives as long as the guard.
async fn fresh_store(
    engine: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(
    std::sync::Arc<dyn ledgerflow_core::Store>,
    Location,
    Option<ledgerflow_test_support::PgServer>,
)> {
    let (location, guard) = match engine {
        "sqlite" => (Location::Sqlite(dir.join("ledgerflow.db")), None),
        "postgres" => {
            let server = ledgerflow_test_support::durable_postgres()
                .context("no PostgreSQL server binaries found")?;
            (Location::Postgres(server.create_database()), Some(server))
        }
        other => bail!("unknown engine {other}"),
    };
    let store = ledgerflow_db::open(&location, OpenMode::Create).await?;
    Ok((store, location, guard))
}

/// Initialises the store and creates the Wells Fargo checking account the exports go into.
async fn wells_fargo_checking(
    store: &dyn ledgerflow_core::Store,
    actor: &Actor,
) -> anyhow::Result<Account> {
    store.initialize(actor, Environment::Dev).await?;
    Ok(store
        .create_account(
            actor,
            &NewAccount {
                name: "Checking".into(),
                institution: Some("Wells Fargo".into()),
                kind: AccountKind::Checking,
                currency: Currency::USD,
                opening_balance_minor: 0,
            },
        )
        .await?)
}

async fn import_bench(o: &Opts) -> anyhow::Result<()> {
    use ledgerflow_import::service::{ImportOptions, Quiet, Source, import_file};
    let dir = tempfile::tempdir()?;
    let n = o.rows as u64;
    let first = dir.path().join("wf-1.csv");
    ledgerflow_test_support::write_wf_csv(&first, 0, n)?;
    // the same rows with CRLF line ends: other bytes, same transactions
    let same = dir.path().join("wf-same.csv");
    write_rows(
        &same,
        (0..n).map(|k| ledgerflow_test_support::wf_row(k).replace('\n', "\r\n")),
    )?;
    // the same rows newest first, as banks list them, for a second account
    let newest_first = dir.path().join("wf-newest-first.csv");
    write_rows(
        &newest_first,
        (0..n).rev().map(ledgerflow_test_support::wf_row),
    )?;
    let overlap = dir.path().join("wf-overlap.csv");
    ledgerflow_test_support::write_wf_csv(&overlap, n / 2, n + n / 2)?;

    let (store, _location, guard) = fresh_store(&o.engine, dir.path()).await?;
    let actor = Actor::system("bench");
    let account = wells_fargo_checking(store.as_ref(), &actor).await?;
    let savings = store
        .create_account(
            &actor,
            &NewAccount {
                name: "Savings".into(),
                institution: Some("Wells Fargo".into()),
                kind: AccountKind::Savings,
                currency: Currency::USD,
                opening_balance_minor: 0,
            },
        )
        .await?;
    let mut first_secs = f64::NAN;
    for (label, path, into) in [
        ("first import", &first, &account),
        ("all duplicates", &same, &account),
        ("overlapping export", &overlap, &account),
        (
            "first import, newest first (another account)",
            &newest_first,
            &savings,
        ),
    ] {
        let t = Instant::now();
        let s = import_file(
            store.as_ref(),
            &actor,
            into,
            &path.display().to_string(),
            Source::Path(path.clone()),
            &ImportOptions::default(),
            std::sync::Arc::new(Quiet),
        )
        .await?;
        let secs = t.elapsed().as_secs_f64();
        if first_secs.is_nan() {
            first_secs = secs;
        }
        println!(
            "engine={} {label}: {} rows read, {} new, {} duplicates in {secs:.2}s ({:.0} rows/s) peak_rss={:.0} MiB",
            o.engine,
            s.rows_read,
            s.new,
            s.duplicates,
            s.rows_read as f64 / secs,
            peak_rss_mib()
        );
    }
    store.close().await;
    let (theirs, what) = match &guard {
        None => (
            sqlite3_pipeline(dir.path(), &first)?,
            "the sqlite3 CLI pipeline (.import + INSERT OR IGNORE … SELECT, unique hex sha3 fingerprint)",
        ),
        Some(server) => (
            psql_pipeline(server, &first)?,
            "the psql pipeline (\\copy into an unlogged table + INSERT … SELECT … ON CONFLICT, unique hex sha256 fingerprint)",
        ),
    };
    println!(
        "side by side: {what} {theirs:.2}s, LedgerFlow's first import {first_secs:.2}s: LedgerFlow {:.2}x as fast",
        theirs / first_secs
    );
    Ok(())
}

/// The standard tools' load on PostgreSQL (research/perf-baselines.md): `\\copy` into an
/// unlogged staging table, then one `INSERT … SELECT … ON CONFLICT DO NOTHING` with a unique text
/// fingerprint (`encode(sha256(…), 'hex')`), in a database of its own on the same server. No
/// text index, no journal, no foreign keys. Returns seconds.
fn psql_pipeline(
    server: &ledgerflow_test_support::PgServer,
    csv: &std::path::Path,
) -> anyhow::Result<f64> {
    let url = server.create_database();
    let script = format!(
        "CREATE TABLE tx (id BIGSERIAL PRIMARY KEY, account_id BIGINT NOT NULL, posted_date DATE NOT NULL, \
         amount_cents BIGINT NOT NULL, description TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE);\n\
         CREATE UNLOGGED TABLE staging (d TEXT, amount TEXT, star TEXT, check_no TEXT, description TEXT);\n\
         \\copy staging FROM '{}' WITH (FORMAT csv)\n\
         INSERT INTO tx (account_id, posted_date, amount_cents, description, fingerprint) \
         SELECT 1, to_date(d, 'MM/DD/YYYY'), round(amount::numeric * 100)::bigint, description, \
         encode(sha256(convert_to('1|' || d || '|' || amount || '|' || description, 'UTF8')), 'hex') \
         FROM staging ON CONFLICT (fingerprint) DO NOTHING;\n\
         DROP TABLE staging;\n",
        csv.display()
    );
    let script_file = csv.with_extension("psql");
    std::fs::write(&script_file, script)?;
    let t = Instant::now();
    let status = std::process::Command::new(server.bin("psql"))
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
        .arg(&script_file)
        .stdout(std::process::Stdio::null())
        .status()?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "the psql pipeline failed");
    Ok(secs)
}

/// Writes the lines `rows` to `path`, one at a time (the bench's memory is the import's).
fn write_rows(path: &std::path::Path, rows: impl Iterator<Item = String>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for row in rows {
        w.write_all(row.as_bytes())?;
    }
    w.flush()?;
    Ok(())
}

/// The standard tools' load of the same export (research/perf-baselines.md): `.import --csv`
/// into a staging table, then one transaction inserting with a unique text fingerprint
/// (`hex(sha3_256(account|date|amount|description))`), rollback journal, `synchronous = FULL`.
/// It parses no dates, checks nothing, keeps no journal and indexes no text. Returns seconds.
fn sqlite3_pipeline(dir: &std::path::Path, csv: &std::path::Path) -> anyhow::Result<f64> {
    use std::io::Write;
    let db = dir.join("sqlite3-pipeline.db");
    let script = format!(
        "PRAGMA synchronous = FULL;\n\
         CREATE TABLE tx (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, posted_date TEXT NOT NULL, \
         amount_cents INTEGER NOT NULL, description TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE);\n\
         CREATE TABLE staging (d TEXT, amount TEXT, star TEXT, check_no TEXT, description TEXT);\n\
         .import --csv {} staging\n\
         BEGIN;\n\
         INSERT OR IGNORE INTO tx (account_id, posted_date, amount_cents, description, fingerprint) \
         SELECT 1, substr(d, 7, 4) || '-' || substr(d, 1, 2) || '-' || substr(d, 4, 2), \
         CAST(round(amount * 100) AS INTEGER), description, \
         hex(sha3('1|' || d || '|' || amount || '|' || description, 256)) FROM staging;\n\
         COMMIT;\n\
         DROP TABLE staging;\n",
        csv.display()
    );
    let t = Instant::now();
    let mut child = std::process::Command::new("sqlite3")
        .arg("-batch")
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("sqlite3 (the command-line tool) is needed for the side-by-side figure")?;
    child
        .stdin
        .take()
        .context("sqlite3's stdin")?
        .write_all(script.as_bytes())?;
    let status = child.wait()?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "the sqlite3 pipeline failed");
    Ok(secs)
}

/// Initialises the store and creates its eight accounts.
async fn accounts_of(
    store: &dyn ledgerflow_core::Store,
    actor: &Actor,
) -> anyhow::Result<Vec<i64>> {
    store.initialize(actor, Environment::Dev).await?;
    let mut accounts = Vec::new();
    for i in 0..8 {
        let a = store
            .create_account(
                actor,
                &NewAccount {
                    name: format!("Account {i}"),
                    institution: None,
                    kind: AccountKind::Checking,
                    currency: Currency::USD,
                    opening_balance_minor: 0,
                },
            )
            .await?;
        accounts.push(a.id);
    }
    Ok(accounts)
}

async fn store_insert(o: &Opts) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, location, _guard) = fresh_store(&o.engine, dir.path()).await?;
    let actor = Actor::system("bench");
    let accounts = accounts_of(store.as_ref(), &actor).await?;
    let t0 = Instant::now();
    let mut gen_time = std::time::Duration::ZERO;
    let mut done = 0;
    while done < o.rows {
        let n = o.batch.min(o.rows - done);
        let g = Instant::now();
        let batch = rows(n, done, o.rows, &accounts);
        gen_time += g.elapsed();
        store.insert_transactions(&actor, batch).await?;
        done += n;
    }
    let total = t0.elapsed();
    let insert = total - gen_time;
    println!(
        "engine={} rows={} batch={} insert={:.2}s ({:.0} rows/s, excluding {:.2}s generating rows) peak_rss={:.0} MiB",
        o.engine,
        o.rows,
        o.batch,
        insert.as_secs_f64(),
        o.rows as f64 / insert.as_secs_f64(),
        gen_time.as_secs_f64(),
        peak_rss_mib()
    );

    let page_filter = TxFilter {
        account_id: Some(accounts[2]),
        from: NaiveDate::from_ymd_opt(2019, 1, 1),
        to: NaiveDate::from_ymd_opt(2019, 12, 31),
        limit: 50,
        ..Default::default()
    };
    let mut times = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let page = store.list_transactions(&page_filter).await?;
        times.push(t.elapsed());
        anyhow::ensure!(page.items.len() == 50, "filtered page is full");
    }
    times.sort();
    println!(
        "filtered page (account + year, 50 rows): median {:.2} ms, max {:.2} ms",
        times[10].as_secs_f64() * 1e3,
        times[20].as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let r = verify_journal(store.as_ref()).await?;
    anyhow::ensure!(r.ok, "journal verify failed: {:?}", r.problem);
    println!(
        "journal verify: {} entries, {} rows in {:.2}s; peak_rss={:.0} MiB",
        r.entries,
        r.rows_checked,
        t.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
    store.close().await;
    if let Location::Sqlite(p) = &location {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        println!("sqlite file: {:.0} MiB", size as f64 / 1_048_576.0);
    }
    Ok(())
}

/// A verified backup of a store of N rows, next to what the standard tools take for a copy
/// that verifies nothing (SQLite: `sqlite3 .backup` then `zstd -3`; PostgreSQL: `pg_dump -Fc`
/// then `pg_restore` into a scratch database).
async fn backup_bench(o: &Opts) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, location, guard) = fresh_store(&o.engine, dir.path()).await?;
    let actor = Actor::system("bench");
    let accounts = accounts_of(store.as_ref(), &actor).await?;
    let mut done = 0;
    while done < o.rows {
        let n = o.batch.min(o.rows - done);
        store
            .insert_transactions(&actor, rows(n, done, o.rows, &accounts))
            .await?;
        done += n;
    }
    let settings = ledgerflow_backup::Settings {
        pg_bin_dir: ledgerflow_test_support::find_bindir(),
        ..ledgerflow_backup::Settings::in_dir(dir.path().join("backups"))
    };
    let t = Instant::now();
    let out = ledgerflow_backup::backup(
        store.as_ref(),
        &location,
        &settings,
        ledgerflow_backup::Kind::Db,
        false,
    )
    .await?;
    let ours = t.elapsed().as_secs_f64();
    anyhow::ensure!(out.verified, "not verified: {}", out.verification);
    let t = Instant::now();
    let mut baseline = String::new();
    let run = |c: &mut std::process::Command| -> anyhow::Result<()> {
        let st = c.status()?;
        anyhow::ensure!(st.success(), "{c:?} failed");
        Ok(())
    };
    match &location {
        Location::Sqlite(db) => {
            let copy = dir.path().join("copy.db");
            run(std::process::Command::new("sqlite3")
                .arg(db)
                .arg(format!(".backup {}", copy.display())))?;
            run(std::process::Command::new("zstd")
                .arg("-3")
                .arg("-q")
                .arg(&copy))?;
            baseline.push_str("sqlite3 .backup + zstd -3");
        }
        Location::Postgres(url) => {
            let server = guard.as_ref().context("server")?;
            let dump = dir.path().join("dump.pgdump");
            run(std::process::Command::new(server.bin("pg_dump"))
                .arg("-Fc")
                .arg(format!("--file={}", dump.display()))
                .arg(format!("--dbname={url}")))?;
            let scratch = server.create_database();
            run(std::process::Command::new(server.bin("pg_restore"))
                .arg("--no-owner")
                .arg(format!("--dbname={scratch}"))
                .arg(&dump))?;
            baseline.push_str("pg_dump -Fc + pg_restore into a scratch database");
        }
    }
    let theirs = t.elapsed().as_secs_f64();
    println!(
        "engine={} rows={} verified backup {:.2}s ({} bytes) vs {baseline} {:.2}s: ratio {:.2}; peak_rss={:.0} MiB",
        o.engine,
        o.rows,
        ours,
        out.size,
        theirs,
        ours / theirs,
        peak_rss_mib()
    );
    store.close().await;
    restore_bench(
        o,
        dir.path(),
        &location,
        &settings,
        &out.file,
        guard.as_ref(),
    )
    .await
}

/// Recovery time: the backup just made restored into a new store (as after a lost disk: no
/// safety backup of a live store to take first), verified again, rows checked against the
/// journal, against the standard tools' restore that checks nothing of the kind (SQLite:
/// `zstd -d` of the `.backup` copy and `PRAGMA quick_check`; PostgreSQL: `pg_restore` of the
/// `pg_dump -Fc` dump into an empty database).
async fn restore_bench(
    o: &Opts,
    dir: &std::path::Path,
    location: &Location,
    settings: &ledgerflow_backup::Settings,
    file: &std::path::Path,
    server: Option<&ledgerflow_test_support::PgServer>,
) -> anyhow::Result<()> {
    let run = |c: &mut std::process::Command| -> anyhow::Result<()> {
        let st = c.stdout(std::process::Stdio::null()).status()?;
        anyhow::ensure!(st.success(), "{c:?} failed");
        Ok(())
    };
    let target = match server {
        None => Location::Sqlite(dir.join("restored").join("ledgerflow.db")),
        Some(server) => Location::Postgres(server.url(&format!("lf_rto_{}", std::process::id()))),
    };
    let expect = ledgerflow_backup::restore::Expect {
        environment: "dev".into(),
        other_lineage: false,
    };
    let t = Instant::now();
    let restored =
        ledgerflow_backup::restore(location, settings, file, Some(&target), &expect).await?;
    let ours = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let baseline = match server {
        None => {
            let copy = dir.join("copy.db.zst");
            let out = dir.join("copy-restored.db");
            run(std::process::Command::new("zstd")
                .args(["-d", "-q", "-f"])
                .arg(&copy)
                .arg("-o")
                .arg(&out))?;
            run(std::process::Command::new("sqlite3")
                .arg(&out)
                .arg("PRAGMA quick_check"))?;
            "zstd -d + sqlite3 PRAGMA quick_check"
        }
        Some(server) => {
            let scratch = server.create_database();
            run(std::process::Command::new(server.bin("pg_restore"))
                .arg("--no-owner")
                .arg(format!("--dbname={scratch}"))
                .arg(dir.join("dump.pgdump")))?;
            "pg_restore into an empty database"
        }
    };
    let theirs = t.elapsed().as_secs_f64();
    println!(
        "engine={} rows={} restore into a new store (verified, rows checked against the journal) {ours:.2}s ({:.2}s per million rows) vs {baseline} {theirs:.2}s: ratio {:.2}",
        o.engine,
        restored
            .facts
            .counts
            .get("transactions")
            .copied()
            .unwrap_or_default(),
        ours * 1_000_000.0 / o.rows.max(1) as f64,
        ours / theirs
    );
    Ok(())
}

/// p50 and p99 in milliseconds of a set of durations.
fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    (at(0.50), at(0.99), ms[ms.len() - 1])
}

async fn web_bench(o: &Opts) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _location, _guard) = fresh_store(&o.engine, dir.path()).await?;
    let token = web_fixture(o, dir.path(), store.as_ref()).await?;
    let state = ledgerflow_web::AppState::new(store.clone(), None, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ledgerflow_web::serve(listener, state, async {
        let _ = stopped.await;
    }));
    ledgerflow_backup::alert::install_tls();
    let client = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: token.clone(),
    };
    // Warm up (and learn a deep cursor chain).
    for _ in 0..20 {
        client.get("/api/v1/transactions?limit=50").await?;
    }
    let report = |label: &str, ms: Vec<f64>| {
        let (p50, p99, max) = percentiles(ms);
        println!(
            "engine={} rows={} {label:<44} p50 {p50:6.2} ms  p99 {p99:6.2} ms  max {max:6.2} ms",
            o.engine, o.rows
        );
    };
    list_latencies(&client, &report).await?;
    search_latencies(&client, &report).await?;
    throughput(o, &base, &token)?;
    let _ = stop.send(());
    let _ = server.await;
    store.close().await;
    Ok(())
}

/// Requests per timed figure.
const REQUESTS: usize = 500;

/// The bench's HTTP client, signed in with a token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// One GET: its time in milliseconds and its body; a failed request stops the bench.
    async fn get(&self, path: &str) -> anyhow::Result<(f64, String)> {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        let t = Instant::now();
        let r = req.send().await?;
        let ok = r.status().is_success();
        let body = r.text().await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(ok, "{path}: {body}");
        Ok((ms, body))
    }
}

/// A Wells Fargo export of `--rows` rows imported, and a viewer's API token.
async fn web_fixture(
    o: &Opts,
    dir: &std::path::Path,
    store: &dyn ledgerflow_core::Store,
) -> anyhow::Result<String> {
    use ledgerflow_import::service::{ImportOptions, Quiet, Source, import_file};
    let n = o.rows as u64;
    let file = dir.join("wf.csv");
    ledgerflow_test_support::write_wf_csv(&file, 0, n)?;
    let actor = Actor::system("bench");
    let account = wells_fargo_checking(store, &actor).await?;
    let t = Instant::now();
    let s = import_file(
        store,
        &actor,
        &account,
        "wf.csv",
        Source::Path(file),
        &ImportOptions::default(),
        std::sync::Arc::new(Quiet),
    )
    .await?;
    println!(
        "engine={} imported {} rows in {:.1}s ({:.0} rows/s, text index included)",
        o.engine,
        s.new,
        t.elapsed().as_secs_f64(),
        s.new as f64 / t.elapsed().as_secs_f64()
    );
    let user = store
        .create_user(
            &actor,
            &NewUser {
                name: "bench".into(),
                role: Role::Viewer,
                password_hash: None,
            },
        )
        .await?;
    let (_, token) = ledgerflow_core::service::create_token(
        store,
        &ledgerflow_core::model::Actor::system("bench"),
        &user,
        "bench",
    )
    .await?;
    Ok(token)
}

/// The first page of the list, and the next pages by cursor, for the API and the page.
async fn list_latencies(c: &Client, report: &impl Fn(&str, Vec<f64>)) -> anyhow::Result<()> {
    for (label, prefix) in [
        ("API list", "/api/v1/transactions?limit=50"),
        ("page list", "/transactions?limit=50"),
    ] {
        let mut first = Vec::new();
        for _ in 0..REQUESTS {
            first.push(c.get(prefix).await?.0);
        }
        report(&format!("{label}, first page"), first);
        // Deep pages: follow the cursor from the newest row back through the history.
        let mut deep = Vec::new();
        let mut cursor = String::new();
        for _ in 0..REQUESTS {
            let (ms, body) = c
                .get(&format!("/api/v1/transactions?limit=50&cursor={cursor}"))
                .await?;
            if label.starts_with("page") {
                deep.push(c.get(&format!("{prefix}&cursor={cursor}")).await?.0);
            } else {
                deep.push(ms);
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            match v["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => cursor.clear(),
            }
        }
        report(&format!("{label}, next pages by cursor"), deep);
    }
    Ok(())
}

/// Searches for a common word, a rare one, two words and a common prefix.
async fn search_latencies(c: &Client, report: &impl Fn(&str, Vec<f64>)) -> anyhow::Result<()> {
    for (label, path) in [
        ("API", "/api/v1/transactions?limit=50&q="),
        ("page", "/transactions?limit=50&q="),
    ] {
        // The export's descriptions end in a number below 100,000: about 10 rows each.
        let rare = |i: usize| 10_000 + (i * 7919) % 90_000;
        let words: [(&str, &dyn Fn(usize) -> String); 4] = [
            ("common word (1 row in 8)", &|i| {
                [
                    "netflix", "safeway", "payroll", "zelle", "atm", "coffee", "monthly",
                    "transfer",
                ][i % 8]
                    .to_string()
            }),
            ("rare word (~10 rows)", &|i| rare(i).to_string()),
            ("two words", &|i| format!("safeway+{}", rare(i))),
            // A prefix is expanded over every word it begins: the cost grows with its rows.
            ("common prefix (net*, 1 row in 8)", &|_| "net*".to_string()),
        ];
        for (what, word) in words {
            let mut ms = Vec::new();
            for i in 0..REQUESTS {
                ms.push(c.get(&format!("{path}{}", word(i))).await?.0);
            }
            report(&format!("{label} search, {what}"), ms);
        }
    }
    Ok(())
}

/// Requests per second under load with `wrk`, when it is installed.
fn throughput(o: &Opts, base: &str, token: &str) -> anyhow::Result<()> {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("wrk is not installed: throughput not measured (apt-get install wrk)");
        return Ok(());
    }
    for path in [
        "/transactions?limit=50",
        "/api/v1/transactions?limit=50&q=netflix",
    ] {
        let out = std::process::Command::new("wrk")
            .args(["-t2", "-c16", "-d10s", "--latency", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .arg(format!("{base}{path}"))
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let rps = text
            .lines()
            .find(|l| l.starts_with("Requests/sec"))
            .unwrap_or("Requests/sec: ?");
        let p99 = text
            .lines()
            .find(|l| l.trim_start().starts_with("99%"))
            .unwrap_or("99% ?");
        println!(
            "engine={} rows={} wrk -t2 -c16 -d10s {path}: {} (latency {})",
            o.engine,
            o.rows,
            rps.trim(),
            p99.trim()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (cmd, o) = parse_args()?;
    ledgerflow_test_support::init_test_log();
    match cmd.as_str() {
        "store-insert" => store_insert(&o).await,
        "import" => import_bench(&o).await,
        "backup" => backup_bench(&o).await,
        "web" => web_bench(&o).await,
        "gen-wf" => {
            let out = o.out.context("gen-wf needs --out FILE")?;
            ledgerflow_test_support::write_wf_csv(&out, o.from, o.from + o.rows as u64)?;
            println!("wrote {} rows to {}", o.rows, out.display());
            Ok(())
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            bail!("unknown benchmark {other}\n{USAGE}")
        }
    }
}
