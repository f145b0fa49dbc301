//! Top IPAM, the pure part: CIDRs, allocation pools, the lowest free
//! address, MAC addresses, EUI-64. No IO; the store decides races.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use rand::Rng;

/// An inclusive range of addresses of one IP version, as integers.
pub(crate) type Range = (u128, u128);

pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub(crate) fn from_u128(v: u128, version: u8) -> IpAddr {
    if version == 4 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

pub(crate) fn version(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        4
    } else {
        6
    }
}

pub(crate) fn net_version(net: &IpNet) -> u8 {
    version(net.addr())
}

/// An IP address, in the canonical spelling we store.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok()
}

/// A subnet CIDR: a network address and prefix, host bits clear (the
/// reason is Neutron's message).
pub(crate) fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net = match s.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => {
            if let Some(ip) = parse_ip(s) {
                let full = IpNet::from(ip);
                return Err(format!(
                    "'{s}' isn't a recognized IP subnet cidr, '{full}' is recommended"
                ));
            }
            return Err(format!("'{s}' is not a valid IP subnet"));
        }
    };
    if net.trunc() != net {
        return Err(format!(
            "'{s}' isn't a recognized IP subnet cidr, '{}' is recommended",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A CIDR with host bits allowed (remote prefixes, host routes), as its
/// network.
pub(crate) fn parse_prefix(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| parse_ip(s).map(IpNet::from))
        .map(|n| n.trunc())
}

pub(crate) fn bounds(net: &IpNet) -> Range {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

/// The first and last addresses pools may hold: not the network address,
/// not the IPv4 broadcast.
pub(crate) fn usable(net: &IpNet) -> Option<Range> {
    let (first, last) = bounds(net);
    if first == last {
        return Some((first, last));
    }
    let lo = first + 1;
    let hi = last - u128::from(net_version(net) == 4);
    (lo < hi).then_some((lo, hi))
}

/// The gateway a subnet gets by default: its first host address.
pub(crate) fn default_gateway(net: &IpNet) -> Option<IpAddr> {
    let (lo, hi) = usable(net)?;
    (lo < hi).then(|| from_u128(lo, net_version(net)))
}

/// Pools covering the usable range minus the gateway.
pub(crate) fn default_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<Range> {
    let Some((lo, hi)) = usable(net) else {
        return Vec::new();
    };
    match gateway.map(to_u128).filter(|g| (lo..=hi).contains(g)) {
        None => vec![(lo, hi)],
        Some(g) => {
            let mut out = Vec::new();
            if g > lo {
                out.push((lo, g - 1));
            }
            if g < hi {
                out.push((g + 1, hi));
            }
            out
        }
    }
}

/// Why a set of pools is not acceptable: `(exception type, message)`.
pub(crate) fn check_pools(net: &IpNet, pools: &[Range]) -> Result<(), (&'static str, String)> {
    let v = net_version(net);
    let (lo, hi) = usable(net).unwrap_or(bounds(net));
    let show = |r: &Range| format!("{}-{}", from_u128(r.0, v), from_u128(r.1, v));
    for p in pools {
        if p.1 < p.0 {
            return Err((
                "InvalidAllocationPool",
                format!("The allocation pool {} is not valid.", show(p)),
            ));
        }
        if p.0 < lo || p.1 > hi {
            return Err((
                "OutOfBoundsAllocationPool",
                format!(
                    "The allocation pool {} spans beyond the subnet cidr {net}.",
                    show(p)
                ),
            ));
        }
    }
    let mut sorted = pools.to_vec();
    sorted.sort();
    for w in sorted.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err((
                "OverlappingAllocationPools",
                format!(
                    "Found overlapping allocation pools: {} and {} for subnet {net}.",
                    show(&w[0]),
                    show(&w[1])
                ),
            ));
        }
    }
    Ok(())
}

/// The lowest address of the pools (in their order) not taken.
pub(crate) fn lowest_free(pools: &[Range], taken: &HashSet<u128>) -> Option<u128> {
    for &(lo, hi) in pools {
        let mut a = lo;
        loop {
            if !taken.contains(&a) {
                return Some(a);
            }
            if a == hi {
                break;
            }
            a += 1;
        }
    }
    None
}

/// A random MAC in OpenStack's `fa:16:3e` prefix.
pub(crate) fn random_mac() -> String {
    let mut rng = rand::rng();
    let b: [u8; 3] = rng.random();
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// A unicast MAC address, lowercase with colons; None if malformed,
/// multicast or all zeros.
pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let sep = if s.contains('-') { '-' } else { ':' };
    let parts: Vec<&str> = s.split(sep).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return None;
        }
        out[i] = u8::from_str_radix(p, 16).ok()?;
    }
    if out == [0; 6] || out[0] & 1 == 1 {
        return None;
    }
    Some(out)
}

pub(crate) fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The SLAAC address of a MAC in a /64 (modified EUI-64).
pub(crate) fn eui64(net: &IpNet, mac: &str) -> Option<IpAddr> {
    if net_version(net) != 6 || net.prefix_len() != 64 {
        return None;
    }
    let m = parse_mac(mac)?;
    let iid: u64 = u64::from_be_bytes([m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    Some(from_u128(to_u128(net.network()) | u128::from(iid), 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        parse_cidr(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(s: &str) -> u128 {
        to_u128(parse_ip(s).unwrap_or_else(|| panic!("{s}")))
    }

    #[test]
    fn cidrs() {
        assert!(parse_cidr("10.0.0.0/24").is_ok());
        assert_eq!(
            parse_cidr("10.0.0.1/24").err().as_deref(),
            Some("'10.0.0.1/24' isn't a recognized IP subnet cidr, '10.0.0.0/24' is recommended")
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("garbage").is_err());
        assert!(parse_cidr("10.0.0.1").is_err());
        assert!(parse_cidr("2001:db8::/64").is_ok());
    }

    #[test]
    fn pools_by_default() {
        let n = net("10.0.0.0/24");
        let gw = default_gateway(&n);
        assert_eq!(gw.map(|g| g.to_string()).as_deref(), Some("10.0.0.1"));
        assert_eq!(
            default_pools(&n, gw),
            vec![(ip("10.0.0.2"), ip("10.0.0.254"))]
        );
        // A gateway in the middle splits the pool.
        let mid = parse_ip("10.0.0.100");
        assert_eq!(
            default_pools(&n, mid),
            vec![
                (ip("10.0.0.1"), ip("10.0.0.99")),
                (ip("10.0.0.101"), ip("10.0.0.254"))
            ]
        );
        let v6 = net("2001:db8::/64");
        assert_eq!(
            default_pools(&v6, default_gateway(&v6)),
            vec![(ip("2001:db8::2"), ip("2001:db8::ffff:ffff:ffff:ffff"))]
        );
        assert_eq!(default_pools(&net("10.0.0.0/31"), None), vec![]);
    }

    #[test]
    fn pool_checks() {
        let n = net("10.0.0.0/24");
        assert!(check_pools(&n, &[(ip("10.0.0.2"), ip("10.0.0.10"))]).is_ok());
        assert_eq!(
            check_pools(&n, &[(ip("10.0.0.0"), ip("10.0.0.10"))])
                .err()
                .map(|e| e.0),
            Some("OutOfBoundsAllocationPool")
        );
        assert_eq!(
            check_pools(&n, &[(ip("10.0.0.2"), ip("10.0.0.255"))])
                .err()
                .map(|e| e.0),
            Some("OutOfBoundsAllocationPool")
        );
        assert_eq!(
            check_pools(
                &n,
                &[
                    (ip("10.0.0.2"), ip("10.0.0.10")),
                    (ip("10.0.0.10"), ip("10.0.0.20"))
                ]
            )
            .err()
            .map(|e| e.0),
            Some("OverlappingAllocationPools")
        );
        assert_eq!(
            check_pools(&n, &[(ip("10.0.0.9"), ip("10.0.0.2"))])
                .err()
                .map(|e| e.0),
            Some("InvalidAllocationPool")
        );
    }

    #[test]
    fn lowest_free_skips_taken() {
        let pools = [(10, 12), (20, 21)];
        let mut taken = HashSet::new();
        assert_eq!(lowest_free(&pools, &taken), Some(10));
        taken.extend([10, 11, 12]);
        assert_eq!(lowest_free(&pools, &taken), Some(20));
        taken.extend([20, 21]);
        assert_eq!(lowest_free(&pools, &taken), None);
    }

    #[test]
    fn macs() {
        let m = random_mac();
        assert!(m.starts_with("fa:16:3e:"));
        assert!(parse_mac(&m).is_some());
        assert!(parse_mac("00:00:00:00:00:00").is_none());
        assert!(parse_mac("01:00:5e:00:00:01").is_none());
        assert!(parse_mac("zz:16:3e:00:00:01").is_none());
        assert_eq!(
            parse_mac("FA-16-3E-00-00-01")
                .map(|m| format_mac(&m))
                .as_deref(),
            Some("fa:16:3e:00:00:01")
        );
    }

    #[test]
    fn slaac_addresses() {
        let n = net("2001:db8::/64");
        assert_eq!(
            eui64(&n, "fa:16:3e:12:34:56")
                .map(|a| a.to_string())
                .as_deref(),
            Some("2001:db8::f816:3eff:fe12:3456")
        );
        assert!(eui64(&net("2001:db8::/80"), "fa:16:3e:12:34:56").is_none());
    }
}
