//! What the end-to-end tests build again and again: argument lists, and a command that must
//! succeed.

use std::process::{Command, Output};

/// `words`, then each flag followed by its value, then `more`.
fn command<'a>(words: &[&'a str], flags: &[(&'a str, &'a str)], more: &[&'a str]) -> Vec<&'a str> {
    let mut args = words.to_vec();
    for (flag, value) in flags {
        args.extend([*flag, *value]);
    }
    args.extend_from_slice(more);
    args
}

/// The arguments of `account add NAME --kind KIND --currency CURRENCY`, followed by `more`.
pub fn account_add<'a>(
    name: &'a str,
    kind: &'a str,
    currency: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let flags = [("--kind", kind), ("--currency", currency)];
    command(&["account", "add", name], &flags, more)
}

/// The arguments of `tx add --account ACCOUNT --date DATE --amount AMOUNT --payee PAYEE`,
/// followed by `more`.
pub fn tx_add<'a>(
    account: &'a str,
    date: &'a str,
    amount: &'a str,
    payee: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let flags = [
        ("--account", account),
        ("--date", date),
        ("--amount", amount),
        ("--payee", payee),
    ];
    command(&["tx", "add"], &flags, more)
}

/// Runs `cmd` and asserts that it succeeded (else fails with `what` and its stderr).
pub fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{what}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The string `field` of each element of the JSON array `list` (elements without one are left
/// out).
pub fn strings<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .filter_map(|e| e[field].as_str())
        .collect()
}
