//! The client behind trusted proxies: address ranges, `X-Forwarded-For` / `X-Forwarded-Proto`
//! believed only from them, and the connection's peer.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;

use super::*;

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
}
