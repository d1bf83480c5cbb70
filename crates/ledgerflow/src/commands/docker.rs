//! `ledgerflow guard docker -- <docker args…>`: the seed's `ledger_docker`. Everything passes
//! through to `docker`, except the commands that delete volumes when they would delete one
//! labelled `com.ledgerflow.protect=true`: `compose down -v`/`--volumes`, `volume rm`,
//! `volume prune` and `system prune --volumes`. Those need a verified backup younger than an
//! hour and DESTROY typed at a terminal. Which volumes are affected is asked of docker itself.

use std::process::Command;

use crate::context::Ctx;
use crate::exit::Refused;

/// The label that marks a volume LedgerFlow's data lives in.
pub const PROTECT_LABEL: &str = "com.ledgerflow.protect";

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Run docker with these arguments, refusing to delete protected volumes.
    Docker {
        /// The docker command line, after `--`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
}

/// A docker command that deletes volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destructive {
    /// `compose … down -v`: the project's volumes; `compose` holds the options before `down`.
    ComposeDown {
        global: Vec<String>,
        compose: Vec<String>,
    },
    /// `volume rm NAME…`
    VolumeRm {
        global: Vec<String>,
        names: Vec<String>,
    },
    /// `volume prune` or `system prune --volumes`: unused volumes.
    Prune { global: Vec<String> },
}

/// Docker's global options that take a value.
const GLOBAL_WITH_VALUE: &[&str] = &[
    "-c",
    "--context",
    "-H",
    "--host",
    "--config",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// `docker compose` options that take a value.
const COMPOSE_WITH_VALUE: &[&str] = &[
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--env-file",
    "--profile",
    "--project-directory",
    "--progress",
    "--ansi",
    "--parallel",
];

/// Splits leading options (with their values) from the rest.
fn split_options<'a>(args: &'a [String], with_value: &[&str]) -> (Vec<String>, &'a [String]) {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let a = &args[i];
        i += 1;
        if with_value.contains(&a.as_str()) && !a.contains('=') {
            i += 1;
        }
    }
    let i = i.min(args.len());
    (args[..i].to_vec(), &args[i..])
}

fn has_flag(args: &[String], long: &str, short: Option<char>) -> bool {
    args.iter().any(|a| {
        a == long
            || a.strip_prefix(long)
                .and_then(|r| r.strip_prefix('='))
                .is_some_and(|v| v != "false")
            || short.is_some_and(|s| {
                a.len() > 1
                    && a.starts_with('-')
                    && !a.starts_with("--")
                    && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                    && a[1..].contains(s)
            })
    })
}

/// Which volume-deleting command `args` is, if any.
pub fn classify(args: &[String]) -> Option<Destructive> {
    let (global, rest) = split_options(args, GLOBAL_WITH_VALUE);
    let (cmd, rest) = rest.split_first()?;
    match cmd.as_str() {
        "compose" => {
            let (compose, rest) = split_options(rest, COMPOSE_WITH_VALUE);
            let (sub, flags) = rest.split_first()?;
            (sub == "down" && has_flag(flags, "--volumes", Some('v')))
                .then_some(Destructive::ComposeDown { global, compose })
        }
        "volume" => {
            let (sub, rest) = rest.split_first()?;
            match sub.as_str() {
                "rm" | "remove" => Some(Destructive::VolumeRm {
                    global,
                    names: rest
                        .iter()
                        .filter(|a| !a.starts_with('-'))
                        .cloned()
                        .collect(),
                }),
                "prune" => Some(Destructive::Prune { global }),
                _ => None,
            }
        }
        "system" => {
            let (sub, flags) = rest.split_first()?;
            (sub == "prune" && has_flag(flags, "--volumes", None))
                .then_some(Destructive::Prune { global })
        }
        _ => None,
    }
}

fn docker_bin() -> String {
    std::env::var("LEDGERFLOW_DOCKER").unwrap_or_else(|_| "docker".into())
}

/// Runs docker for a question and returns what it printed.
fn ask(args: &[String]) -> anyhow::Result<String> {
    let out = Command::new(docker_bin())
        .args(args)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run docker ({e}): is it installed?"))?;
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Whether the volume exists and carries the protect label.
fn is_protected(global: &[String], name: &str) -> anyhow::Result<bool> {
    let mut q = global.to_vec();
    q.extend(["volume", "inspect", "--format", "{{json .Labels}}", name].map(String::from));
    let Ok(text) = ask(&q) else {
        // No such volume: nothing of ours to lose.
        return Ok(false);
    };
    let labels: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::Null);
    Ok(labels[PROTECT_LABEL].as_str() == Some("true"))
}

/// The protected volumes the command would delete.
pub fn protected_volumes(d: &Destructive) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    match d {
        Destructive::VolumeRm { global, names } => {
            for n in names {
                if is_protected(global, n)? {
                    found.push(n.clone());
                }
            }
        }
        Destructive::Prune { global } => {
            let mut q = global.to_vec();
            q.extend(
                [
                    "volume",
                    "ls",
                    "-q",
                    "--filter",
                    "dangling=true",
                    "--filter",
                    &format!("label={PROTECT_LABEL}=true"),
                ]
                .map(String::from),
            );
            found.extend(
                ask(&q)?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            );
        }
        Destructive::ComposeDown { global, compose } => {
            let mut q = global.to_vec();
            q.push("compose".into());
            q.extend(compose.iter().cloned());
            q.extend(["config", "--format", "json"].map(String::from));
            let config: serde_json::Value = serde_json::from_str(&ask(&q)?)
                .map_err(|e| anyhow::anyhow!("docker compose config printed no JSON: {e}"))?;
            let project = config["name"].as_str().unwrap_or_default();
            if let Some(vols) = config["volumes"].as_object() {
                for (key, v) in vols {
                    if v["external"].as_bool() == Some(true) {
                        continue;
                    }
                    let name = v["name"]
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|| format!("{project}_{key}"));
                    if is_protected(global, &name)? {
                        found.push(name);
                    }
                }
            }
        }
    }
    Ok(found)
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    let Cmd::Docker { args } = cmd;
    if let Some(d) = classify(args) {
        let protected = protected_volumes(&d)?;
        if !protected.is_empty() {
            allow_destruction(ctx, args, &protected)?;
        }
    }
    let status = Command::new(docker_bin())
        .args(args)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run docker ({e}): is it installed?"))?;
    if status.success() {
        Ok(())
    } else {
        // docker said why; pass its exit code on.
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// A verified backup younger than an hour, then DESTROY typed at a terminal.
fn allow_destruction(ctx: &Ctx, args: &[String], protected: &[String]) -> anyhow::Result<()> {
    let what = format!(
        "`docker {}` would delete the protected volume(s) {}",
        args.join(" "),
        protected.join(", ")
    );
    let settings = crate::backups::settings(ctx)?;
    let newest = ledgerflow_backup::list(&settings)?
        .into_iter()
        .filter(|e| e.verified && !e.deleted)
        .max_by_key(|e| e.created_at);
    let fresh = newest
        .as_ref()
        .is_some_and(|e| chrono::Utc::now() - e.created_at < chrono::Duration::hours(1));
    if !fresh {
        return Err(Refused(format!(
            "{what}: refused. There is no verified backup younger than one hour in {}; take one with `ledgerflow backup` (then copy it off the machine), or leave out -v/--volumes.",
            settings.dir.display()
        ))
        .into());
    }
    crate::guard::confirm_typed(
        &format!(
            "{what}. The newest verified backup is {}",
            newest.map(|e| e.file).unwrap_or_default()
        ),
        "DESTROY",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn volume_deleting_commands_are_recognised_and_others_pass() {
        let down = classify(&v("compose -f deploy/docker-compose.dev.yml down -v"));
        assert_eq!(
            down,
            Some(Destructive::ComposeDown {
                global: vec![],
                compose: v("-f deploy/docker-compose.dev.yml")
            })
        );
        assert_eq!(
            classify(&v("volume rm -f a b")),
            Some(Destructive::VolumeRm {
                global: vec![],
                names: v("a b")
            })
        );
        for destructive in [
            "compose down --volumes",
            "compose -p ledger down --rmi all -v",
            "compose down --volumes=true",
            "--context prod compose down -tv",
            "volume prune -a -f",
            "system prune --volumes -f",
        ] {
            assert!(classify(&v(destructive)).is_some(), "{destructive}");
        }
        for harmless in [
            "compose down",
            "compose down --volumes=false",
            "compose up -d",
            "system prune -f",
            "volume ls",
            "ps -a",
        ] {
            assert!(classify(&v(harmless)).is_none(), "{harmless}");
        }
    }
}
