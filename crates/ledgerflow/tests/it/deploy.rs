//! The deploy/ folder and the docker guard. No Docker engine runs here: the compose files are
//! parsed (PyYAML) and checked, and the guard's decisions are tested against a recording
//! stand-in for the `docker` executable that answers its questions and logs every call.

use std::path::{Path, PathBuf};

use crate::TestApp;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A YAML file as JSON, through Python's YAML parser (PyYAML comes with moto).
fn yaml(path: &Path) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(path)
        .output()
        .expect("python3 with PyYAML");
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn the_compose_files_label_every_data_volume_protected() {
    let dev = yaml(&repo().join("deploy/docker-compose.dev.yml"));
    let prod = yaml(&repo().join("deploy/docker-compose.prod.yml"));
    let services = |v: &serde_json::Value| -> Vec<String> {
        let mut s: Vec<String> = v["services"]
            .as_object()
            .expect("services")
            .keys()
            .cloned()
            .collect();
        s.sort();
        s
    };
    assert_eq!(services(&dev), ["adminer", "db", "ledgerflow"]);
    assert_eq!(services(&prod), ["backup", "caddy", "db", "ledgerflow"]);
    assert_eq!(
        dev["services"]["ledgerflow"]["ports"][0],
        "127.0.0.1:9001:9001"
    );
    assert_eq!(
        dev["services"]["adminer"]["ports"][0],
        "127.0.0.1:8082:8080"
    );
    for v in [&dev, &prod] {
        assert_eq!(v["services"]["db"]["image"], "postgres:17");
        for vol in ["db_data", "backups"] {
            assert_eq!(
                v["volumes"][vol]["labels"]["com.ledgerflow.protect"], "true",
                "{vol}: {}",
                v["volumes"]
            );
        }
        // Every service volume that holds data is a named, labelled one.
        assert_eq!(
            v["services"]["db"]["volumes"][0],
            "db_data:/var/lib/postgresql/data"
        );
    }
    assert_eq!(prod["services"]["backup"]["command"][0], "backup");
    assert_eq!(prod["services"]["backup"]["command"][1], "schedule");
    assert_eq!(
        prod["services"]["ledgerflow"]["environment"]["LEDGERFLOW_ENV"],
        "prod"
    );
    assert_eq!(
        dev["services"]["ledgerflow"]["environment"]["LEDGERFLOW_ENV"],
        "dev"
    );
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
    assert!(dockerfile.contains("USER ledgerflow"), "non-root");
    assert!(repo().join("deploy/.env.example").exists());
    let make = std::fs::read_to_string(repo().join("Makefile")).expect("Makefile");
    for target in [
        "dev:",
        "status:",
        "logs:",
        "backup:",
        "restore:",
        "migrate:",
        "test:",
        "down:",
        "nuke:",
        "check-volumes:",
        "env-check:",
        "verify-data:",
    ] {
        assert!(make.lines().any(|l| l.starts_with(target)), "{target}");
    }
}

/// A `docker` that logs its arguments and answers the guard's questions: `ledger_dev_db_data`
/// is protected, `scratch` is not, and the compose project has both.
fn stand_in(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).expect("bin");
    let log = dir.join("docker.log");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> '{log}'
case "$*" in
  *"volume inspect"*ledger_dev_db_data) echo '{{"com.ledgerflow.protect":"true"}}' ;;
  *"volume inspect"*scratch) echo '{{}}' ;;
  *"volume inspect"*) echo "Error: No such volume" >&2; exit 1 ;;
  *"volume ls"*) echo ledger_dev_db_data ;;
  *"config --format json"*) echo '{{"name":"ledgerflow_dev","volumes":{{"db_data":{{"name":"ledger_dev_db_data"}},"cache":{{}}}}}}' ;;
esac
exit 0
"#,
        log = log.display()
    );
    let path = bin.join("docker");
    std::fs::write(&path, script).expect("script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (bin, log)
}

#[test]
fn the_docker_guard_refuses_to_delete_protected_volumes_and_passes_the_rest() {
    let app = TestApp::sqlite();
    app.ok(&["init"]);
    let (bin, log) = stand_in(app.path());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let guard = |args: &[&str]| {
        let mut all = vec!["guard", "docker", "--"];
        all.extend_from_slice(args);
        let out = app.command(&all).env("PATH", &path).output().expect("run");
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        (out, calls)
    };
    // Passed through untouched.
    for args in [
        &["ps", "-a"][..],
        &["compose", "-f", "deploy/docker-compose.dev.yml", "down"][..],
        &["volume", "rm", "scratch"][..],
        &["system", "prune", "-f"][..],
    ] {
        let (out, calls) = guard(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            calls.lines().any(|l| l == args.join(" ")),
            "{args:?} ran: {calls}"
        );
    }
    // Refused: the protected volume would go, and there is no fresh verified backup.
    for args in [
        &[
            "compose",
            "-f",
            "deploy/docker-compose.dev.yml",
            "down",
            "-v",
        ][..],
        &["compose", "down", "--volumes"][..],
        &["volume", "rm", "-f", "ledger_dev_db_data"][..],
        &["volume", "prune", "-a", "-f"][..],
        &["system", "prune", "--volumes", "-f"][..],
    ] {
        let (out, calls) = guard(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("ledger_dev_db_data")
                && err.contains("no verified backup younger than one hour"),
            "{args:?}: {err}"
        );
        assert!(
            !calls.lines().any(|l| l == args.join(" ")),
            "{args:?} must not reach docker: {calls}"
        );
    }
    // With a fresh verified backup it still needs DESTROY typed at a terminal.
    app.ok(&["backup"]);
    let (out, calls) = guard(&["volume", "rm", "ledger_dev_db_data"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("typed at a terminal"));
    assert!(!calls.contains("volume rm ledger_dev_db_data"), "{calls}");
    // Typed at a terminal: it goes through.
    let (ok, printed) = app.typed(
        &[
            "guard",
            "docker",
            "--",
            "volume",
            "rm",
            "ledger_dev_db_data",
        ],
        "DESTROY",
        &[("PATH", &path)],
    );
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(ok, "{printed}");
    assert!(
        calls.lines().any(|l| l == "volume rm ledger_dev_db_data"),
        "{calls}"
    );
}
