//! Every pod's compute services as one list (`os-services`, admin only):
//! hosts qualified by pod (`Pod1:pod1-compute1`), each pod's AZ shown as
//! the top's, integer ids our own before 2.53 (the ids the hypervisors'
//! `service` shows).

use serde_json::Value;
use tricircle_gateway::ask_all::{qualify_field, services_query, zone_to_top};
use tricircle_gateway::Caller;
use tricircle_pods::PodPath;

use crate::hypervisors::{Gathering, COMPUTE_SERVICE};
use crate::Compute;

impl Compute {
    /// `GET /os-services?query` (`uuids`: the pods' ids, from 2.53).
    pub async fn services(
        &self,
        caller: &Caller,
        query: Option<&str>,
        uuids: bool,
        strict: bool,
    ) -> Gathering<Vec<Value>> {
        let (pods, query) = services_query(self.bottom_pods().await?, query);
        let path = PodPath::fixed("/os-services");
        let asked = self
            .ask_pods(caller, pods, "compute", &path, query.as_deref(), strict)
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
                if !uuids {
                    self.number_to_top(&r.pod, &mut s, "id", COMPUTE_SERVICE)
                        .await?;
                }
                out.push(s);
            }
        }
        Ok(asked.gathered(self, Ok(out), "services"))
    }
}
