//! Who is asking: a session cookie (browsers) or a personal API token (`Authorization: Bearer`),
//! the user's role, CSRF tokens for session-authenticated writes, sign-in throttling, and the
//! client address behind trusted proxies.
//!
//! Secrets are 32 random bytes, hex-encoded with a prefix (`lfs_` sessions, `lft_` tokens); the
//! store keeps only their SHA-256. A session's CSRF token is derived from its secret, so it
//! needs no storage and changes with every sign-in.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use chrono::Utc;
use ledgerflow_core::model::{Actor, CredentialKind, NewCredential, Role, User};
use sha2::{Digest, Sha256};

use crate::error::Problem;
use crate::{AppState, WebState};

pub const SESSION_COOKIE: &str = "lf_session";
/// The double-submit cookie that protects the sign-in form (there is no session yet).
pub const LOGIN_CSRF_COOKIE: &str = "lf_login";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const SESSION_HOURS: i64 = 12;
// Secrets are made in core's service, which makes API tokens for every face; re-exported for
// the benchmark and the tests.
pub use ledgerflow_core::service::{TOKEN_PREFIX, create_token, new_secret, secret_hash};

/// The CSRF token of a session.
pub fn csrf_for(session_secret: &str) -> String {
    let d = Sha256::digest(format!("ledgerflow-csrf:{session_secret}").as_bytes());
    hex::encode(&d[..16])
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Starts a session for a user; returns the cookie's secret.
pub async fn create_session(
    store: &dyn ledgerflow_core::Store,
    user: &User,
) -> Result<String, ledgerflow_core::StoreError> {
    let secret = new_secret("lfs_");
    store
        .create_credential(
            &Actor::user(&user.name),
            &NewCredential {
                kind: CredentialKind::Session,
                user_id: user.id,
                name: String::new(),
                secret_sha256: secret_hash(&secret),
                expires_at: Some(Utc::now() + chrono::Duration::hours(SESSION_HOURS)),
            },
        )
        .await?;
    Ok(secret)
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, and Secure when served over HTTPS.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// How the request was authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session; writes must carry this CSRF token.
    Session {
        csrf: String,
    },
    Token {
        name: String,
    },
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub credential_id: i64,
    pub via: Via,
}

/// Role order: each role may do what the ones below it may.
pub fn rank(r: Role) -> u8 {
    match r {
        Role::Viewer => 0,
        Role::Editor => 1,
        Role::Admin => 2,
    }
}

impl CurrentUser {
    pub fn can(&self, needed: Role) -> bool {
        rank(self.user.role) >= rank(needed)
    }

    pub fn require(&self, needed: Role) -> Result<(), Problem> {
        if self.can(needed) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "{} is a{} {}; this needs the {needed} role",
                self.user.name,
                if self.user.role == Role::Admin {
                    "n"
                } else {
                    ""
                },
                self.user.role
            )))
        }
    }

    /// Who the journal records for changes made by this request.
    pub fn actor(&self) -> Actor {
        match &self.via {
            Via::Session { .. } => Actor::user(&self.user.name),
            Via::Token { name } => Actor::token(&format!("{}/{name}", self.user.name)),
        }
    }

    pub fn csrf(&self) -> String {
        match &self.via {
            Via::Session { csrf } => csrf.clone(),
            Via::Token { .. } => String::new(),
        }
    }

    /// Session-authenticated writes carry the session's CSRF token (header or form field);
    /// token-authenticated ones need none (a browser never sends a bearer token by itself).
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), Problem> {
        match &self.via {
            Via::Token { .. } => Ok(()),
            Via::Session { csrf } if given.is_some_and(|g| same(g, csrf)) => Ok(()),
            Via::Session { .. } => Err(Problem::forbidden(
                "the form is out of date or came from another site (CSRF check failed): reload the page and try again",
            )),
        }
    }
}

/// Resolves the request's credentials. `Ok(None)` when it carries none.
pub async fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, Problem> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim());
    let (secret, kind) = match bearer {
        Some(b) => match b
            .strip_prefix("Bearer ")
            .or_else(|| b.strip_prefix("bearer "))
        {
            Some(t) => (t.trim().to_string(), CredentialKind::Token),
            None => return Err(Problem::unauthorized("use Authorization: Bearer TOKEN")),
        },
        None => match cookie(headers, SESSION_COOKIE) {
            Some(s) if !s.is_empty() => (s, CredentialKind::Session),
            _ => return Ok(None),
        },
    };
    let found = st.store.find_credential(&secret_hash(&secret)).await?;
    let Some((cred, user)) = found.filter(|(c, u)| c.kind == kind && !u.disabled) else {
        return Err(invalid(kind));
    };
    let now = Utc::now();
    if !cred.is_live(now) {
        return Err(invalid(kind));
    }
    let via = match kind {
        CredentialKind::Session => Via::Session {
            csrf: csrf_for(&secret),
        },
        CredentialKind::Token => {
            if cred
                .last_used_at
                .is_none_or(|t| now - t > chrono::Duration::minutes(5))
            {
                st.store.touch_credential(cred.id).await?;
            }
            Via::Token {
                name: cred.name.clone(),
            }
        }
    };
    Ok(Some(CurrentUser {
        user,
        credential_id: cred.id,
        via,
    }))
}

fn invalid(kind: CredentialKind) -> Problem {
    match kind {
        CredentialKind::Token => {
            Problem::unauthorized("the API token is not valid (revoked, or mistyped)")
        }
        CredentialKind::Session => Problem::unauthorized("your session has ended: sign in again"),
    }
}

fn safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

macro_rules! role_extractor {
    ($(#[$m:meta])* $name:ident, $role:expr) => {
        $(#[$m])*
        pub struct $name(pub CurrentUser);

        impl FromRequestParts<AppState> for $name {
            type Rejection = Problem;
            async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Problem> {
                let user = require_user(parts, st).await?;
                user.require($role)?;
                Ok($name(user))
            }
        }
    };
}

/// The signed-in user, for any role. A session-authenticated API write must carry the CSRF
/// header (forms are checked by [`crate::pages::Posted`]).
async fn require_user(parts: &Parts, st: &AppState) -> Result<CurrentUser, Problem> {
    let user = authenticate(st, &parts.headers)
        .await?
        .ok_or_else(|| Problem::unauthorized("sign in, or send Authorization: Bearer TOKEN"))?;
    if parts.uri.path().starts_with("/api/") && !safe_method(&parts.method) {
        user.check_csrf(parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))?;
    }
    Ok(user)
}

role_extractor!(
    /// Any signed-in user (viewers read).
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// An editor or admin (edit, categorize, import).
    Editor,
    Role::Editor
);
role_extractor!(
    /// An admin (users, tokens, backups).
    Admin,
    Role::Admin
);

/// An address range (`10.0.0.0/8`, `::1/128` or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("\"{s}\" is not an IP address or range (like 10.0.0.0/8)");
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u8) {
            match ip {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => match v.to_ipv4_mapped() {
                    Some(v4) => (u128::from(u32::from(v4)), 32),
                    None => (u128::from(v), 128),
                },
            }
        }
        let (net, width) = bits(self.addr);
        let (ip, ip_width) = bits(ip);
        if width != ip_width {
            return false;
        }
        let shift = u32::from(width - self.prefix.min(width));
        shift >= 128 || (net >> shift) == (ip >> shift)
    }
}

/// Where the request came from and whether it arrived over HTTPS: the peer itself, or what a
/// trusted proxy says in `X-Forwarded-For` / `X-Forwarded-Proto` (from anyone else these
/// headers are ignored).
pub fn client(
    parts_headers: &HeaderMap,
    peer: Option<SocketAddr>,
    web: &WebState,
) -> (Option<IpAddr>, bool) {
    let peer_ip = peer.map(|p| p.ip());
    let trusted = |ip: IpAddr| web.trusted_proxies.iter().any(|n| n.contains(ip));
    if !peer_ip.is_some_and(trusted) {
        return (peer_ip, web.secure_cookies);
    }
    let forwarded: Vec<IpAddr> = parts_headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // The nearest address that is not one of our proxies is the client.
    let ip = forwarded
        .iter()
        .rev()
        .copied()
        .find(|ip| !trusted(*ip))
        .or(peer_ip);
    let https = parts_headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    (ip, https || web.secure_cookies)
}

/// The connection's peer address (absent in in-process tests).
pub fn peer_of<B>(req: &axum::http::Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Failed password checks over a sliding window (15 minutes):
///
/// - per name and client network: after 5 failures each further try waits, 30 s doubling up to
///   the window — a slowdown that nobody else's mistakes can cause;
/// - per client network (a /24 for IPv4, a /64 for IPv6): 20 failures lock that network out for
///   the rest of the window. A name is never locked for everyone;
/// - a signed-in user's "change password" form counts apart (per user), so its failures never
///   lock that user's sign-in.
///
/// The map holds at most `max_keys` keys: past that, expired keys go first, then the ones whose
/// last failure is oldest.
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    window: Duration,
    per_pair: usize,
    per_network: usize,
    max_keys: usize,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            failures: Mutex::new(HashMap::new()),
            window: Duration::from_secs(15 * 60),
            per_pair: 5,
            per_network: 20,
            max_keys: 100_000,
        }
    }
}

/// The client's network: a /24 for IPv4, a /64 for IPv6 (an IPv4-mapped address is IPv4).
fn network(ip: Option<IpAddr>) -> String {
    match ip.map(|i| i.to_canonical()) {
        Some(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "local".into(),
    }
}

impl Throttle {
    fn pair_key(name: &str, ip: Option<IpAddr>) -> String {
        format!("pair:{}|{}", name.trim().to_lowercase(), network(ip))
    }

    fn network_key(ip: Option<IpAddr>) -> String {
        format!("net:{}", network(ip))
    }

    fn password_change_key(user_id: i64) -> String {
        format!("change:{user_id}")
    }

    /// Recent failures of `key` (expired ones dropped).
    fn recent<'a>(
        map: &'a mut HashMap<String, VecDeque<Instant>>,
        key: &str,
        window: Duration,
        now: Instant,
    ) -> Option<&'a VecDeque<Instant>> {
        let q = map.get_mut(key)?;
        while q.front().is_some_and(|t| now.duration_since(*t) > window) {
            q.pop_front();
        }
        Some(q)
    }

    /// How long a key with `n` recent failures (the last at `last`) must still wait.
    fn slowdown(&self, n: usize, last: Instant, now: Instant) -> Option<Duration> {
        if n < self.per_pair {
            return None;
        }
        let steps = u32::try_from(n - self.per_pair).unwrap_or(u32::MAX).min(10);
        let wait = Duration::from_secs(30)
            .saturating_mul(1 << steps)
            .min(self.window);
        let waited = now.duration_since(last);
        (waited < wait).then(|| wait - waited)
    }

    /// `Err(wait)` when this name from this network, or this network, must wait.
    pub fn check(&self, name: &str, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = Self::recent(&mut map, &Self::network_key(ip), self.window, now)
            && q.len() >= self.per_network
            && let Some(first) = q.front()
        {
            return Err(self.window.saturating_sub(now.duration_since(*first)));
        }
        if let Some(q) = Self::recent(&mut map, &Self::pair_key(name, ip), self.window, now)
            && let Some(last) = q.back()
            && let Some(wait) = self.slowdown(q.len(), *last, now)
        {
            return Err(wait);
        }
        Ok(())
    }

    pub fn failed(&self, name: &str, ip: Option<IpAddr>) {
        self.record(&[Self::pair_key(name, ip), Self::network_key(ip)]);
    }

    pub fn succeeded(&self, name: &str, ip: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&Self::pair_key(name, ip));
    }

    /// `Err(wait)` when this user's "change password" form failed too often lately.
    pub fn check_password_change(&self, user_id: i64) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = Self::recent(
            &mut map,
            &Self::password_change_key(user_id),
            self.window,
            now,
        ) && let Some(last) = q.back()
            && let Some(wait) = self.slowdown(q.len(), *last, now)
        {
            return Err(wait);
        }
        Ok(())
    }

    pub fn password_change_failed(&self, user_id: i64) {
        self.record(&[Self::password_change_key(user_id)]);
    }

    fn record(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            // Enough to decide; a flood from one key does not grow it.
            while q.len() > self.per_network.max(self.per_pair) + 10 {
                q.pop_front();
            }
        }
        if map.len() > self.max_keys {
            self.evict(&mut map, now);
        }
    }

    /// Expired keys first, then those whose last failure is oldest, down to 90% of the cap.
    fn evict(&self, map: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        map.retain(|_, q| {
            q.back()
                .is_some_and(|t| now.duration_since(*t) <= self.window)
        });
        let keep = self.max_keys - self.max_keys / 10;
        if map.len() > keep {
            let mut by_age: Vec<(Instant, String)> = map
                .iter()
                .map(|(k, q)| (q.back().copied().unwrap_or(now), k.clone()))
                .collect();
            by_age.sort();
            for (_, k) in by_age.into_iter().take(map.len() - keep) {
                map.remove(&k);
            }
        }
    }

    #[cfg(test)]
    fn with_cap(max_keys: usize) -> Throttle {
        Throttle {
            max_keys,
            ..Throttle::default()
        }
    }

    #[cfg(test)]
    fn has(&self, key: &str) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_contain_what_they_should() {
        let net: IpNet = "10.0.0.0/8".parse().expect("net");
        assert!(net.contains("10.1.2.3".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        let one: IpNet = "127.0.0.1".parse().expect("one");
        assert!(one.contains("127.0.0.1".parse().expect("ip")));
        assert!(one.contains("::ffff:127.0.0.1".parse().expect("mapped")));
        assert!(!one.contains("127.0.0.2".parse().expect("ip")));
        let all: IpNet = "0.0.0.0/0".parse().expect("all");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("proxy".parse::<IpNet>().is_err());
    }

    #[test]
    fn the_throttle_slows_a_name_from_one_network_but_never_locks_it_for_others() {
        let t = Throttle::default();
        let ip = Some("192.0.2.1".parse().expect("ip"));
        for _ in 0..5 {
            assert!(t.check("Alice", ip).is_ok());
            t.failed("alice", ip);
        }
        let wait = t.check("ALICE", ip).expect_err("slowed down");
        assert!(wait <= Duration::from_secs(30));
        // Same /24: the same network.
        assert!(
            t.check("alice", Some("192.0.2.77".parse().expect("ip")))
                .is_err()
        );
        // Anyone else, elsewhere, signs in as alice at once (no lock-out of others).
        assert!(
            t.check("alice", Some("198.51.100.9".parse().expect("ip")))
                .is_ok()
        );
        assert!(t.check("bob", ip).is_ok(), "the network is not locked yet");
        t.succeeded("alice", ip);
        assert!(t.check("alice", ip).is_ok());
    }

    #[test]
    fn a_network_is_locked_after_twenty_failures_ipv4_by_24_ipv6_by_64() {
        let t = Throttle::default();
        for i in 0..20 {
            let ip = Some(format!("203.0.113.{i}").parse().expect("ip"));
            t.failed(&format!("user{i}"), ip);
        }
        assert!(
            t.check("someone", Some("203.0.113.250".parse().expect("ip")))
                .is_err()
        );
        assert!(
            t.check("someone", Some("203.0.114.1".parse().expect("ip")))
                .is_ok()
        );
        for i in 0..20 {
            let ip = Some(format!("2001:db8:1:2::{i:x}").parse().expect("ip"));
            t.failed(&format!("user{i}"), ip);
        }
        assert!(
            t.check("x", Some("2001:db8:1:2:ffff::1".parse().expect("ip")))
                .is_err()
        );
        assert!(
            t.check("x", Some("2001:db8:1:3::1".parse().expect("ip")))
                .is_ok()
        );
    }

    #[test]
    fn password_change_failures_do_not_touch_sign_in() {
        let t = Throttle::default();
        for _ in 0..5 {
            assert!(t.check_password_change(7).is_ok());
            t.password_change_failed(7);
        }
        assert!(t.check_password_change(7).is_err());
        assert!(
            t.check("alice", Some("192.0.2.1".parse().expect("ip")))
                .is_ok()
        );
        assert!(t.check_password_change(8).is_ok());
    }

    #[test]
    fn past_the_cap_the_oldest_keys_go_not_all_of_them() {
        let t = Throttle::with_cap(100);
        let ip = Some("192.0.2.1".parse().expect("ip"));
        for _ in 0..5 {
            t.failed("victim", ip);
        }
        for i in 0..200 {
            t.password_change_failed(i);
        }
        // The oldest keys were evicted, the newest kept, and never everything at once.
        assert!(!t.has(&Throttle::pair_key("victim", ip)));
        assert!(t.has(&Throttle::password_change_key(199)));
        let n = t.failures.lock().expect("lock").len();
        assert!((50..=100).contains(&n), "{n} keys left");
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_for("lfs_a");
        assert_ne!(a, csrf_for("lfs_b"));
        assert!(same(&a, &csrf_for("lfs_a")));
        assert!(!same(&a, &a[..a.len() - 1]));
    }
}
