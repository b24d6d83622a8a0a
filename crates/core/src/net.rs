//! Network helpers shared by config sections: an address-or-CIDR type that accepts `10.0.0.1` as
//! well as `10.0.0.0/8`.

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

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.contains('/') {
            let net: IpNet = t.parse().map_err(|e| format!("invalid CIDR `{t}`: {e}"))?;
            if net.trunc() != net {
                return Err(format!(
                    "CIDR `{t}` has host bits set; did you mean `{}`?",
                    net.trunc()
                ));
            }
            Ok(Cidr(net))
        } else {
            let ip: IpAddr = t
                .parse()
                .map_err(|e| format!("invalid IP address `{t}`: {e}"))?;
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
        assert!(
            "10.0.0.1/8"
                .parse::<Cidr>()
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
        assert!("10.0.0.300".parse::<Cidr>().is_err());
    }
}
