//! What volumes, snapshots and backups share: each lives in one pod, found
//! through its routing, and what its pod answers is translated back to top
//! terms (the top's AZ names and volume type ids).

use std::collections::HashMap;

use serde_json::Value;
use tricircle_gateway::rewrite::az_to_top;
use tricircle_gateway::{Caller, Gateway};
use tricircle_store::{NewRouting, Pod, Routing, Usage};

use crate::error::{Result, VolumeError};
use tricircle_core::ResourceType;

/// One kind of pod resource of the volume service.
#[derive(Debug)]
pub struct Kind {
    /// The collection in URLs and list bodies (`volumes`).
    pub collection: &'static str,
    /// The key of one resource in bodies, also its routing and allocation
    /// resource type (`volume`).
    pub singular: &'static str,
    /// The type of its routings.
    pub resource_type: ResourceType,
    /// How Cinder's messages name it (`Volume`).
    pub title: &'static str,
    /// The field holding the pod's AZ, if the resource shows one.
    pub az_field: Option<&'static str>,
}

pub const VOLUMES: Kind = Kind {
    collection: "volumes",
    singular: "volume",
    resource_type: ResourceType::Volume,
    title: "Volume",
    az_field: Some("availability_zone"),
};

pub const SNAPSHOTS: Kind = Kind {
    collection: "snapshots",
    singular: "snapshot",
    resource_type: ResourceType::Snapshot,
    title: "Snapshot",
    az_field: None,
};

pub const BACKUPS: Kind = Kind {
    collection: "backups",
    singular: "backup",
    resource_type: ResourceType::Backup,
    title: "Backup",
    az_field: Some("availability_zone"),
};

/// Top volume type ids by name (empty: the pods' ids are not shown).
pub type TypeIds = HashMap<String, String>;

impl Kind {
    pub fn not_found(&self, id: &str) -> VolumeError {
        VolumeError::NotFound(format!("{} {id} could not be found.", self.title))
    }

    /// The routing and pod of `id`; Cinder's 404 if there is none the
    /// caller may see.
    pub async fn routed(&self, gw: &Gateway, caller: &Caller, id: &str) -> Result<(Routing, Pod)> {
        gw.routed_pod(caller, self.resource_type, id)
            .await?
            .ok_or_else(|| self.not_found(id))
    }

    /// Forgets a resource that is gone from its pod: routing and quota.
    pub async fn forget(&self, gw: &Gateway, routing: &Routing) -> Result<()> {
        gw.store
            .forget_resource(routing.id, self.resource_type, &routing.top_id)
            .await?;
        Ok(())
    }

    /// Records a resource just created in `pod`: its routing, the
    /// reservation completed with what it uses, and its create check (if
    /// any) cancelled, together.
    pub async fn record(
        &self,
        gw: &Gateway,
        caller: &Caller,
        pod: &Pod,
        id: &str,
        allocation: Option<(i64, Usage)>,
        check: Option<&str>,
    ) -> Result<()> {
        let routing = NewRouting {
            top_id: id.to_string(),
            bottom_id: Some(id.to_string()),
            pod_id: pod.pod_id.clone(),
            project_id: caller.project_id.clone(),
            resource_type: self.resource_type,
        };
        gw.store.record_created(&routing, allocation, check).await?;
        Ok(())
    }

    /// One resource of this kind from `pod`, in top terms.
    pub fn item_to_top(&self, item: &mut Value, pod: &Pod, type_ids: &TypeIds) {
        if let Some(field) = self.az_field {
            az_to_top(item, field, &pod.pod_az_name, &pod.az_name);
        }
        if item.get("volume_type_id").is_some() {
            if let Some(top) = item
                .get("volume_type")
                .and_then(Value::as_str)
                .and_then(|n| type_ids.get(n))
            {
                item["volume_type_id"] = Value::String(top.clone());
            }
        }
    }

    /// A pod's answer body (one resource or a list of them) in top terms.
    pub fn body_to_top(&self, body: &mut Value, pod: &Pod, type_ids: &TypeIds) {
        if let Some(item) = body.get_mut(self.singular).filter(|v| v.is_object()) {
            self.item_to_top(item, pod, type_ids);
        }
        if let Some(Value::Array(items)) = body.get_mut(self.collection) {
            for item in items {
                self.item_to_top(item, pod, type_ids);
            }
        }
    }
}

/// Top volume type ids by name when `wanted` (pods show their own type ids
/// in `volume_type_id`; users must see the top's).
pub async fn type_ids(gw: &Gateway, wanted: bool) -> Result<TypeIds> {
    if !wanted {
        return Ok(HashMap::new());
    }
    Ok(gw
        .store
        .list_volume_types(None)
        .await?
        .into_iter()
        .map(|t| (t.name, t.id))
        .collect())
}

/// The bottom pods to ask about a project's `resource_type`: those where it
/// has some (every pod for `everyone`), in `az` if given.
pub async fn pods_holding(
    gw: &Gateway,
    project_id: &str,
    resource_type: ResourceType,
    everyone: bool,
    az: Option<&str>,
) -> Result<Vec<Pod>> {
    let wanted = if everyone {
        None
    } else {
        Some(
            gw.store
                .pods_with_resources(project_id, resource_type)
                .await?,
        )
    };
    Ok(gw
        .bottom_pods()
        .await?
        .into_iter()
        .filter(|p| wanted.as_ref().is_none_or(|w| w.contains(&p.pod_id)))
        .filter(|p| az.is_none_or(|az| p.az_name == az))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(pod_az: &str, az: &str) -> Pod {
        Pod {
            pod_id: "p".into(),
            pod_name: "Pod2".into(),
            az_name: az.into(),
            pod_az_name: pod_az.into(),
            dc_name: String::new(),
            maintenance: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn bodies_in_top_terms() {
        let types: TypeIds = [("gold".to_string(), "top-gold".to_string())].into();
        let mut one = json!({"volume": {"availability_zone": "nova2", "volume_type": "gold", "volume_type_id": "bottom"}});
        VOLUMES.body_to_top(&mut one, &pod("nova2", "az2"), &types);
        assert_eq!(one["volume"]["availability_zone"], "az2");
        assert_eq!(one["volume"]["volume_type_id"], "top-gold");
        let mut list =
            json!({"volumes": [{"availability_zone": "nova"}, {"availability_zone": "other"}]});
        VOLUMES.body_to_top(&mut list, &pod("", "az1"), &types);
        assert_eq!(list["volumes"][0]["availability_zone"], "az1");
        assert_eq!(list["volumes"][1]["availability_zone"], "az1");
        // Snapshots have no AZ; an unknown type keeps the pod's id.
        let mut snap = json!({"snapshot": {"availability_zone": "nova2", "volume_type": "x", "volume_type_id": "b"}});
        SNAPSHOTS.body_to_top(&mut snap, &pod("nova2", "az2"), &types);
        assert_eq!(snap["snapshot"]["availability_zone"], "nova2");
        assert_eq!(snap["snapshot"]["volume_type_id"], "b");
    }
}
