//! `[network]` and the network quotas of `[quota]`: the top Neutron.

use super::quota::quota_value;
use super::raw::Raw;
use super::ConfigError;

/// `[network]` and the network quotas of `[quota]`.
pub(super) fn network_config(r: &Raw) -> Result<tricircle_network::NetworkConfig, ConfigError> {
    use tricircle_network::{NetworkConfig, NeutronQuotas};
    let defaults = NetworkConfig::default();
    let default_vni_ranges = defaults
        .vni_ranges
        .iter()
        .map(|(lo, hi)| format!("{lo}:{hi}"))
        .collect::<Vec<_>>()
        .join(",");
    let with = |option: &str, expected: &str| {
        let option = option.to_string();
        let expected = expected.to_string();
        move |e: String| {
            let (value, origin) = r
                .values
                .get(&("network".to_string(), option.clone()))
                .cloned()
                .unwrap_or_default();
            ConfigError::Invalid {
                section: "network".into(),
                option: option.clone(),
                value,
                origin,
                expected: format!("{expected} ({e})"),
            }
        }
    };
    let q = NeutronQuotas::default();
    Ok(NetworkConfig {
        tenant_network_types: NetworkConfig::parse_network_types(&r.str(
            "network",
            "tenant_network_types",
            &defaults.tenant_network_types.join(","),
        ))
        .map_err(with(
            "tenant_network_types",
            "a list of local, vlan, vxlan, flat",
        ))?,
        network_vlan_ranges: NetworkConfig::parse_vlan_ranges(&r.str(
            "network",
            "network_vlan_ranges",
            "",
        ))
        .map_err(with(
            "network_vlan_ranges",
            "physical_network[:min:max] items separated by commas",
        ))?,
        vni_ranges: NetworkConfig::parse_vni_ranges(&r.str(
            "network",
            "vni_ranges",
            &default_vni_ranges,
        ))
        .map_err(with("vni_ranges", "min:max items separated by commas"))?,
        flat_networks: r
            .str("network", "flat_networks", "*")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        global_physnet_mtu: r.parse(
            "network",
            "global_physnet_mtu",
            defaults.global_physnet_mtu,
            "an MTU from 68 to 65535",
            |v| (68..=65_535).contains(v),
        )?,
        quotas: NeutronQuotas {
            network: quota_value(r, "quota_network", q.network)?,
            subnet: quota_value(r, "quota_subnet", q.subnet)?,
            port: quota_value(r, "quota_port", q.port)?,
            security_group: quota_value(r, "quota_security_group", q.security_group)?,
            security_group_rule: quota_value(
                r,
                "quota_security_group_rule",
                q.security_group_rule,
            )?,
            router: quota_value(r, "quota_router", q.router)?,
            floatingip: quota_value(r, "quota_floatingip", q.floatingip)?,
        },
        ..defaults
    })
}
