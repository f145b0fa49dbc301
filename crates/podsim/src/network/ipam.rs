//! Address arithmetic for the pod's IPAM: CIDRs, allocation pools and the
//! checks neutron's `ipam_utils` and `ipam_backend_mixin` make. Addresses
//! are `u128` for both families; `v6` tells which.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address of either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ip {
    pub v6: bool,
    pub value: u128,
}

impl Ip {
    pub fn parse(s: &str) -> Option<Ip> {
        match s.trim().parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => Some(Ip {
                v6: false,
                value: u128::from(u32::from(a)),
            }),
            IpAddr::V6(a) => Some(Ip {
                v6: true,
                value: u128::from(a),
            }),
        }
    }

    fn with(self, value: u128) -> Ip {
        Ip { v6: self.v6, value }
    }

    pub fn version(self) -> u8 {
        if self.v6 {
            6
        } else {
            4
        }
    }
}

impl std::fmt::Display for Ip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.v6 {
            write!(f, "{}", Ipv6Addr::from(self.value))
        } else {
            let v4 = u32::try_from(self.value).unwrap_or(u32::MAX);
            write!(f, "{}", Ipv4Addr::from(v4))
        }
    }
}

/// A network prefix, e.g. `10.0.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    /// The address as written (host bits possibly set).
    pub ip: Ip,
    pub prefix: u8,
}

impl Cidr {
    /// `a.b.c.d/n` or `x::/n`; a bare address is a host prefix.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let ip = Ip::parse(addr)?;
        let max = if ip.v6 { 128 } else { 32 };
        let prefix = match prefix {
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                p.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            None => max,
        };
        Some(Cidr { ip, prefix })
    }

    fn bits(&self) -> u32 {
        if self.ip.v6 {
            128
        } else {
            32
        }
    }

    fn host_mask(&self) -> u128 {
        let host_bits = self.bits() - u32::from(self.prefix);
        if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        }
    }

    /// The network address.
    pub fn first(&self) -> Ip {
        self.ip.with(self.ip.value & !self.host_mask())
    }

    /// The last address (the IPv4 broadcast).
    pub fn last(&self) -> Ip {
        self.ip.with(self.first().value | self.host_mask())
    }

    /// The canonical form (`10.0.0.0/24`).
    pub fn network(&self) -> Cidr {
        Cidr {
            ip: self.first(),
            prefix: self.prefix,
        }
    }

    pub fn contains(&self, ip: Ip) -> bool {
        ip.v6 == self.ip.v6 && ip.value >= self.first().value && ip.value <= self.last().value
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.ip.v6 == other.ip.v6
            && self.first().value <= other.last().value
            && other.first().value <= self.last().value
    }

    /// The addresses an allocation pool may span (`validate_allocation_pools`).
    pub fn usable(&self) -> (Ip, Ip) {
        let (first, last) = (self.first().value, self.last().value);
        if self.ip.v6 {
            (self.ip.with(first.saturating_add(1).min(last)), self.last())
        } else if self.prefix <= 30 {
            (self.ip.with(first + 1), self.ip.with(last - 1))
        } else {
            (self.first(), self.last())
        }
    }

    /// `ipam_utils.check_subnet_ip`: inside the prefix, and not the network
    /// address (nor the IPv4 broadcast). Router ports may take the IPv6
    /// subnet-router anycast address.
    pub fn accepts_host(&self, ip: Ip, router_owner: bool) -> bool {
        if !self.contains(ip) {
            return false;
        }
        if self.ip.v6 {
            router_owner || ip != self.first()
        } else if self.prefix >= 31 {
            true
        } else {
            ip != self.first() && ip != self.last()
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

/// An inclusive address range (an allocation pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: Ip,
    pub end: Ip,
}

impl Range {
    pub fn contains(&self, ip: Ip) -> bool {
        ip.v6 == self.start.v6 && ip.value >= self.start.value && ip.value <= self.end.value
    }

    pub fn overlaps(&self, o: &Range) -> bool {
        self.start.v6 == o.start.v6
            && self.start.value <= o.end.value
            && o.start.value <= self.end.value
    }
}

impl std::fmt::Display for Range {
    /// netaddr's `IPRange` string: `start-end`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// `ipam_utils.generate_pools`: the usable range less the gateway.
pub(crate) fn default_pools(cidr: &Cidr, gateway: Option<Ip>) -> Vec<Range> {
    let (start, end) = cidr.usable();
    if start.value > end.value {
        return Vec::new();
    }
    let whole = Range { start, end };
    let Some(gw) = gateway.filter(|g| whole.contains(*g)) else {
        return vec![whole];
    };
    let mut out = Vec::new();
    if gw.value > start.value {
        out.push(Range {
            start,
            end: start.with(gw.value - 1),
        });
    }
    if gw.value < end.value {
        out.push(Range {
            start: start.with(gw.value + 1),
            end,
        });
    }
    out
}

/// Why a set of allocation pools is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolError {
    /// `InvalidAllocationPool`: start after end, or another IP version.
    Invalid(Range),
    /// `OutOfBoundsAllocationPool`.
    OutOfBounds(Range),
    /// `OverlappingAllocationPools`.
    Overlapping(Range, Range),
    /// `GatewayConflictWithAllocationPools`.
    GatewayInPool(Range),
}

/// `validate_allocation_pools` then `validate_gw_out_of_pools`.
pub(crate) fn validate_pools(
    cidr: &Cidr,
    pools: &[Range],
    gateway: Option<Ip>,
) -> Result<(), Box<PoolError>> {
    let (lo, hi) = cidr.usable();
    for p in pools {
        if p.start.v6 != cidr.ip.v6 || p.end.v6 != cidr.ip.v6 || p.start.value > p.end.value {
            return Err(Box::new(PoolError::Invalid(*p)));
        }
        if p.start.value < lo.value || p.end.value > hi.value {
            return Err(Box::new(PoolError::OutOfBounds(*p)));
        }
    }
    for (i, a) in pools.iter().enumerate() {
        for b in &pools[i + 1..] {
            if a.overlaps(b) {
                return Err(Box::new(PoolError::Overlapping(*a, *b)));
            }
        }
    }
    if let Some(gw) = gateway {
        if let Some(p) = pools.iter().find(|p| p.contains(gw)) {
            return Err(Box::new(PoolError::GatewayInPool(*p)));
        }
    }
    Ok(())
}

/// The lowest address of `pools` not in `used`.
pub(crate) fn first_free(pools: &[Range], used: &BTreeSet<Ip>) -> Option<Ip> {
    for p in pools {
        let mut v = p.start.value;
        loop {
            let ip = p.start.with(v);
            if !used.contains(&ip) {
                return Some(ip);
            }
            if v >= p.end.value {
                break;
            }
            v += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ip {
        Ip::parse(s).unwrap()
    }

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(cidr("10.0.0.0/24").to_string(), "10.0.0.0/24");
        assert_eq!(cidr("10.0.0.7/24").network().to_string(), "10.0.0.0/24");
        assert_eq!(cidr("fd00::1/64").network().to_string(), "fd00::/64");
        assert_eq!(cidr("10.0.0.1").prefix, 32);
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("nope/8").is_none());
        assert_eq!(cidr("0.0.0.0/0").last().to_string(), "255.255.255.255");
        assert_eq!(cidr("::/0").last().value, u128::MAX);
    }

    #[test]
    fn containment_and_overlap() {
        let c = cidr("10.0.0.0/24");
        assert!(c.contains(ip("10.0.0.255")));
        assert!(!c.contains(ip("10.0.1.0")));
        assert!(!c.contains(ip("::1")));
        assert!(c.overlaps(&cidr("10.0.0.128/25")));
        assert!(c.overlaps(&cidr("10.0.0.0/16")));
        assert!(!c.overlaps(&cidr("10.0.1.0/24")));
        assert!(!c.accepts_host(ip("10.0.0.0"), false));
        assert!(!c.accepts_host(ip("10.0.0.255"), false));
        assert!(c.accepts_host(ip("10.0.0.1"), false));
        let v6 = cidr("fd00::/64");
        assert!(!v6.accepts_host(ip("fd00::"), false));
        assert!(v6.accepts_host(ip("fd00::"), true));
    }

    #[test]
    fn pools_exclude_gateway() {
        let c = cidr("10.0.0.0/24");
        let pools = default_pools(&c, Some(ip("10.0.0.1")));
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].to_string(), "10.0.0.2-10.0.0.254");
        let pools = default_pools(&c, Some(ip("10.0.0.100")));
        assert_eq!(
            pools.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["10.0.0.1-10.0.0.99", "10.0.0.101-10.0.0.254"]
        );
        let pools = default_pools(&c, None);
        assert_eq!(pools[0].to_string(), "10.0.0.1-10.0.0.254");
        let pools = default_pools(&cidr("fd00::/64"), Some(ip("fd00::1")));
        assert_eq!(pools[0].to_string(), "fd00::2-fd00::ffff:ffff:ffff:ffff");
    }

    #[test]
    fn pool_validation() {
        let c = cidr("10.0.0.0/24");
        let r = |a: &str, b: &str| Range {
            start: ip(a),
            end: ip(b),
        };
        assert_eq!(
            validate_pools(&c, &[r("10.0.0.10", "10.0.0.20")], None),
            Ok(())
        );
        assert_eq!(
            validate_pools(&c, &[r("10.0.0.20", "10.0.0.10")], None),
            Err(Box::new(PoolError::Invalid(r("10.0.0.20", "10.0.0.10"))))
        );
        assert!(matches!(
            validate_pools(&c, &[r("10.0.0.0", "10.0.0.10")], None),
            Err(e) if matches!(*e, PoolError::OutOfBounds(_))
        ));
        assert!(matches!(
            validate_pools(
                &c,
                &[r("10.0.0.2", "10.0.0.10"), r("10.0.0.10", "10.0.0.12")],
                None
            ),
            Err(e) if matches!(*e, PoolError::Overlapping(_, _))
        ));
        assert!(matches!(
            validate_pools(&c, &[r("10.0.0.1", "10.0.0.10")], Some(ip("10.0.0.5"))),
            Err(e) if matches!(*e, PoolError::GatewayInPool(_))
        ));
    }

    #[test]
    fn first_free_skips_used() {
        let pools = default_pools(&cidr("10.0.0.0/29"), Some(ip("10.0.0.1")));
        let mut used = BTreeSet::new();
        assert_eq!(first_free(&pools, &used), Some(ip("10.0.0.2")));
        for i in 2..=6 {
            used.insert(ip(&format!("10.0.0.{i}")));
        }
        assert_eq!(first_free(&pools, &used), None);
        used.remove(&ip("10.0.0.4"));
        assert_eq!(first_free(&pools, &used), Some(ip("10.0.0.4")));
    }
}
