//! Network helpers shared by config sections: an address-or-CIDR type that accepts `10.0.0.1` as
//! well as `10.0.0.0/8`.

use crate::error::ParseError;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IP network. A bare address means a host route (`/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(pub IpNet);

impl Cidr {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl From<IpAddr> for Cidr {
    /// The host route of one address.
    fn from(ip: IpAddr) -> Self {
        Cidr(IpNet::from(ip))
    }
}

impl FromStr for Cidr {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.contains('/') {
            let net: IpNet = t.parse().map_err(|reason| ParseError::Cidr {
                input: t.to_owned(),
                reason,
            })?;
            if net.trunc() != net {
                return Err(ParseError::HostBits {
                    input: t.to_owned(),
                    network: net.trunc(),
                });
            }
            Ok(Cidr(net))
        } else {
            let ip: IpAddr = t.parse().map_err(|reason| ParseError::Addr {
                input: t.to_owned(),
                reason,
            })?;
            Ok(Cidr(IpNet::from(ip)))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host_len = match self.0 {
            IpNet::V4(_) => 32,
            IpNet::V6(_) => 128,
        };
        if self.0.prefix_len() == host_len {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The addresses of this host (its network namespace): IPv4 from the kernel's LOCAL routes in
/// `/proc/net/fib_trie`, IPv6 from `/proc/net/if_inet6`. Unreadable files give no addresses.
pub fn host_addresses() -> Vec<IpAddr> {
    let v4 = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    parse_host_addresses(&v4, &v6)
}

fn parse_host_addresses(fib_trie: &str, if_inet6: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<IpAddr> = None;
    for line in fib_trie.lines() {
        let t = line.trim_start_matches([' ', '|', '+', '-', '`']);
        if let Ok(ip) = t.trim().parse::<std::net::Ipv4Addr>() {
            last = Some(IpAddr::V4(ip));
        } else if t.trim() == "/32 host LOCAL"
            && let Some(ip) = last
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    for line in if_inet6.lines() {
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        if hex.len() == 32
            && let Ok(v) = u128::from_str_radix(hex, 16)
        {
            let ip = IpAddr::V6(std::net::Ipv6Addr::from(v));
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// The default gateways of this host: IPv4 from `/proc/net/route`, IPv6 from
/// `/proc/net/ipv6_route` (routes to `0.0.0.0/0` and `::/0` with a next hop).
pub fn default_gateways() -> Vec<IpAddr> {
    let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    parse_default_gateways(&v4, &v6)
}

fn parse_default_gateways(route: &str, ipv6_route: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for line in route.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags … Mask: little-endian hex.
        if f.len() >= 8
            && f[1] == "00000000"
            && f[7] == "00000000"
            && let Ok(g) = u32::from_str_radix(f[2], 16)
            && g != 0
        {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(g.swap_bytes()));
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    for line in ipv6_route.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // dest dest_len src src_len next_hop …
        if f.len() >= 5
            && f[1] == "00"
            && f[0].bytes().all(|b| b == b'0')
            && let Ok(g) = u128::from_str_radix(f[4], 16)
            && g != 0
        {
            let ip = IpAddr::V6(std::net::Ipv6Addr::from(g));
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_and_networks() {
        let c: Cidr = "10.0.0.1".parse().unwrap();
        assert_eq!(c.0.prefix_len(), 32);
        assert_eq!(c.to_string(), "10.0.0.1");
        let c: Cidr = "198.18.0.0/15".parse().unwrap();
        assert!(c.contains(&"198.19.1.1".parse().unwrap()));
        assert!(!c.contains(&"198.20.0.1".parse().unwrap()));
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(&"2001:db8::1".parse().unwrap()));
        let e = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(e.to_string().contains("did you mean `10.0.0.0/8`"), "{e}");
        assert!(matches!(e, ParseError::HostBits { .. }));
        assert!(matches!(
            "10.0.0.300".parse::<Cidr>(),
            Err(ParseError::Addr { .. })
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(ParseError::Cidr { .. })
        ));
    }

    #[test]
    fn host_addresses_come_from_local_routes() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     +-- 127.0.0.0/8 2 0 2\n        +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 link BROADCAST\n              /32 link BROADCAST\n           |-- 127.0.0.1\n              /32 host LOCAL\n     |-- 10.1.2.3\n        /32 host LOCAL\nLocal:\n     |-- 10.1.2.3\n        /32 host LOCAL\n";
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 02 40 20 80     eth0\n";
        let got = parse_host_addresses(fib, v6);
        let want: Vec<IpAddr> = ["127.0.0.1", "10.1.2.3", "::1", "fe80::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        assert!(host_addresses().contains(&"127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn default_gateways_come_from_the_routing_tables() {
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\ndocker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\nfe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n";
        let got = parse_default_gateways(v4, v6);
        let want: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "fe80::1".parse().unwrap()];
        assert_eq!(got, want);
    }
}
