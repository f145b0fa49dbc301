//! Summing the pods' server usages into the projects' entries, as Nova
//! sums them (hours, and vcpus, memory and disk times hours).

use serde_json::{json, Map, Value};

/// The start and stop of the period asked for, as the pods say them.
pub type Period = (Value, Value);

/// A project's entry, its totals summed from its server usages.
pub fn tenant_entry(tenant: &str, usages: Vec<Value>, period: &Period, detailed: bool) -> Value {
    let (mut hours, mut vcpus, mut memory, mut disk) = (0.0, 0.0, 0.0, 0.0);
    for u in &usages {
        let h = u["hours"].as_f64().unwrap_or(0.0);
        hours += h;
        vcpus += u["vcpus"].as_f64().unwrap_or(0.0) * h;
        memory += u["memory_mb"].as_f64().unwrap_or(0.0) * h;
        disk += u["local_gb"].as_f64().unwrap_or(0.0) * h;
    }
    let mut v = json!({
        "tenant_id": tenant,
        "total_local_gb_usage": disk,
        "total_vcpus_usage": vcpus,
        "total_memory_mb_usage": memory,
        "total_hours": hours,
        "start": period.0,
        "stop": period.1,
    });
    if detailed {
        v["server_usages"] = Value::Array(usages);
    }
    v
}

/// Every server usage of the pods' entries (`tenant_usages`, or one
/// `tenant_usage` when `one`), in pod order, with the period.
pub fn server_usages<'a>(
    bodies: impl Iterator<Item = &'a Value>,
    one: bool,
) -> (Vec<Value>, Period) {
    let mut period: Option<Period> = None;
    let mut all: Vec<Value> = Vec::new();
    for body in bodies {
        let entries: Vec<&Value> = if one {
            vec![&body["tenant_usage"]]
        } else {
            body["tenant_usages"]
                .as_array()
                .into_iter()
                .flatten()
                .collect()
        };
        for t in entries {
            if period.is_none() && t.get("start").is_some() {
                period = Some((t["start"].clone(), t["stop"].clone()));
            }
            all.extend(t["server_usages"].as_array().into_iter().flatten().cloned());
        }
    }
    (all, period.unwrap_or((Value::Null, Value::Null)))
}

/// The projects' entries of `usages`, in the order projects first appear.
pub fn by_tenant(usages: Vec<Value>, period: &Period, detailed: bool) -> Vec<Value> {
    let mut order: Vec<String> = Vec::new();
    let mut by_tenant: Map<String, Value> = Map::new();
    for u in usages {
        let t = u["tenant_id"].as_str().unwrap_or_default().to_string();
        let entry = by_tenant.entry(t.clone()).or_insert_with(|| {
            order.push(t);
            json!([])
        });
        if let Some(list) = entry.as_array_mut() {
            list.push(u);
        }
    }
    order
        .iter()
        .map(|t| {
            let usages = match by_tenant.remove(t) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            tenant_entry(t, usages, period, detailed)
        })
        .collect()
}
