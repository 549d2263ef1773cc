//! The client's address behind reverse proxies. Only when the peer is one of the
//! `--trusted-proxies` are `Forwarded` (RFC 7239) or else `X-Forwarded-For` believed: walking
//! from the right (the hop nearest to us), trusted proxies are skipped and the first other
//! address is the client. A header a client sent through an untrusted peer is ignored, so nobody
//! picks their own address; a malformed one from a trusted proxy falls back to the peer, counted.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Addresses and ranges whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// Where a request comes from, as far as we can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// Whether `ip` came from a forwarding header (else it is the peer's).
    pub forwarded: bool,
}

impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let nets: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&nets.join(","))
    }
}

impl TrustedProxies {
    /// `10.0.0.0/8, 192.168.1.10, ::1, fd00::/8`; an empty list trusts nobody.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("`{item}` is neither an address nor a CIDR range"))?,
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client address of a request, from the peer its connection recorded
    /// (`ConnectInfo<Peer>`) and its headers; `None` when it came without a peer (a test's
    /// in-memory request).
    pub fn client_of(&self, parts: &axum::http::request::Parts) -> Option<ClientAddr> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<super::Peer>>()?
            .0
            .addr
            .ip();
        Some(self.client(peer, &parts.headers))
    }

    /// The client address of a request `peer` sent with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let from_peer = ClientAddr {
            ip: peer,
            forwarded: false,
        };
        if !self.trusts(&peer) {
            return from_peer;
        }
        let hops = match forwarded_for(headers) {
            Some(hops) => hops,
            None => match x_forwarded_for(headers) {
                Some(hops) => hops,
                None => return from_peer,
            },
        };
        let Ok(hops) = hops else {
            metrics::counter!("ragcast_malformed_forwarded_total").increment(1);
            tracing::debug!(%peer, "malformed forwarding header from a trusted proxy: using the peer address");
            return from_peer;
        };
        let client = hops
            .iter()
            .rev()
            .find(|ip| !self.trusts(ip))
            .or_else(|| hops.first())
            .copied();
        match client {
            Some(ip) => ClientAddr {
                ip,
                forwarded: true,
            },
            None => from_peer,
        }
    }
}

/// Every value of the header `name` as text: `None` without one, `Err` when one is not text.
fn header_texts<'h>(headers: &'h HeaderMap, name: &str) -> Option<Result<Vec<&'h str>, ()>> {
    let values: Vec<_> = headers.get_all(name).iter().collect();
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .into_iter()
            .map(|v| v.to_str().map_err(drop))
            .collect(),
    )
}

/// The `for=` addresses of every `Forwarded` header, in order; `None` without one, `Err` when
/// one cannot be read (junk, or an obfuscated or `unknown` node: its address is not known).
fn forwarded_for(headers: &HeaderMap) -> Option<Result<Vec<IpAddr>, ()>> {
    let texts = header_texts(headers, "forwarded")?;
    Some(texts.and_then(|texts| {
        let mut hops = Vec::new();
        for pair in texts
            .iter()
            .flat_map(|t| t.split(','))
            .flat_map(|e| e.split(';'))
        {
            let Some((key, node)) = pair.split_once('=') else {
                if pair.trim().is_empty() {
                    continue;
                }
                return Err(());
            };
            if key.trim().eq_ignore_ascii_case("for") {
                hops.push(node_ip(node.trim().trim_matches('"')).ok_or(())?);
            }
        }
        if hops.is_empty() {
            Err(())
        } else {
            Ok(hops)
        }
    }))
}

/// The addresses of every `X-Forwarded-For` header, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Result<Vec<IpAddr>, ()>> {
    let texts = header_texts(headers, "x-forwarded-for")?;
    Some(texts.and_then(|texts| {
        let hops = texts
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| node_ip(item).ok_or(()))
            .collect::<Result<Vec<_>, ()>>()?;
        if hops.is_empty() {
            Err(())
        } else {
            Ok(hops)
        }
    }))
}

/// An address with or without a port: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse("10.0.0.0/8, 127.0.0.1, ::1").unwrap()
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7, 198.51.100.2, 10.1.2.3")]);
        let client = proxies().client(ip("127.0.0.1"), &h);
        assert_eq!(
            client,
            ClientAddr {
                ip: ip("198.51.100.2"),
                forwarded: true
            }
        );
        // Several headers read as one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-for", "10.0.0.5"),
        ]);
        assert_eq!(proxies().client(ip("10.9.9.9"), &h).ip, ip("203.0.113.7"));
        // Every hop trusted: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", "10.0.0.1, 10.0.0.2")]);
        assert_eq!(proxies().client(ip("127.0.0.1"), &h).ip, ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for_and_reads_ports_brackets_and_quotes() {
        let h = headers(&[
            (
                "forwarded",
                r#"for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.9"#,
            ),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        assert_eq!(proxies().client(ip("::1"), &h).ip, ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", r#"for="[::1]:1234""#)]);
        assert_eq!(proxies().client(ip("127.0.0.1"), &h).ip, ip("::1"));
        let h = headers(&[("forwarded", "For=192.0.2.60;Proto=http;By=203.0.113.43")]);
        assert_eq!(proxies().client(ip("127.0.0.1"), &h).ip, ip("192.0.2.60"));
        let h = headers(&[("forwarded", r#"for="192.0.2.43:47011""#)]);
        assert_eq!(proxies().client(ip("127.0.0.1"), &h).ip, ip("192.0.2.43"));
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        let client = proxies().client(ip("192.0.2.99"), &h);
        assert_eq!(
            client,
            ClientAddr {
                ip: ip("192.0.2.99"),
                forwarded: false
            }
        );
        let client = TrustedProxies::default().client(ip("127.0.0.1"), &h);
        assert!(!client.forwarded, "nobody trusted by default");
    }

    #[test]
    fn junk_from_a_trusted_proxy_falls_back_to_the_peer() {
        for junk in ["not an address", "1.2.3.4, , ???", "_hidden"] {
            let h = headers(&[("x-forwarded-for", junk)]);
            assert_eq!(
                proxies().client(ip("127.0.0.1"), &h).ip,
                ip("127.0.0.1"),
                "{junk}"
            );
        }
        for junk in ["for=unknown", "for=_gazonk", "garbage", "by=10.0.0.1"] {
            let h = headers(&[("forwarded", junk)]);
            assert_eq!(
                proxies().client(ip("127.0.0.1"), &h).ip,
                ip("127.0.0.1"),
                "{junk}"
            );
        }
    }

    #[test]
    fn the_list_takes_addresses_and_ranges_and_names_a_bad_item() {
        let list = TrustedProxies::parse(" 10.0.0.0/8 ,192.168.1.10, fd00::/8 ").unwrap();
        assert!(list.trusts(&ip("10.200.1.1")) && list.trusts(&ip("fd00::5")));
        assert!(!list.trusts(&ip("192.168.1.11")));
        assert!(TrustedProxies::parse("10.0.0.0/33")
            .unwrap_err()
            .contains("10.0.0.0/33"));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
    }
}
