//! Sign-in throttling: failed password checks over a sliding window, per name and network.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
        let ip = |s: &str| Some(s.parse().expect("ip"));
        // (an address of the network with {i} filled in, another of the same network, one
        // of the next network)
        for (each, same, next) in [
            ("203.0.113.{i}", "203.0.113.250", "203.0.114.1"),
            (
                "2001:db8:1:2::{i}",
                "2001:db8:1:2:ffff::1",
                "2001:db8:1:3::1",
            ),
        ] {
            for i in 0..20 {
                t.failed(
                    &format!("user{i}"),
                    ip(&each.replace("{i}", &i.to_string())),
                );
            }
            assert!(t.check("someone", ip(same)).is_err(), "{same} is locked");
            assert!(t.check("someone", ip(next)).is_ok(), "{next} is not");
        }
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
}
