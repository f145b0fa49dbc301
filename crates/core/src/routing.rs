//! Routing entries: where a top resource lives in a pod.

use std::fmt;
use std::str::FromStr;

/// The kinds of resource Tricircle records a routing for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Server,
    Volume,
    Snapshot,
    Backup,
    Network,
    Subnet,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    FloatingIp,
    Flavor,
    Keypair,
    VolumeType,
    Aggregate,
    ServerGroup,
    /// A volume transfer offered by its volume's project.
    Transfer,
}

impl ResourceType {
    pub const ALL: [ResourceType; 17] = [
        ResourceType::Server,
        ResourceType::Volume,
        ResourceType::Snapshot,
        ResourceType::Backup,
        ResourceType::Network,
        ResourceType::Subnet,
        ResourceType::Port,
        ResourceType::Router,
        ResourceType::SecurityGroup,
        ResourceType::SecurityGroupRule,
        ResourceType::FloatingIp,
        ResourceType::Flavor,
        ResourceType::Keypair,
        ResourceType::VolumeType,
        ResourceType::Aggregate,
        ResourceType::ServerGroup,
        ResourceType::Transfer,
    ];

    /// The wire name used in the routing table and the admin API (the
    /// original's constants).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Server => "server",
            ResourceType::Volume => "volume",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Backup => "backup",
            ResourceType::Network => "network",
            ResourceType::Subnet => "subnet",
            ResourceType::Port => "port",
            ResourceType::Router => "router",
            ResourceType::SecurityGroup => "security_group",
            ResourceType::SecurityGroupRule => "security_group_rule",
            ResourceType::FloatingIp => "floatingip",
            ResourceType::Flavor => "flavor",
            ResourceType::Keypair => "keypair",
            ResourceType::VolumeType => "volume_type",
            ResourceType::Aggregate => "aggregate",
            ResourceType::ServerGroup => "server_group",
            ResourceType::Transfer => "transfer",
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ResourceType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ResourceType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown resource_type '{0}'")]
pub struct UnknownResourceType(pub String);

impl FromStr for ResourceType {
    type Err = UnknownResourceType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownResourceType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(t.as_str().parse::<ResourceType>(), Ok(t));
        }
        assert!("servers".parse::<ResourceType>().is_err());
    }
}
