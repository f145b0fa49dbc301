//! Every pod's volume services as one list (`os-services`, admin only):
//! hosts qualified by pod (`Pod1:host@backend`), each pod's AZ shown as the
//! top's.

use serde_json::Value;
use tricircle_gateway::ask_all::{qualify_field, services_query, zone_to_top, Gathered};
use tricircle_gateway::{Caller, Gateway};
use tricircle_pods::PodPath;

use crate::error::{Result, VolumeError};
use crate::SERVICE_TYPE;

/// `GET /os-services?query`: the services, or the error found in the
/// pods' answers, with the pods left out.
pub async fn services(
    gw: &Gateway,
    caller: &Caller,
    query: Option<&str>,
    strict: bool,
) -> Result<Gathered<Vec<Value>, VolumeError>> {
    let (pods, query) = services_query(gw.bottom_pods().await?, query);
    let path = PodPath::fixed("/os-services");
    let asked = gw
        .ask_pods(caller, pods, SERVICE_TYPE, &path, query.as_deref(), strict)
        .await?;
    if let Some(e) = asked.refusal(&[]) {
        return Err(e.into());
    }
    let mut out = Vec::new();
    for r in asked.successes() {
        for s in r.body["services"].as_array().into_iter().flatten() {
            let mut s = s.clone();
            qualify_field(&mut s, "host", &r.pod);
            zone_to_top(&mut s, "zone", &r.pod);
            out.push(s);
        }
    }
    Ok(asked.gathered(gw, Ok(out), "services"))
}
