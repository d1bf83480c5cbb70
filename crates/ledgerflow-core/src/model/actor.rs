//! Who made a change, as the journal records it.

use std::fmt;

/// Who made a change: the CLI (with the OS user), a signed-in user, an API token or the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The CLI acting for the operating-system user who runs it.
    pub fn cli() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(os_user_name)
            .unwrap_or_else(|| "unknown".to_string());
        Actor(format!("cli:{user}"))
    }
    pub fn user(name: &str) -> Self {
        Actor(format!("user:{name}"))
    }
    pub fn token(label: &str) -> Self {
        Actor(format!("token:{label}"))
    }
    pub fn system(what: &str) -> Self {
        Actor(format!("system:{what}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of this process's real user, from /proc and /etc/passwd.
fn os_user_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()? == uid).then(|| name.to_string())
    })
}
