//! A port's fixed IPs from the top IPAM: the requested ones, or chosen
//! from the subnets' pools.

use std::collections::HashSet;
use std::net::IpAddr;

use tricircle_store::{NeutronFilter, NeutronKind, NeutronTx};

use super::no_more_ips;
use super::parse::IpRequest;
use crate::ipam;
use crate::model::{Resource, Subnet};
use crate::{ErrorClass, Neutron, NeutronError};

impl Neutron {
    /// Chooses an address on a subnet: the SLAAC one, or the lowest free
    /// one of its pools. None when the subnet is full.
    pub(super) async fn pick_ip(
        &self,
        tx: &mut NeutronTx,
        subnet: &Subnet,
        mac: &str,
        chosen: &HashSet<(String, u128)>,
    ) -> Result<Option<IpAddr>, NeutronError> {
        let sid = subnet.id.as_str();
        let net = subnet.net()?;
        if subnet.auto_address() {
            return Ok(ipam::eui64(&net, mac));
        }
        tx.lock_subnet(sid).await?;
        let mut taken: HashSet<u128> = tx
            .subnet_allocations(sid)
            .await?
            .iter()
            .filter_map(|(ip, _)| ipam::parse_ip(ip).map(ipam::to_u128))
            .collect();
        // Addresses of deleted ports whose copies a pod may still hold.
        taken.extend(
            tx.held_ips(sid)
                .await?
                .iter()
                .filter_map(|ip| ipam::parse_ip(ip).map(ipam::to_u128)),
        );
        taken.extend(chosen.iter().filter(|(s, _)| s == sid).map(|(_, a)| *a));
        if let Some(g) = subnet.gateway() {
            taken.insert(ipam::to_u128(g));
        }
        Ok(ipam::lowest_free(&subnet.pool_ranges(), &taken)
            .map(|a| ipam::from_u128(a, ipam::net_version(&net))))
    }

    /// The fixed IPs of a port: the requested ones (validated, those it
    /// has already kept), or Neutron's default (one IPv4 address, SLAAC
    /// addresses, one stateful IPv6 address).
    pub(super) async fn assign_ips(
        &self,
        tx: &mut NeutronTx,
        network_id: &str,
        port_id: &str,
        mac: &str,
        requests: Option<&[IpRequest]>,
        current: &[(String, String)],
    ) -> Result<Vec<(String, String)>, NeutronError> {
        let docs = tx
            .list(
                NeutronKind::Subnet,
                &NeutronFilter {
                    eq: vec![("network_id".into(), vec![network_id.to_string()])],
                    ..Default::default()
                },
            )
            .await?;
        let mut subnets = Subnet::from_docs(&docs)?;
        subnets.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        let mut chosen: HashSet<(String, u128)> = HashSet::new();
        let mut out: Vec<(String, String)> = Vec::new();
        let Some(requests) = requests else {
            let v4: Vec<&Subnet> = subnets.iter().filter(|s| s.ip_version == 4).collect();
            if !v4.is_empty() {
                let mut got = false;
                for s in v4 {
                    if let Some(ip) = self.pick_ip(tx, s, mac, &chosen).await? {
                        out.push((s.id.clone(), ip.to_string()));
                        got = true;
                        break;
                    }
                }
                if !got {
                    return Err(no_more_ips(network_id));
                }
            }
            let mut stateful = false;
            for s in subnets.iter().filter(|s| s.ip_version == 6) {
                if !s.auto_address() && stateful {
                    continue;
                }
                if let Some(ip) = self.pick_ip(tx, s, mac, &chosen).await? {
                    stateful |= !s.auto_address();
                    out.push((s.id.clone(), ip.to_string()));
                }
            }
            return Ok(out);
        };
        let mut kept: Vec<bool> = vec![false; current.len()];
        for r in requests {
            let subnet = match (&r.subnet_id, r.ip) {
                (Some(sid), _) => subnets.iter().find(|s| s.id == *sid).ok_or_else(|| {
                    NeutronError::invalid_input(format!(
                        "Failed to create port on network {network_id}, because fixed_ips included invalid subnet {sid}"
                    ))
                })?,
                (None, Some(ip)) => subnets
                    .iter()
                    .find(|s| s.net().is_ok_and(|n| n.contains(&ip)))
                    .ok_or_else(|| {
                        NeutronError::new(
                            ErrorClass::BadRequest,
                            "InvalidIpForNetwork",
                            format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                        )
                    })?,
                (None, None) => continue,
            };
            let sid = subnet.id.clone();
            match r.ip {
                Some(ip) => {
                    let net = subnet.net()?;
                    let (first, last) = ipam::bounds(&net);
                    let a = ipam::to_u128(ip);
                    let edge = ipam::net_version(&net) == 4
                        && net.prefix_len() < 31
                        && (a == first || a == last);
                    if !net.contains(&ip) || edge {
                        return Err(NeutronError::new(
                            ErrorClass::BadRequest,
                            "InvalidIpForSubnet",
                            format!("IP address {ip} is not a valid IP for the specified subnet."),
                        ));
                    }
                    if subnet.auto_address() {
                        return Err(NeutronError::invalid_input(format!(
                            "IPv6 address {ip} can not be directly assigned to a port on subnet {sid} since the subnet is configured for automatic addresses"
                        )));
                    }
                    let text = ip.to_string();
                    if let Some(i) = current.iter().position(|(s, c)| *s == sid && *c == text) {
                        kept[i] = true;
                    } else {
                        tx.lock_subnet(&sid).await?;
                        let taken = tx
                            .subnet_allocations(&sid)
                            .await?
                            .into_iter()
                            .any(|(other, p)| other == text && p != port_id)
                            || tx.held_ips(&sid).await?.contains(&text);
                        if taken || chosen.contains(&(sid.clone(), a)) {
                            return Err(NeutronError::conflict(
                                "IpAddressAlreadyAllocated",
                                format!("IP address {text} already allocated in subnet {sid}"),
                            ));
                        }
                    }
                    chosen.insert((sid.clone(), a));
                    out.push((sid, text));
                }
                None => {
                    if let Some(i) = (0..current.len()).find(|i| !kept[*i] && current[*i].0 == sid)
                    {
                        kept[i] = true;
                        out.push(current[i].clone());
                        continue;
                    }
                    let ip = self
                        .pick_ip(tx, subnet, mac, &chosen)
                        .await?
                        .ok_or_else(|| no_more_ips(network_id))?;
                    chosen.insert((sid.clone(), ipam::to_u128(ip)));
                    out.push((sid, ip.to_string()));
                }
            }
        }
        Ok(out)
    }
}
