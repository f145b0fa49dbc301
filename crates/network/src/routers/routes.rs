//! A router's static routes (`extraroute`): each `{destination, nexthop}`
//! with a next hop on a subnet the router is attached to; and
//! `extraroute-atomic`'s `add_extraroutes` / `remove_extraroutes`, which
//! change the set without a read-modify-write race.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Value};
use tricircle_store::{NeutronKind, NeutronTx, StoreError};

use super::routes_of;
use crate::attrs::{list, shown, touch};
use crate::ipam;
use crate::model::{self, Resource, Router, Subnet};
use crate::{Neutron, NeutronError, Scope, RETRIES};

/// Neutron's `max_routes`.
pub(super) const MAX_ROUTES: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Route {
    pub destination: IpNet,
    pub nexthop: IpAddr,
}

impl Route {
    fn json(&self) -> Value {
        json!({"destination": self.destination.to_string(), "nexthop": self.nexthop.to_string()})
    }

    pub(super) fn from_stored(r: &model::Route) -> Option<Route> {
        Some(Route {
            destination: ipam::parse_cidr(&r.destination).ok()?,
            nexthop: ipam::parse_ip(&r.nexthop)?,
        })
    }
}

pub(super) fn routes_json(routes: &[Route]) -> Value {
    json!(routes.iter().map(Route::json).collect::<Vec<_>>())
}

/// Routes as Neutron prints them in messages (a Python list of dicts).
fn shown_routes(routes: &[Route]) -> String {
    let items: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{{'destination': '{}', 'nexthop': '{}'}}",
                r.destination, r.nexthop
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// `routes` as Neutron's `type:hostroutes` validates it (null: none).
pub(super) fn parse_routes(v: &Value) -> Result<Vec<Route>, NeutronError> {
    let bad = |reason: String| NeutronError::invalid_attr("routes", reason);
    let mut out: Vec<Route> = Vec::new();
    for item in list("routes", v)? {
        let Some(obj) = item.as_object() else {
            return Err(bad(format!("'{}' is not a dictionary", shown(item))));
        };
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        if keys != ["destination", "nexthop"] {
            let provided: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
            return Err(bad(format!(
                "Validation of dictionary's keys failed. Expected keys: {{'destination', 'nexthop'}} Provided keys: {{{}}}",
                provided.join(", ")
            )));
        }
        let text = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
        let destination = ipam::parse_cidr(text("destination")).map_err(bad)?;
        let nexthop = ipam::parse_ip(text("nexthop")).ok_or_else(|| {
            bad(format!(
                "'{}' is not a valid IP address",
                shown(&obj["nexthop"])
            ))
        })?;
        let route = Route {
            destination,
            nexthop,
        };
        if out.contains(&route) {
            return Err(bad(format!(
                "Duplicate hostroute '{}'",
                shown_routes(&[route])
                    .trim_start_matches('[')
                    .trim_end_matches(']')
            )));
        }
        out.push(route);
    }
    Ok(out)
}

/// The `routes` of an `add_extraroutes` / `remove_extraroutes` body:
/// `{"router": {"routes": [...]}}`.
fn action_routes(body: &Value) -> Result<Vec<Route>, NeutronError> {
    let router = body
        .get("router")
        .filter(|r| r.is_object())
        .ok_or_else(|| NeutronError::bad_request("Unable to find 'router' in request body"))?;
    let routes = router
        .get("routes")
        .ok_or_else(|| crate::attrs::required("routes"))?;
    parse_routes(routes)
}

impl Neutron {
    /// Neutron's `_validate_routes`: at most [`MAX_ROUTES`], each next hop
    /// on a subnet of one of the router's ports and none of its own
    /// addresses.
    pub(super) async fn check_routes_in(
        &self,
        tx: &mut NeutronTx,
        router_id: &str,
        routes: &[Route],
    ) -> Result<(), NeutronError> {
        if routes.len() > MAX_ROUTES {
            return Err(NeutronError::bad_request(format!(
                "Unable to complete operation for {router_id}. The number of routes exceeds the maximum {MAX_ROUTES}."
            ))
            .with_kind("RoutesExhausted"));
        }
        let mut cidrs = Vec::new();
        let mut ips = Vec::new();
        for port in super::router_ports_in(tx, router_id).await? {
            for ip in &port.fixed_ips {
                if let Some(s) = tx.get(NeutronKind::Subnet, &ip.subnet_id).await? {
                    cidrs.push(Subnet::from_doc(&s)?.net()?);
                }
                ips.extend(ipam::parse_ip(&ip.ip_address));
            }
        }
        let invalid = |reason: &str| {
            NeutronError::bad_request(format!(
                "Invalid format for routes: {}, {reason}",
                shown_routes(routes)
            ))
            .with_kind("InvalidRoutes")
        };
        for r in routes {
            if !cidrs.iter().any(|c| c.contains(&r.nexthop)) {
                return Err(invalid("the nexthop is not connected with router"));
            }
            if ips.contains(&r.nexthop) {
                return Err(invalid("the nexthop is used by router"));
            }
        }
        Ok(())
    }

    pub async fn add_extraroutes(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let add = action_routes(&body)?;
        self.change_routes(scope, id, |mut all| {
            for r in &add {
                if !all.contains(r) {
                    all.push(*r);
                }
            }
            all
        })
        .await
    }

    /// Routes to remove that the router does not have are not an error:
    /// the end state is what counts (Neutron's rule).
    pub async fn remove_extraroutes(
        &self,
        scope: &Scope,
        id: &str,
        body: Value,
    ) -> Result<Value, NeutronError> {
        let remove = action_routes(&body)?;
        self.change_routes(scope, id, |old| {
            old.into_iter().filter(|r| !remove.contains(r)).collect()
        })
        .await
    }

    async fn change_routes(
        &self,
        scope: &Scope,
        id: &str,
        change: impl Fn(Vec<Route>) -> Vec<Route>,
    ) -> Result<Value, NeutronError> {
        for _ in 0..RETRIES {
            let mut tx = self.store.neutron_tx().await?;
            let mut router = self.locked_router(&mut tx, scope, id).await?;
            let routes = change(routes_of(&Router::from_doc(&router)?));
            self.check_routes_in(&mut tx, id, &routes).await?;
            router["routes"] = routes_json(&routes);
            touch(&mut router);
            tx.update(NeutronKind::Router, &router, &[]).await?;
            match tx.commit().await {
                Ok(()) => return self.router_view(scope, router).await,
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NeutronError::unavailable(
            "The routes could not be changed: too much contention; try again.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_validated_like_hostroutes() {
        let r = parse_routes(&json!([{"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}]))
            .unwrap_or_default();
        assert_eq!(
            routes_json(&r),
            json!([{"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}])
        );
        assert_eq!(parse_routes(&Value::Null).map(|r| r.len()).ok(), Some(0));
        for (bad, said) in [
            (json!("x"), "'x' is not a list"),
            (json!([{"destination": "10.1.0.0/24"}]), "Expected keys"),
            (
                json!([{"destination": "10.1.0.1/24", "nexthop": "10.0.0.5"}]),
                "isn't a recognized IP subnet cidr, '10.1.0.0/24' is recommended",
            ),
            (
                json!([{"destination": "10.1.0.0/24", "nexthop": "ten"}]),
                "'ten' is not a valid IP address",
            ),
            (
                json!([{"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}, {"destination": "10.1.0.0/24", "nexthop": "10.0.0.5"}]),
                "Duplicate hostroute",
            ),
        ] {
            let e = parse_routes(&bad).err();
            assert!(
                e.as_ref()
                    .is_some_and(|e| e.message.starts_with("Invalid input for routes.")
                        && e.message.contains(said)),
                "{bad}: {e:?}"
            );
        }
        let r = Route::from_stored(&model::Route {
            destination: "0.0.0.0/0".into(),
            nexthop: "1.2.3.4".into(),
        });
        assert_eq!(
            shown_routes(&r.into_iter().collect::<Vec<_>>()),
            "[{'destination': '0.0.0.0/0', 'nexthop': '1.2.3.4'}]"
        );
    }
}
