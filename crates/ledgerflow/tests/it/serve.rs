//! `serve` creates the embedded store on first run, answers, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use crate::TestApp;

fn get(addr: &str, path: &str) -> String {
    get_as(addr, path, None)
}

fn get_as(addr: &str, path: &str, token: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("read");
    body
}

#[test]
fn serve_initialises_the_embedded_store_and_prints_where() {
    let app = TestApp::sqlite();
    let mut child = app
        .command(&["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve printed its address")
            .expect("line");
        printed.push(line.clone());
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.trim().to_string();
        }
    };
    let data_line = lines.next().expect("data line").expect("line");
    assert!(
        printed[0].contains("Created a new dev store"),
        "{printed:?}"
    );
    assert!(
        data_line.contains("ledgerflow-data/ledgerflow.db") && data_line.contains("sqlite"),
        "{data_line}"
    );
    assert!(app.sqlite_file().exists());
    // No users yet: a one-time setup link, never a default password.
    let setup = loop {
        let line = lines.next().expect("the setup link").expect("line");
        if let Some(at) = line.find("/setup?token=setup_") {
            break line[at..].trim().to_string();
        }
    };
    assert!(get(&addr, &setup).starts_with("HTTP/1.1 200"));
    assert!(get(&addr, "/setup?token=setup_forged").starts_with("HTTP/1.1 403"));

    let health = get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // The backup schedule runs inside serve: with no backup yet, both jobs catch up at once,
    // each proven by a test restore before it is listed as verified.
    let mut listed = serde_json::Value::Null;
    for _ in 0..300 {
        listed = app.json(&["backup", "list", "--json"]);
        if listed.as_array().is_some_and(|a| a.len() == 2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let entries = listed.as_array().expect("backups listed");
    assert_eq!(entries.len(), 2, "{listed}");
    assert!(entries.iter().all(|e| e["verified"] == true), "{listed}");
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"db") && kinds.contains(&"full"),
        "{kinds:?}"
    );
    // /metrics says the same for Prometheus.
    let metrics = get(&addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for line in [
        "ledgerflow_up 1",
        "ledgerflow_rows{table=\"transactions\"} 0",
        "ledgerflow_backup_stale 0",
        "ledgerflow_backup_failures 0",
        "ledgerflow_backups{kind=\"db\",state=\"verified\"} 1",
        "ledgerflow_backups{kind=\"full\",state=\"verified\"} 1",
        "# TYPE ledgerflow_backup_last_verified_age_seconds gauge",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    let age: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ledgerflow_backup_last_verified_age_seconds "))
        .and_then(|v| v.parse().ok())
        .expect("age");
    assert!((0..600).contains(&age), "{age}");
    // The API wants credentials: a token made on the command line acts with its user's role.
    let status = get(&addr, "/api/v1/status");
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    app.add_user("vera", "viewer", "correct-horse-battery");
    let out = app.ok(&["token", "create", "--user", "vera", "--name", "script"]);
    let token = out
        .lines()
        .last()
        .expect("the token is the last line")
        .trim();
    assert!(token.starts_with("lft_") && token.len() == 68, "{out}");
    let status = get_as(&addr, "/api/v1/status", Some(token));
    assert!(status.contains("\"engine\":\"sqlite\""), "{status}");
    let listed = app.json(&["token", "list", "--json"]);
    assert_eq!(listed[0]["user"], "vera");
    assert_eq!(listed[0]["name"], "script");
    assert!(
        !listed.to_string().contains(token),
        "the secret is never listed"
    );
    let id = listed[0]["id"].as_i64().expect("id").to_string();
    app.ok(&["token", "revoke", &id]);
    let status = get_as(&addr, "/api/v1/status", Some(token));
    assert!(status.starts_with("HTTP/1.1 401"), "revoked: {status}");
    assert!(
        app.json(&["token", "list", "--json"])
            .as_array()
            .expect("list")
            .is_empty()
    );
    app.fails_saying(
        &["token", "create", "--user", "nobody", "--name", "x"],
        2,
        "unknown user \"nobody\"",
    );

    let kill = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(kill.success());
    let code = child.wait().expect("wait");
    assert!(code.success(), "graceful shutdown exits 0: {code:?}");

    // the store it created is a normal, verifiable store
    let st = app.json(&["status", "--json"]);
    // Four entries: the store's creation, the user, the token made and the token revoked
    // (credentials are journaled, by their hashes only).
    assert_eq!(st["journal"]["head_seq"], 4);
    app.ok(&["journal", "verify"]);
}

#[test]
fn serve_on_postgres_refuses_an_uninitialised_database() {
    let Some(app) = TestApp::postgres() else {
        return;
    };
    app.fails_saying(
        &["serve", "--bind", "127.0.0.1:0"],
        3,
        "run `ledgerflow init`",
    );
    let _ = std::io::stdout().flush();
}
