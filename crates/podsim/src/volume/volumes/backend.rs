//! The pod's only storage backend: its host name and what it reports to
//! the scheduler.

use std::collections::BTreeMap;

use crate::volume::api::Ctx;

/// What the pod's only backend reports to the scheduler (a subset of an LVM
/// backend's capabilities).
const BACKEND_CAPABILITIES: &[(&str, &str)] = &[
    ("volume_backend_name", "lvmdriver-1"),
    ("vendor_name", "Open Source"),
    ("driver_version", "3.0.0"),
    ("storage_protocol", "iSCSI"),
    ("thin_provisioning_support", "True"),
    ("thick_provisioning_support", "False"),
    ("multiattach", "True"),
    ("QoS_support", "False"),
];

/// Cinder's CapabilitiesFilter: every extra spec without a scope, or with
/// the `capabilities:` scope, must match what the backend reports (plain
/// equality, or `<is> True|False`); specs of other scopes are for others.
pub(crate) fn backend_satisfies(extra_specs: &BTreeMap<String, String>) -> bool {
    extra_specs.iter().all(|(key, wanted)| {
        let key = match key.split_once(':') {
            Some(("capabilities", k)) => k,
            Some(_) => return true,
            None => key.as_str(),
        };
        if key == "multiattach" || key == "RESKEY" {
            return true;
        }
        let Some((_, have)) = BACKEND_CAPABILITIES.iter().find(|(k, _)| *k == key) else {
            return false;
        };
        match wanted.strip_prefix("<is>") {
            Some(v) => v.trim().eq_ignore_ascii_case(have),
            None => wanted.trim() == *have,
        }
    })
}

/// `host@backend#pool` of the pod's only backend.
pub(crate) fn volume_host(ctx: &Ctx) -> String {
    format!("{}@lvmdriver-1#lvmdriver-1", host_name(ctx))
}

/// The pod's cinder host name.
pub(crate) fn host_name(ctx: &Ctx) -> String {
    if ctx.region.is_empty() {
        "podsim".to_string()
    } else {
        ctx.region.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod capability_tests {
    use super::*;

    fn specs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn capabilities_filter() {
        assert!(backend_satisfies(&specs(&[])));
        assert!(backend_satisfies(&specs(&[(
            "volume_backend_name",
            "lvmdriver-1"
        )])));
        assert!(backend_satisfies(&specs(&[(
            "capabilities:storage_protocol",
            "iSCSI"
        )])));
        assert!(backend_satisfies(&specs(&[(
            "thin_provisioning_support",
            "<is> True"
        )])));
        assert!(backend_satisfies(&specs(&[("tricircle:tier", "gold")])));
        assert!(!backend_satisfies(&specs(&[("tier", "gold")])));
        assert!(!backend_satisfies(&specs(&[(
            "volume_backend_name",
            "ceph"
        )])));
    }
}
