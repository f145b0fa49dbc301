//! Networks, with ML2-like provider segments: `local`, `flat`, `vlan`
//! (per physical network) and `vxlan` (the default, with a VNI allocated
//! when none is given). A segment is used by one network of the pod.

use serde_json::{json, Value};

use super::error::{NResult, NeutronError};
use super::model::{b, copy_keys, new_record, s, touch, Kind, Record, State};
use super::{ports, subnets, Ctx};

const MAX_VLAN: i64 = 4094;
const MAX_VNI: i64 = 16_777_215;

/// A network's segment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    network_type: String,
    physical_network: Option<String>,
    segmentation_id: Option<i64>,
}

/// The largest MTU a network of this type may have.
fn max_mtu(network_type: &str) -> i64 {
    if network_type == "vxlan" {
        1450
    } else {
        1500
    }
}

fn segment_of(r: &Record) -> Segment {
    Segment {
        network_type: s(r, "provider:network_type").to_string(),
        physical_network: r
            .get("provider:physical_network")
            .and_then(Value::as_str)
            .map(str::to_string),
        segmentation_id: r.get("provider:segmentation_id").and_then(Value::as_i64),
    }
}

fn segment_in_use(st: &State, seg: &Segment, except: Option<&str>) -> bool {
    st.networks
        .iter()
        .filter(|n| Some(s(n, "id")) != except)
        .map(segment_of)
        .any(|other| match seg.network_type.as_str() {
            "vlan" => {
                other.network_type == "vlan"
                    && other.physical_network == seg.physical_network
                    && other.segmentation_id == seg.segmentation_id
            }
            "vxlan" => {
                other.network_type == "vxlan" && other.segmentation_id == seg.segmentation_id
            }
            "flat" => {
                other.network_type == "flat" && other.physical_network == seg.physical_network
            }
            _ => false,
        })
}

fn in_use_error(seg: &Segment) -> NeutronError {
    let physnet = seg.physical_network.clone().unwrap_or_default();
    let id = seg.segmentation_id.unwrap_or_default();
    match seg.network_type.as_str() {
        "vlan" => NeutronError::conflict(
            "VlanIdInUse",
            format!(
                "Unable to create the network. The VLAN {id} on physical network {physnet} is \
                 in use."
            ),
        ),
        "flat" => NeutronError::conflict(
            "FlatNetworkInUse",
            format!("Unable to create the flat network. Physical network {physnet} is in use."),
        ),
        _ => NeutronError::conflict(
            "TunnelIdInUse",
            format!("Unable to create the network. The tunnel ID {id} is in use."),
        ),
    }
}

/// The lowest id of `1..=max` no network of this type (and physnet) uses.
fn allocate_id(st: &State, seg: &Segment, max: i64) -> NResult<i64> {
    for id in 1..=max {
        let candidate = Segment {
            segmentation_id: Some(id),
            ..seg.clone()
        };
        if !segment_in_use(st, &candidate, None) {
            return Ok(id);
        }
    }
    Err(NeutronError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "NoNetworkAvailable",
        "Unable to create the network. No tenant network is available for allocation.",
    ))
}

/// The segment a create asks for (ML2's `validate_provider_segment` and
/// `reserve_provider_segment`).
fn requested_segment(st: &State, ctx: &Ctx, res: &Record) -> NResult<Segment> {
    let get_str = |k: &str| res.get(k).and_then(Value::as_str).map(str::to_string);
    let network_type = get_str("provider:network_type");
    let physical_network = get_str("provider:physical_network").filter(|p| !p.is_empty());
    let segmentation_id = res.get("provider:segmentation_id").and_then(Value::as_i64);
    let Some(network_type) = network_type else {
        if physical_network.is_some() || segmentation_id.is_some() {
            return Err(NeutronError::invalid_input("network_type required"));
        }
        let seg = Segment {
            network_type: "vxlan".into(),
            physical_network: None,
            segmentation_id: None,
        };
        let id = allocate_id(st, &seg, MAX_VNI)?;
        return Ok(Segment {
            segmentation_id: Some(id),
            ..seg
        });
    };
    let prohibited = |key: &str, what: &str| {
        NeutronError::invalid_input(&format!("{key} prohibited for {what} provider network"))
    };
    // ML2's type drivers refuse a physical network they were not given.
    let known = |physnet: &str, what: &str| {
        if ctx.physical_networks.is_empty() || ctx.physical_networks.iter().any(|p| p == physnet) {
            Ok(())
        } else {
            Err(NeutronError::invalid_input(&format!(
                "physical_network '{physnet}' unknown for {what} provider network"
            )))
        }
    };
    let seg = match network_type.as_str() {
        "local" => {
            if physical_network.is_some() {
                return Err(prohibited("physical_network", "local"));
            }
            if segmentation_id.is_some() {
                return Err(prohibited("segmentation_id", "local"));
            }
            Segment {
                network_type,
                physical_network: None,
                segmentation_id: None,
            }
        }
        "flat" => {
            if physical_network.is_none() {
                return Err(NeutronError::invalid_input(
                    "physical_network required for flat provider network",
                ));
            }
            if segmentation_id.is_some() {
                return Err(prohibited("segmentation_id", "flat"));
            }
            known(physical_network.as_deref().unwrap_or_default(), "flat")?;
            Segment {
                network_type,
                physical_network,
                segmentation_id: None,
            }
        }
        "vlan" => {
            if physical_network.is_none() && segmentation_id.is_some() {
                return Err(NeutronError::invalid_input(
                    "segmentation_id requires physical_network for VLAN provider network",
                ));
            }
            let physnet = physical_network.unwrap_or_else(|| {
                ctx.physical_networks
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "physnet1".to_string())
            });
            known(&physnet, "VLAN")?;
            let mut seg = Segment {
                network_type,
                physical_network: Some(physnet),
                segmentation_id,
            };
            match segmentation_id {
                Some(id) if !(1..=MAX_VLAN).contains(&id) => {
                    return Err(NeutronError::invalid_input(&format!(
                        "segmentation_id out of range (1 through {MAX_VLAN})"
                    )))
                }
                Some(_) => {}
                None => seg.segmentation_id = Some(allocate_id(st, &seg, MAX_VLAN)?),
            }
            seg
        }
        "vxlan" => {
            if physical_network.is_some() {
                return Err(NeutronError::invalid_input(
                    "provider:physical_network specified for vxlan network",
                ));
            }
            let mut seg = Segment {
                network_type,
                physical_network: None,
                segmentation_id,
            };
            match segmentation_id {
                Some(id) if !(1..=MAX_VNI).contains(&id) => {
                    return Err(NeutronError::invalid_input(&format!(
                        "segmentation_id out of range (1 through {MAX_VNI})"
                    )))
                }
                Some(_) => {}
                None => seg.segmentation_id = Some(allocate_id(st, &seg, MAX_VNI)?),
            }
            seg
        }
        other => {
            return Err(NeutronError::invalid_input(&format!(
                "network_type value '{other}' not supported"
            )))
        }
    };
    if segment_in_use(st, &seg, None) {
        return Err(in_use_error(&seg));
    }
    Ok(seg)
}

fn check_mtu(mtu: i64, network_type: &str) -> NResult<()> {
    let max = max_mtu(network_type);
    if mtu > max {
        return Err(NeutronError::invalid_input(&format!(
            "Requested MTU is too big, maximum is {max}"
        )));
    }
    if mtu < 68 {
        return Err(NeutronError::bad_request(format!(
            "Invalid input for mtu. Reason: '{mtu}' is too small - must be at least '68'."
        )));
    }
    Ok(())
}

/// Availability zone hints must name zones of this pod.
pub(super) fn check_az_hints(ctx: &Ctx, hints: Option<&Value>) -> NResult<Value> {
    let Some(hints) = hints else {
        return Ok(json!([]));
    };
    let list = hints.as_array().cloned().unwrap_or_default();
    for h in &list {
        let Some(name) = h.as_str() else {
            return Err(NeutronError::bad_request(format!(
                "Invalid input for availability_zone_hints. Reason: '{h}' is not a valid string."
            )));
        };
        if name != ctx.az {
            return Err(NeutronError::not_found(
                "AvailabilityZoneNotFound",
                format!("AvailabilityZone {name} could not be found."),
            ));
        }
    }
    Ok(Value::Array(list))
}

pub(super) fn create(st: &mut State, ctx: &Ctx, res: Record) -> NResult<String> {
    let seg = requested_segment(st, ctx, &res)?;
    let mtu = match res.get("mtu").and_then(Value::as_i64) {
        Some(m) => {
            check_mtu(m, &seg.network_type)?;
            m
        }
        None => max_mtu(&seg.network_type),
    };
    let hints = check_az_hints(ctx, res.get("availability_zone_hints"))?;
    let mut r = new_record(s(&res, "project_id"));
    r.insert("name".into(), json!(""));
    r.insert("admin_state_up".into(), json!(true));
    r.insert("status".into(), json!("ACTIVE"));
    r.insert("subnets".into(), json!([]));
    r.insert("shared".into(), json!(false));
    r.insert("router:external".into(), json!(false));
    r.insert("port_security_enabled".into(), json!(true));
    r.insert("availability_zone_hints".into(), hints);
    r.insert("availability_zones".into(), json!([ctx.az]));
    r.insert("ipv4_address_scope".into(), Value::Null);
    r.insert("ipv6_address_scope".into(), Value::Null);
    r.insert("l2_adjacency".into(), json!(true));
    r.insert("is_default".into(), json!(false));
    copy_keys(
        &mut r,
        &res,
        &[
            "name",
            "admin_state_up",
            "shared",
            "router:external",
            "port_security_enabled",
            "description",
            "tags",
        ],
    );
    r.insert("mtu".into(), json!(mtu));
    r.insert("provider:network_type".into(), json!(seg.network_type));
    r.insert(
        "provider:physical_network".into(),
        json!(seg.physical_network),
    );
    r.insert(
        "provider:segmentation_id".into(),
        json!(seg.segmentation_id),
    );
    let id = s(&r, "id").to_string();
    st.networks.push(r);
    Ok(id)
}

pub(super) fn update(st: &mut State, _ctx: &Ctx, id: &str, res: Record) -> NResult<()> {
    let current = st
        .get(Kind::Network, id)
        .ok_or_else(|| Kind::Network.not_found(id))?;
    let seg = segment_of(current);
    let mut new_seg = seg.clone();
    let provider_keys = [
        "provider:network_type",
        "provider:physical_network",
        "provider:segmentation_id",
    ];
    if provider_keys.iter().any(|k| res.contains_key(*k)) {
        if let Some(t) = res.get("provider:network_type") {
            if t.as_str() != Some(seg.network_type.as_str()) || seg.network_type != "vlan" {
                return Err(NeutronError::invalid_input(
                    "Only VLAN type networks can be updated.",
                ));
            }
        }
        if let Some(p) = res.get("provider:physical_network") {
            if p.as_str() != seg.physical_network.as_deref() {
                return Err(NeutronError::invalid_input(
                    "Only provider:segmentation_id field can be updated in VLAN type networks",
                ));
            }
        }
        if let Some(v) = res.get("provider:segmentation_id") {
            if seg.network_type != "vlan" {
                return Err(NeutronError::invalid_input(
                    "Only VLAN type networks can be updated.",
                ));
            }
            let id = v.as_i64().unwrap_or_default();
            if !(1..=MAX_VLAN).contains(&id) {
                return Err(NeutronError::invalid_input(&format!(
                    "segmentation_id out of range (1 through {MAX_VLAN})"
                )));
            }
            new_seg.segmentation_id = Some(id);
            if new_seg != seg && segment_in_use(st, &new_seg, Some(s(current, "id"))) {
                return Err(in_use_error(&new_seg));
            }
        }
    }
    if let Some(m) = res.get("mtu").and_then(Value::as_i64) {
        check_mtu(m, &seg.network_type)?;
    }
    if res.get("router:external") == Some(&json!(false)) && b(current, "router:external") {
        let has_gateways = st.ports.iter().any(|p| {
            s(p, "network_id") == id && s(p, "device_owner") == ports::OWNER_ROUTER_GATEWAY
        });
        if has_gateways {
            return Err(NeutronError::conflict(
                "ExternalNetworkInUse",
                format!(
                    "External network {id} cannot be updated to be made non-external, since it \
                     has existing gateway ports."
                ),
            ));
        }
    }
    let Some(r) = st.get_mut(Kind::Network, id) else {
        return Err(Kind::Network.not_found(id));
    };
    copy_keys(
        r,
        &res,
        &[
            "name",
            "admin_state_up",
            "shared",
            "router:external",
            "mtu",
            "port_security_enabled",
            "description",
        ],
    );
    r.insert(
        "provider:segmentation_id".into(),
        json!(new_seg.segmentation_id),
    );
    touch(r);
    Ok(())
}

/// Deletes the network, its subnets and its DHCP ports; any other port
/// keeps it in use (as ML2 does: only DHCP ports are deleted for you).
pub(super) fn delete(st: &mut State, id: &str) -> NResult<()> {
    let busy = st
        .ports
        .iter()
        .any(|p| s(p, "network_id") == id && s(p, "device_owner") != ports::OWNER_DHCP);
    if busy {
        return Err(NeutronError::conflict(
            "NetworkInUse",
            format!(
                "Unable to complete operation on network {id}. There are one or more ports \
                 still in use on the network."
            ),
        ));
    }
    st.ports
        .retain(|p| !(s(p, "network_id") == id && s(p, "device_owner") == ports::OWNER_DHCP));
    let subnet_ids: Vec<String> = st
        .subnets
        .iter()
        .filter(|sn| s(sn, "network_id") == id)
        .map(|sn| s(sn, "id").to_string())
        .collect();
    for sid in subnet_ids {
        subnets::delete(st, &sid)?;
    }
    st.remove(Kind::Network, id);
    Ok(())
}
