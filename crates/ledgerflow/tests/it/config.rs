//! Configuration layers: defaults < ledgerflow.toml < LEDGERFLOW_* < flags.

use crate::TestApp;
use crate::helpers::run_ok;

#[test]
fn config_show_names_each_value_and_its_source_with_secrets_redacted() {
    let app = TestApp::sqlite();
    std::fs::write(
        app.path().join("ledgerflow.toml"),
        "data_dir = \"from-file\"\nbackup_dir = \"bk-file\"\n",
    )
    .expect("write");
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
    std::fs::write(
        app.path().join("ledgerflow.toml"),
        "[backup]\nalert_webhook = \"https://hooks.example/services/T0/B0/SeCrEtPaTh?token=QuErYsEcReT\"\n\n\
         [backup.destinations.offsite]\nurl = \"s3://bucket/prod\"\n\
         endpoint = \"https://minio:MiNiOpAsS@s3.example:9000\"\naccess_key_id = \"AKIAEXAMPLE\"\n",
    )
    .expect("write");
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
    std::fs::write(
        app.path().join("ledgerflow.toml"),
        "[server]\nbind = \"127.0.0.1:1\"\nprot = 8080\n",
    )
    .expect("write");
    let err = app.fails(&["config", "show"], 2);
    assert!(err.contains("unknown key \"server.prot\""), "{err}");
    let err = app.fails(&["status"], 2);
    assert!(err.contains("server.prot"), "{err}");

    let other = TestApp::sqlite();
    let err = other.fails(&["--config", "missing.toml", "status"], 2);
    assert!(err.contains("missing.toml does not exist"), "{err}");
    std::fs::write(other.path().join("bad.toml"), "env = \"production\"\n").expect("write");
    let err = other.fails(&["--config", "bad.toml", "status"], 2);
    assert!(err.contains("env"), "{err}");
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
    std::fs::write(app.path().join("ledgerflow.toml"), &example).expect("write");
    let v = app.json(&["config", "show", "--json"]);
    assert_eq!(v["server.bind"]["value"], "127.0.0.1:9001");
}
