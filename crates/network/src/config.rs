//! What an operator configures about the top Neutron (`[network]` and
//! `[quota]` in tricircle.conf).

/// A physical network for VLANs, and the VLAN ids tenant networks may be
/// given on it (`physnet1:1000:2999`). Without a range (`physnet1`) the
/// physical network takes provider networks only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanRange {
    pub physical_network: String,
    pub range: Option<(u16, u16)>,
}

/// Default quotas of a project (negative: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeutronQuotas {
    pub network: i64,
    pub subnet: i64,
    pub port: i64,
    pub security_group: i64,
    pub security_group_rule: i64,
    pub router: i64,
    pub floatingip: i64,
}

impl Default for NeutronQuotas {
    fn default() -> Self {
        NeutronQuotas {
            network: 100,
            subnet: 100,
            port: 500,
            security_group: 10,
            security_group_rule: 100,
            router: 10,
            floatingip: 50,
        }
    }
}

impl NeutronQuotas {
    /// `(resource, limit)` in Neutron's names.
    pub fn items(&self) -> [(&'static str, i64); 7] {
        [
            ("network", self.network),
            ("subnet", self.subnet),
            ("port", self.port),
            ("security_group", self.security_group),
            ("security_group_rule", self.security_group_rule),
            ("router", self.router),
            ("floatingip", self.floatingip),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Types given to networks created without provider attributes, tried
    /// in order (the first that can allocate a segment wins).
    pub tenant_network_types: Vec<String>,
    pub network_vlan_ranges: Vec<VlanRange>,
    /// VxLAN VNIs for tenant networks, inclusive ranges.
    pub vni_ranges: Vec<(u32, u32)>,
    /// Physical networks that flat networks may use (`*`: any).
    pub flat_networks: Vec<String>,
    /// MTU of the underlying physical network; VxLAN networks get 50 less.
    pub global_physnet_mtu: u32,
    /// Most fixed IPs on one port.
    pub max_fixed_ips_per_port: usize,
    pub quotas: NeutronQuotas,
}

/// The VNIs of cross-pod tenant networks unless configured.
pub const DEFAULT_VNI_RANGE: (u32, u32) = (100_001, 110_000);

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            tenant_network_types: vec!["vxlan".into(), "local".into()],
            network_vlan_ranges: Vec::new(),
            // Above the pods' own tenant ranges (Neutron's samples use
            // 1:1000): the pods never hand these out themselves.
            vni_ranges: vec![(DEFAULT_VNI_RANGE.0, DEFAULT_VNI_RANGE.1)],
            flat_networks: vec!["*".into()],
            global_physnet_mtu: 1500,
            max_fixed_ips_per_port: 5,
            quotas: NeutronQuotas::default(),
        }
    }
}

/// The network types Tricircle knows.
pub const NETWORK_TYPES: &[&str] = &["local", "vlan", "vxlan", "flat"];

impl NetworkConfig {
    /// Parses `tenant_network_types` (`vxlan,local`).
    pub fn parse_network_types(s: &str) -> Result<Vec<String>, String> {
        let types: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(bad) = types.iter().find(|t| !NETWORK_TYPES.contains(&t.as_str())) {
            return Err(format!(
                "unknown network type '{bad}' (known: {})",
                NETWORK_TYPES.join(", ")
            ));
        }
        Ok(types)
    }

    /// Parses `network_vlan_ranges` (`physnet1:1000:2999,physnet2`).
    pub fn parse_vlan_ranges(s: &str) -> Result<Vec<VlanRange>, String> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let parts: Vec<&str> = item.split(':').map(str::trim).collect();
            let range = match parts.as_slice() {
                [name] if !name.is_empty() => None,
                [name, lo, hi] if !name.is_empty() => {
                    let parse = |v: &str| -> Result<u16, String> {
                        v.parse::<u16>()
                            .ok()
                            .filter(|n| (1..=4094).contains(n))
                            .ok_or_else(|| format!("'{item}': VLAN ids are 1 to 4094"))
                    };
                    let (lo, hi) = (parse(lo)?, parse(hi)?);
                    if lo > hi {
                        return Err(format!("'{item}': the range is empty"));
                    }
                    Some((lo, hi))
                }
                _ => {
                    return Err(format!(
                        "'{item}' is not physical_network or physical_network:min:max"
                    ))
                }
            };
            out.push(VlanRange {
                physical_network: parts[0].to_string(),
                range,
            });
        }
        Ok(out)
    }

    /// Parses `vni_ranges` (`1:1000,5000:6000`).
    pub fn parse_vni_ranges(s: &str) -> Result<Vec<(u32, u32)>, String> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let parse = |v: &str| -> Result<u32, String> {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_VNI).contains(n))
                    .ok_or_else(|| format!("'{item}': VNIs are 1 to {MAX_VNI}"))
            };
            let Some((lo, hi)) = item.split_once(':') else {
                return Err(format!("'{item}' is not min:max"));
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(format!("'{item}': the range is empty"));
            }
            out.push((lo, hi));
        }
        Ok(out)
    }

    /// The MTU a network of this type gets.
    pub fn mtu_of(&self, network_type: &str) -> u32 {
        match network_type {
            // VxLAN over IPv4 costs 50 bytes of headers.
            "vxlan" => self.global_physnet_mtu.saturating_sub(50),
            _ => self.global_physnet_mtu,
        }
    }
}

/// Largest VxLAN network identifier (24 bits), as the bridges' allocator
/// has it.
pub use tricircle_core::l3::MAX_VNI;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        assert_eq!(
            NetworkConfig::parse_vlan_ranges("physnet1:100:200, extern").unwrap_or_default(),
            vec![
                VlanRange {
                    physical_network: "physnet1".into(),
                    range: Some((100, 200))
                },
                VlanRange {
                    physical_network: "extern".into(),
                    range: None
                }
            ]
        );
        assert!(NetworkConfig::parse_vlan_ranges("p:0:10").is_err());
        assert!(NetworkConfig::parse_vlan_ranges("p:20:10").is_err());
        assert!(NetworkConfig::parse_vlan_ranges("p:1").is_err());
        assert_eq!(
            NetworkConfig::parse_vni_ranges("1:1000,5000:5001").unwrap_or_default(),
            vec![(1, 1000), (5000, 5001)]
        );
        assert!(NetworkConfig::parse_vni_ranges("0:10").is_err());
        assert!(NetworkConfig::parse_vni_ranges("10").is_err());
        assert_eq!(
            NetworkConfig::parse_network_types("vxlan, local").unwrap_or_default(),
            vec!["vxlan", "local"]
        );
        assert!(NetworkConfig::parse_network_types("gre").is_err());
    }
}
