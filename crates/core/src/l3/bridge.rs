//! The tenant's bridge networks: which /24 each gets, and which addresses of
//! it the bottom routers get.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{lowest_free, L3Error};

/// Every bridge subnet is a /24: 253 bottom routers (or north-south bridge
/// addresses) per tenant is far more than pods.
pub const BRIDGE_PREFIX_LEN: u8 = 24;

/// Bridge subnets per pool: the /24s of a /9.
const CIDRS_PER_POOL: u32 = 1 << (BRIDGE_PREFIX_LEN - 9);

/// Host offsets in a /24 a bridge port may get: not `.0` (network), not `.1`
/// (the subnet's gateway IP), not `.255` (broadcast).
const FIRST_PORT_OFFSET: u32 = 2;
const LAST_PORT_OFFSET: u32 = 254;

/// Which of a tenant's two bridge networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BridgeKind {
    /// Between the bottom routers of one tenant (`100.0.0.0/9`): each holds
    /// one port, the next hop of the other pods' extra routes.
    EastWest,
    /// From the gateway pod's bottom router (which holds the subnet's gateway
    /// IP) to the other pods' bottom routers, whose router gateway it is
    /// (`100.128.0.0/9`); also holds the inner addresses of double-NAT
    /// floating IPs.
    NorthSouth,
}

impl BridgeKind {
    /// The /9 this kind's bridge subnets are cut from.
    pub fn pool(self) -> Ipv4Net {
        let base = match self {
            BridgeKind::EastWest => Ipv4Addr::new(100, 0, 0, 0),
            BridgeKind::NorthSouth => Ipv4Addr::new(100, 128, 0, 0),
        };
        Ipv4Net::new_assert(base, 9)
    }
}

impl fmt::Display for BridgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BridgeKind::EastWest => "east-west",
            BridgeKind::NorthSouth => "north-south",
        })
    }
}

/// Whether `cidr` shares addresses with a bridge pool. A tenant subnet that
/// does collides with some tenant's bridge subnet on the bottom routers, so
/// attaching it to a router should be refused.
pub fn overlaps_bridge_pools(cidr: Ipv4Net) -> bool {
    [BridgeKind::EastWest, BridgeKind::NorthSouth]
        .iter()
        .any(|k| k.pool().contains(&cidr) || cidr.contains(&k.pool()))
}

/// One tenant's bridge subnet: a /24 aligned inside its kind's pool. Only
/// built through the checked constructors, so it is always valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BridgeSubnet {
    kind: BridgeKind,
    cidr: Ipv4Net,
}

impl BridgeSubnet {
    /// The `index`-th /24 of the kind's pool (`0..32768`): the value a store
    /// keeps in a unique integer column.
    pub fn from_index(kind: BridgeKind, index: u32) -> Result<BridgeSubnet, L3Error> {
        let pool = kind.pool();
        if index >= CIDRS_PER_POOL {
            return Err(L3Error::NotABridgeCidr {
                kind,
                given: format!("index {index}"),
                pool,
            });
        }
        let base = u32::from(pool.network()) + (index << (32 - BRIDGE_PREFIX_LEN));
        Ok(BridgeSubnet {
            kind,
            cidr: Ipv4Net::new_assert(Ipv4Addr::from(base), BRIDGE_PREFIX_LEN),
        })
    }

    /// Checks a CIDR read back from the store or a pod: a /24, with no host
    /// bits set, inside the kind's pool.
    pub fn from_cidr(kind: BridgeKind, cidr: Ipv4Net) -> Result<BridgeSubnet, L3Error> {
        let pool = kind.pool();
        if cidr.prefix_len() != BRIDGE_PREFIX_LEN
            || cidr.network() != cidr.addr()
            || !pool.contains(&cidr)
        {
            return Err(L3Error::NotABridgeCidr {
                kind,
                given: cidr.to_string(),
                pool,
            });
        }
        Ok(BridgeSubnet { kind, cidr })
    }

    /// Parses `100.0.3.0/24` and checks it as [`BridgeSubnet::from_cidr`].
    pub fn parse(kind: BridgeKind, s: &str) -> Result<BridgeSubnet, L3Error> {
        let cidr = s
            .trim()
            .parse::<Ipv4Net>()
            .map_err(|_| L3Error::NotABridgeCidr {
                kind,
                given: s.to_string(),
                pool: kind.pool(),
            })?;
        BridgeSubnet::from_cidr(kind, cidr)
    }

    /// The lowest /24 of the pool not in `taken` (CIDRs outside the pool or
    /// not /24s are ignored: they cannot collide with one that is).
    pub fn allocate<'a>(
        kind: BridgeKind,
        taken: impl IntoIterator<Item = &'a Ipv4Net>,
    ) -> Result<BridgeSubnet, L3Error> {
        let taken: BTreeSet<u32> = taken
            .into_iter()
            .filter_map(|c| BridgeSubnet::from_cidr(kind, *c).ok())
            .map(|b| b.index())
            .collect();
        let index = lowest_free(&[0..=CIDRS_PER_POOL - 1], &taken).ok_or(
            L3Error::BridgeCidrsExhausted {
                kind,
                pool: kind.pool(),
            },
        )?;
        BridgeSubnet::from_index(kind, index)
    }

    pub fn kind(&self) -> BridgeKind {
        self.kind
    }

    pub fn cidr(&self) -> Ipv4Net {
        self.cidr
    }

    /// Position of this /24 in its pool; `from_index(kind, index())` gives it
    /// back.
    pub fn index(&self) -> u32 {
        (u32::from(self.cidr.network()) - u32::from(self.kind.pool().network()))
            >> (32 - BRIDGE_PREFIX_LEN)
    }

    /// The subnet's `gateway_ip` (`.1`). No bottom router of the east-west
    /// bridge holds it (each has its own port); on the north-south bridge the
    /// gateway pod's bottom router does, which is what makes it the other
    /// pods' default route.
    pub fn gateway_ip(&self) -> Ipv4Addr {
        self.host(1)
    }

    /// First and last address of the subnet's allocation pool (`.2`–`.254`),
    /// for the top subnet's `allocation_pools`.
    pub fn allocation_pool(&self) -> (Ipv4Addr, Ipv4Addr) {
        (self.host(FIRST_PORT_OFFSET), self.host(LAST_PORT_OFFSET))
    }

    /// Whether `ip` may be given to a bridge port: inside the subnet and not
    /// its network, gateway or broadcast address.
    pub fn is_port_ip(&self, ip: Ipv4Addr) -> bool {
        self.cidr.contains(&ip)
            && (FIRST_PORT_OFFSET..=LAST_PORT_OFFSET).contains(&self.offset_of(ip))
    }

    /// Checks an address read back from the store or a pod.
    pub fn check_port_ip(&self, ip: Ipv4Addr) -> Result<Ipv4Addr, L3Error> {
        if self.is_port_ip(ip) {
            Ok(ip)
        } else {
            Err(L3Error::NotABridgeIp {
                ip,
                cidr: self.cidr,
            })
        }
    }

    /// The lowest port address not in `taken` — a bottom router's bridge IP
    /// (one per pod and top router), a non-gateway pod's router gateway on
    /// the north-south bridge, or a double-NAT floating IP's inner address.
    /// Addresses outside the subnet in `taken` are ignored.
    pub fn allocate_ip<'a>(
        &self,
        taken: impl IntoIterator<Item = &'a Ipv4Addr>,
    ) -> Result<Ipv4Addr, L3Error> {
        let taken: BTreeSet<u32> = taken
            .into_iter()
            .filter(|ip| self.cidr.contains(*ip))
            .map(|ip| self.offset_of(*ip))
            .collect();
        lowest_free(&[FIRST_PORT_OFFSET..=LAST_PORT_OFFSET], &taken)
            .map(|o| self.host(o))
            .ok_or(L3Error::BridgeIpsExhausted { cidr: self.cidr })
    }

    fn host(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr.network()) + offset)
    }

    /// Offset of an address inside the subnet (callers check containment).
    fn offset_of(&self, ip: Ipv4Addr) -> u32 {
        u32::from(ip).wrapping_sub(u32::from(self.cidr.network()))
    }
}

impl fmt::Display for BridgeSubnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cidr.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn pools_are_the_two_halves_of_100_0_0_0_slash_8() {
        assert_eq!(BridgeKind::EastWest.pool(), net("100.0.0.0/9"));
        assert_eq!(BridgeKind::NorthSouth.pool(), net("100.128.0.0/9"));
    }

    #[test]
    fn indexes_map_to_the_24s_of_the_pool_and_back() {
        let ew = |i| BridgeSubnet::from_index(BridgeKind::EastWest, i).unwrap();
        let ns = |i| BridgeSubnet::from_index(BridgeKind::NorthSouth, i).unwrap();
        assert_eq!(ew(0).cidr(), net("100.0.0.0/24"));
        assert_eq!(ew(1).cidr(), net("100.0.1.0/24"));
        assert_eq!(ew(256).cidr(), net("100.1.0.0/24"));
        assert_eq!(ew(32767).cidr(), net("100.127.255.0/24"));
        assert_eq!(ns(0).cidr(), net("100.128.0.0/24"));
        assert_eq!(ns(32767).cidr(), net("100.255.255.0/24"));
        assert_eq!(ns(515).index(), 515);
        assert!(BridgeSubnet::from_index(BridgeKind::EastWest, 32768).is_err());
    }

    #[test]
    fn parse_accepts_only_aligned_24s_inside_the_pool() {
        let ew = |s| BridgeSubnet::parse(BridgeKind::EastWest, s);
        assert_eq!(ew(" 100.0.3.0/24").unwrap().index(), 3);
        assert_eq!(ew("100.0.3.0/24").unwrap().to_string(), "100.0.3.0/24");
        for bad in [
            "100.0.3.0/25",
            "100.0.3.0/23",
            "100.0.3.7/24",
            "100.128.0.0/24",
            "10.0.0.0/24",
            "100.0.3.0",
            "garbage",
        ] {
            let err = ew(bad).unwrap_err();
            assert!(
                matches!(err, L3Error::NotABridgeCidr { .. }),
                "{bad}: {err:?}"
            );
        }
        assert!(BridgeSubnet::parse(BridgeKind::NorthSouth, "100.128.9.0/24").is_ok());
    }

    #[test]
    fn allocation_takes_the_lowest_free_24_and_ignores_foreign_cidrs() {
        let kind = BridgeKind::EastWest;
        assert_eq!(
            BridgeSubnet::allocate(kind, &[]).unwrap().cidr(),
            net("100.0.0.0/24")
        );
        let taken = [
            net("100.0.0.0/24"),
            net("100.0.2.0/24"),
            net("100.0.1.0/25"),   // not a /24: ignored
            net("100.128.1.0/24"), // the other pool: ignored
        ];
        assert_eq!(
            BridgeSubnet::allocate(kind, &taken).unwrap().cidr(),
            net("100.0.1.0/24")
        );
    }

    #[test]
    fn allocation_of_a_full_pool_is_an_error() {
        let kind = BridgeKind::NorthSouth;
        let all: Vec<Ipv4Net> = (0..CIDRS_PER_POOL)
            .map(|i| BridgeSubnet::from_index(kind, i).unwrap().cidr())
            .collect();
        assert_eq!(
            BridgeSubnet::allocate(kind, &all),
            Err(L3Error::BridgeCidrsExhausted {
                kind,
                pool: kind.pool()
            })
        );
        assert_eq!(
            BridgeSubnet::allocate(kind, &all[1..]).unwrap().index(),
            0,
            "a freed /24 is given out again"
        );
    }

    #[test]
    fn bridge_ips_skip_network_gateway_and_broadcast() {
        let b = BridgeSubnet::parse(BridgeKind::EastWest, "100.0.7.0/24").unwrap();
        assert_eq!(b.gateway_ip(), ip("100.0.7.1"));
        assert_eq!(b.allocation_pool(), (ip("100.0.7.2"), ip("100.0.7.254")));
        assert_eq!(b.allocate_ip(&[]).unwrap(), ip("100.0.7.2"));
        let taken = [ip("100.0.7.2"), ip("100.0.7.4"), ip("10.0.0.3")];
        assert_eq!(b.allocate_ip(&taken).unwrap(), ip("100.0.7.3"));
        for bad in ["100.0.7.0", "100.0.7.1", "100.0.7.255", "100.0.8.2"] {
            assert!(!b.is_port_ip(ip(bad)), "{bad}");
            assert!(b.check_port_ip(ip(bad)).is_err(), "{bad}");
        }
        assert_eq!(b.check_port_ip(ip("100.0.7.254")), Ok(ip("100.0.7.254")));
    }

    #[test]
    fn a_full_bridge_subnet_is_an_error() {
        let b = BridgeSubnet::from_index(BridgeKind::EastWest, 9).unwrap();
        let mut taken = Vec::new();
        for _ in 0..253 {
            let next = b.allocate_ip(&taken).unwrap();
            assert!(!taken.contains(&next));
            taken.push(next);
        }
        assert_eq!(
            b.allocate_ip(&taken),
            Err(L3Error::BridgeIpsExhausted { cidr: b.cidr() })
        );
    }

    #[test]
    fn tenant_subnets_overlapping_a_pool_are_named() {
        assert!(overlaps_bridge_pools(net("100.0.5.0/24")));
        assert!(overlaps_bridge_pools(net("100.200.0.0/16")));
        assert!(overlaps_bridge_pools(net("96.0.0.0/4")));
        assert!(!overlaps_bridge_pools(net("10.0.0.0/24")));
        assert!(!overlaps_bridge_pools(net("101.0.0.0/8")));
    }
}
