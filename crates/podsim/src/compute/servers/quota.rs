//! Nova's instance quota check for a boot.

use crate::compute::error::{NResult, NovaError};
use crate::compute::model::{Flavor, State as NovaState};

/// Nova's `check_num_instances_quota`: how many servers may be built, or
/// the 403 `Quota exceeded for ...`.
pub(super) fn check_instances_quota(
    st: &NovaState,
    project: &str,
    flavor: &Flavor,
    min_count: i64,
    max_count: i64,
) -> NResult<usize> {
    let limits = st.quota_limits(project);
    let (used_i, used_c, used_r) = st.usage(project);
    let mut count = max_count;
    loop {
        let deltas = [
            ("cores", count * flavor.vcpus as i64, used_c),
            ("instances", count, used_i),
            ("ram", count * flavor.ram as i64, used_r),
        ];
        let overs: Vec<&(&str, i64, i64)> = deltas
            .iter()
            .filter(|(k, d, used)| {
                let limit = limits.get(*k).copied().unwrap_or(-1);
                limit >= 0 && used + d > limit
            })
            .collect();
        if overs.is_empty() {
            return Ok(count as usize);
        }
        let quota = |k: &str| limits.get(k).copied().unwrap_or(-1);
        let headroom = |k: &str, used: i64| quota(k) - used;
        let mut allowed = if quota("instances") >= 0 {
            headroom("instances", used_i)
        } else {
            count
        };
        if flavor.vcpus > 0 && quota("cores") >= 0 {
            allowed = allowed.min(headroom("cores", used_c) / flavor.vcpus as i64);
        }
        if flavor.ram > 0 && quota("ram") >= 0 {
            allowed = allowed.min(headroom("ram", used_r) / flavor.ram as i64);
        }
        if allowed > 0 && min_count <= allowed && allowed < count {
            count = allowed;
            continue;
        }
        let requested_instances = if min_count == max_count {
            min_count.to_string()
        } else {
            format!("{min_count}-{max_count}")
        };
        let names: Vec<&str> = overs.iter().map(|(k, _, _)| *k).collect();
        let reqs: Vec<String> = overs
            .iter()
            .map(|(k, d, _)| {
                if *k == "instances" {
                    requested_instances.clone()
                } else {
                    d.to_string()
                }
            })
            .collect();
        let useds: Vec<String> = overs.iter().map(|(_, _, u)| u.to_string()).collect();
        let alloweds: Vec<String> = overs.iter().map(|(k, _, _)| quota(k).to_string()).collect();
        let overs_s = names.join(", ");
        return Err(NovaError::forbidden(format!(
            "Quota exceeded for {overs_s}: Requested {}, but already used {} of {} {overs_s}",
            reqs.join(", "),
            useds.join(", "),
            alloweds.join(", ")
        )));
    }
}
