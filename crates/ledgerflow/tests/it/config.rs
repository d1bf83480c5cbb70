//! Configuration layers: defaults < ledgerflow.toml < LEDGERFLOW_* < flags.

use crate::TestApp;
use crate::helpers::run_ok;

#[test]
fn config_show_names_each_value_and_its_source_with_secrets_redacted() {
    let app = TestApp::sqlite();
    app.write_config("data_dir = \"from-file\"\nbackup_dir = \"bk-file\"\n");
    let out = run_ok(
        app.command(&["config", "show", "--json", "--backup-dir", "bk-flag"])
            .env("LEDGERFLOW_DATA_DIR", "from-env")
            .env(
                "LEDGERFLOW_DATABASE_URL",
                "postgres://me:hunter2@db.example:5432/ledger",
            )
            .env("LEDGERFLOW_SERVER__BIND", "127.0.0.1:9999"),
        "",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("hunter2"), "password leaked: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["data_dir"]["value"], "from-env");
    assert_eq!(
        v["data_dir"]["source"],
        "environment variable LEDGERFLOW_DATA_DIR"
    );
    assert_eq!(v["backup_dir"]["value"], "bk-flag");
    assert_eq!(v["backup_dir"]["source"], "command-line flag");
    assert_eq!(v["server.bind"]["value"], "127.0.0.1:9999");
    assert_eq!(
        v["database_url"]["value"],
        "postgres://me:***@db.example:5432/ledger"
    );
    assert_eq!(v["env"]["source"], "default");

    // the file wins over defaults when nothing else sets the key
    let v = app.json(&["config", "show", "--json"]);
    assert_eq!(v["data_dir"]["value"], "from-file");
    assert!(
        v["data_dir"]["source"]
            .as_str()
            .expect("source")
            .contains("ledgerflow.toml")
    );
    // Webhook tokens (in the path or the query) and an S3 endpoint's user:password are hidden.
    app.write_config(
        "[backup]\nalert_webhook = \"https://hooks.example/services/T0/B0/SeCrEtPaTh?token=QuErYsEcReT\"\n\n\
             [backup.destinations.offsite]\nurl = \"s3://bucket/prod\"\n\
             endpoint = \"https://minio:MiNiOpAsS@s3.example:9000\"\naccess_key_id = \"AKIAEXAMPLE\"\n",
    );
    let out = run_ok(&mut app.command(&["config", "show", "--json"]), "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for secret in ["SeCrEtPaTh", "QuErYsEcReT", "MiNiOpAsS", "AKIAEXAMPLE"] {
        assert!(!stdout.contains(secret), "{secret} leaked: {stdout}");
    }
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        v["backup.alert_webhook"]["value"],
        "https://hooks.example/***?***"
    );
}

#[test]
fn unknown_keys_in_the_file_are_errors_that_name_them() {
    let app = TestApp::sqlite();
    app.write_config("[server]\nbind = \"127.0.0.1:1\"\nprot = 8080\n");
    app.fails_saying(&["config", "show"], 2, "unknown key \"server.prot\"");
    app.fails_saying(&["status"], 2, "server.prot");

    let other = TestApp::sqlite();
    other.fails_saying(
        &["--config", "missing.toml", "status"],
        2,
        "missing.toml does not exist",
    );
    std::fs::write(other.path().join("bad.toml"), "env = \"production\"\n").expect("write");
    other.fails_saying(&["--config", "bad.toml", "status"], 2, "env");
}

#[test]
fn the_data_dir_and_database_url_pick_the_store() {
    let app = TestApp::sqlite();
    app.ok(&["--data-dir", "elsewhere", "init"]);
    assert!(app.path().join("elsewhere/ledgerflow.db").exists());
    let st = app.json(&["--data-dir", "elsewhere", "status", "--json"]);
    assert_eq!(st["engine"], "sqlite");
    let out = app
        .command(&["status"])
        .env("LEDGERFLOW_DATA_DIR", "elsewhere")
        .output()
        .expect("run");
    assert!(out.status.success());
    let err = app.fails(&["--database-url", "mysql://u:pw@h/db", "status"], 2);
    assert!(
        err.contains("unsupported database URL") && !err.contains("pw@"),
        "{err}"
    );
}

#[test]
fn config_default_prints_a_file_that_loads() {
    let app = TestApp::sqlite();
    let example = app.ok(&["config", "default"]);
    app.write_config(&example);
    let v = app.json(&["config", "show", "--json"]);
    assert_eq!(v["server.bind"]["value"], "127.0.0.1:9001");
}
