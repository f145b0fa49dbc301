//! Which bottom pod a tenant's new resource goes to (BEHAVIOUR §3).
//!
//! 1. The tenant's active binding to a usable pod of the requested AZ (of any
//!    AZ when none is requested) wins.
//! 2. Otherwise the weigher picks a usable pod of that AZ: pods that are not
//!    degraded first, then most free capacity (unknown capacity counts as
//!    the lowest), then `pod_name`, then `pod_id` ascending, so the choice
//!    never depends on input order. The
//!    caller records a new active binding and switches off the tenant's other
//!    active bindings of that pod's AZ.
//! 3. No usable pod: an error naming the AZ.
//!
//! "Usable" means not in maintenance and healthy (not down). A binding to a
//! degraded pod is kept: a pod that failed a call or two keeps its tenants.
//! Pods with an empty AZ (the
//! top pod, which callers leave out anyway) are never candidates.

use std::cmp::Ordering;
use std::fmt;

/// A bottom pod as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub pod_id: String,
    pub pod_name: String,
    pub az_name: String,
    pub maintenance: bool,
    pub healthy: bool,
    /// Usable, but failing some calls lately: chosen after healthy pods.
    pub degraded: bool,
    /// Free capacity the pod reports (any unit, the same for all pods).
    pub free_capacity: Option<u64>,
}

impl PodInfo {
    fn usable(&self) -> bool {
        !self.maintenance && self.healthy
    }
}

/// One of the tenant's bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingInfo {
    pub id: String,
    pub pod_id: String,
    /// Active.
    pub is_binding: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Use the pod of an existing active binding.
    UseBinding { pod_id: String },
    /// Record a new active binding to `pod_id` and switch off the bindings
    /// listed in `deactivate` (ids of the tenant's other active bindings in
    /// that pod's AZ).
    NewBinding {
        pod_id: String,
        deactivate: Vec<String>,
    },
}

impl Decision {
    pub fn pod_id(&self) -> &str {
        match self {
            Decision::UseBinding { pod_id } | Decision::NewBinding { pod_id, .. } => pod_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPodReason {
    /// No bottom pod in the AZ (or none at all).
    NotConfigured,
    /// There are pods, but every one is in maintenance or down.
    AllUnavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `az` is the requested AZ, `None` when the request named none.
    #[error("{}", NoPodMessage(.az.as_deref(), *.reason))]
    NoPod {
        az: Option<String>,
        reason: NoPodReason,
    },
}

struct NoPodMessage<'a>(Option<&'a str>, NoPodReason);

impl fmt::Display for NoPodMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoPodMessage(Some(az), NoPodReason::NotConfigured) => {
                write!(f, "No pod in availability zone '{az}'")
            }
            NoPodMessage(Some(az), NoPodReason::AllUnavailable) => write!(
                f,
                "All pods of availability zone '{az}' are in maintenance or down"
            ),
            NoPodMessage(None, NoPodReason::NotConfigured) => {
                write!(f, "No bottom pod is configured")
            }
            NoPodMessage(None, NoPodReason::AllUnavailable) => {
                write!(f, "All bottom pods are in maintenance or down")
            }
        }
    }
}

/// The weigher's order: better pods first.
fn weigh(a: &PodInfo, b: &PodInfo) -> Ordering {
    // `false < true`: healthy pods first. `None < Some(_)`, so unknown
    // capacity is the lowest.
    a.degraded
        .cmp(&b.degraded)
        .then_with(|| b.free_capacity.cmp(&a.free_capacity))
        .then_with(|| a.pod_name.cmp(&b.pod_name))
        .then_with(|| a.pod_id.cmp(&b.pod_id))
}

/// Picks the pod for a new resource of a tenant. `az` of `None` or blank
/// means any AZ.
pub fn schedule(
    pods: &[PodInfo],
    bindings: &[BindingInfo],
    az: Option<&str>,
) -> Result<Decision, ScheduleError> {
    let az = az.map(str::trim).filter(|a| !a.is_empty());
    let in_az = |p: &&PodInfo| !p.az_name.is_empty() && az.is_none_or(|az| p.az_name == az);
    let pod_of = |pod_id: &str| pods.iter().find(|p| p.pod_id == pod_id);

    // 1. An active binding to a usable pod of the AZ.
    let bound = bindings
        .iter()
        .filter(|b| b.is_binding)
        .filter_map(|b| pod_of(&b.pod_id))
        .filter(in_az)
        .filter(|p| p.usable())
        .min_by(|a, b| weigh(a, b));
    if let Some(pod) = bound {
        return Ok(Decision::UseBinding {
            pod_id: pod.pod_id.clone(),
        });
    }

    // 2. The best usable pod of the AZ.
    let mut candidates = pods.iter().filter(in_az).peekable();
    if candidates.peek().is_none() {
        return Err(ScheduleError::NoPod {
            az: az.map(str::to_string),
            reason: NoPodReason::NotConfigured,
        });
    }
    let Some(chosen) = candidates.filter(|p| p.usable()).min_by(|a, b| weigh(a, b)) else {
        // 3. Pods exist, none usable.
        return Err(ScheduleError::NoPod {
            az: az.map(str::to_string),
            reason: NoPodReason::AllUnavailable,
        });
    };
    let mut deactivate: Vec<String> = Vec::new();
    for b in bindings.iter().filter(|b| b.is_binding) {
        let same_az = pod_of(&b.pod_id).is_some_and(|p| p.az_name == chosen.az_name);
        if same_az && b.pod_id != chosen.pod_id && !deactivate.contains(&b.id) {
            deactivate.push(b.id.clone());
        }
    }
    Ok(Decision::NewBinding {
        pod_id: chosen.pod_id.clone(),
        deactivate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(id: &str, az: &str) -> PodInfo {
        PodInfo {
            pod_id: id.into(),
            pod_name: format!("name-{id}"),
            az_name: az.into(),
            maintenance: false,
            healthy: true,
            degraded: false,
            free_capacity: None,
        }
    }

    fn degraded(mut p: PodInfo) -> PodInfo {
        p.degraded = true;
        p
    }

    fn cap(mut p: PodInfo, c: u64) -> PodInfo {
        p.free_capacity = Some(c);
        p
    }

    fn maint(mut p: PodInfo) -> PodInfo {
        p.maintenance = true;
        p
    }

    fn down(mut p: PodInfo) -> PodInfo {
        p.healthy = false;
        p
    }

    fn active(id: &str, pod_id: &str) -> BindingInfo {
        BindingInfo {
            id: id.into(),
            pod_id: pod_id.into(),
            is_binding: true,
        }
    }

    fn inactive(id: &str, pod_id: &str) -> BindingInfo {
        BindingInfo {
            is_binding: false,
            ..active(id, pod_id)
        }
    }

    fn use_binding(pod_id: &str) -> Result<Decision, ScheduleError> {
        Ok(Decision::UseBinding {
            pod_id: pod_id.into(),
        })
    }

    fn new_binding(pod_id: &str, deactivate: &[&str]) -> Result<Decision, ScheduleError> {
        Ok(Decision::NewBinding {
            pod_id: pod_id.into(),
            deactivate: deactivate.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn no_pod(az: Option<&str>, reason: NoPodReason) -> Result<Decision, ScheduleError> {
        Err(ScheduleError::NoPod {
            az: az.map(str::to_string),
            reason,
        })
    }

    // Rule 1

    #[test]
    fn active_binding_in_the_requested_az_wins_over_a_bigger_pod() {
        let pods = [pod("p1", "az1"), cap(pod("p2", "az1"), 100)];
        let bindings = [active("b1", "p1")];
        assert_eq!(schedule(&pods, &bindings, Some("az1")), use_binding("p1"));
    }

    #[test]
    fn active_binding_wins_when_no_az_is_given() {
        let pods = [cap(pod("p1", "az1"), 100), pod("p2", "az2")];
        assert_eq!(
            schedule(&pods, &[active("b2", "p2")], None),
            use_binding("p2")
        );
        assert_eq!(
            schedule(&pods, &[active("b2", "p2")], Some("  ")),
            use_binding("p2")
        );
    }

    #[test]
    fn binding_in_another_az_does_not_count() {
        let pods = [pod("p1", "az1"), pod("p2", "az2")];
        assert_eq!(
            schedule(&pods, &[active("b1", "p1")], Some("az2")),
            new_binding("p2", &[])
        );
    }

    #[test]
    fn inactive_binding_does_not_count() {
        let pods = [pod("p1", "az1"), cap(pod("p2", "az1"), 5)];
        assert_eq!(
            schedule(&pods, &[inactive("b1", "p1")], Some("az1")),
            new_binding("p2", &[])
        );
    }

    #[test]
    fn binding_to_an_unknown_pod_is_ignored() {
        let pods = [pod("p1", "az1")];
        assert_eq!(
            schedule(&pods, &[active("b9", "gone")], Some("az1")),
            new_binding("p1", &[])
        );
    }

    #[test]
    fn several_usable_bindings_pick_by_the_weigher() {
        let pods = [pod("p1", "az1"), cap(pod("p2", "az2"), 7)];
        let bindings = [active("b1", "p1"), active("b2", "p2")];
        assert_eq!(schedule(&pods, &bindings, None), use_binding("p2"));
        let reversed = [active("b2", "p2"), active("b1", "p1")];
        assert_eq!(schedule(&pods, &reversed, None), use_binding("p2"));
    }

    #[test]
    fn binding_to_a_pod_in_maintenance_or_down_is_replaced_and_deactivated() {
        for bad in [maint(pod("p1", "az1")), down(pod("p1", "az1"))] {
            let pods = [bad, pod("p2", "az1")];
            assert_eq!(
                schedule(&pods, &[active("b1", "p1")], Some("az1")),
                new_binding("p2", &["b1"])
            );
        }
    }

    // Rule 2

    #[test]
    fn weigher_prefers_most_free_capacity_and_unknown_is_lowest() {
        let pods = [
            pod("p1", "az1"),
            cap(pod("p2", "az1"), 10),
            cap(pod("p3", "az1"), 30),
            cap(pod("p4", "az1"), 0),
        ];
        assert_eq!(schedule(&pods, &[], Some("az1")), new_binding("p3", &[]));
        let pods = [pod("p1", "az1"), cap(pod("p4", "az1"), 0)];
        assert_eq!(schedule(&pods, &[], Some("az1")), new_binding("p4", &[]));
    }

    #[test]
    fn weigher_ties_break_by_pod_name_then_id_whatever_the_input_order() {
        let mut a = cap(pod("p1", "az1"), 10);
        a.pod_name = "zeta".into();
        let mut b = cap(pod("p2", "az1"), 10);
        b.pod_name = "alpha".into();
        assert_eq!(
            schedule(&[a.clone(), b.clone()], &[], Some("az1")),
            new_binding("p2", &[])
        );
        assert_eq!(schedule(&[b, a], &[], Some("az1")), new_binding("p2", &[]));
        let mut c = pod("p9", "az1");
        c.pod_name = "same".into();
        let mut d = pod("p3", "az1");
        d.pod_name = "same".into();
        assert_eq!(schedule(&[c, d], &[], Some("az1")), new_binding("p3", &[]));
    }

    #[test]
    fn weigher_prefers_healthy_pods_over_degraded_ones_whatever_their_capacity() {
        let pods = [
            degraded(cap(pod("p1", "az1"), 1000)),
            cap(pod("p2", "az1"), 1),
        ];
        assert_eq!(schedule(&pods, &[], Some("az1")), new_binding("p2", &[]));
        // All degraded: still usable, by capacity.
        let pods = [
            degraded(cap(pod("p1", "az1"), 1000)),
            degraded(cap(pod("p2", "az1"), 1)),
        ];
        assert_eq!(schedule(&pods, &[], Some("az1")), new_binding("p1", &[]));
        // A binding to a degraded pod is kept.
        assert_eq!(
            schedule(
                &[degraded(pod("p1", "az1")), pod("p2", "az1")],
                &[active("b1", "p1")],
                Some("az1")
            ),
            use_binding("p1")
        );
    }

    #[test]
    fn new_binding_only_in_the_requested_az() {
        let pods = [cap(pod("p1", "az1"), 100), pod("p2", "az2")];
        assert_eq!(schedule(&pods, &[], Some("az2")), new_binding("p2", &[]));
    }

    #[test]
    fn no_az_considers_every_bottom_pod() {
        let pods = [pod("p1", "az1"), cap(pod("p2", "az2"), 1)];
        assert_eq!(schedule(&pods, &[], None), new_binding("p2", &[]));
    }

    #[test]
    fn unusable_pods_are_skipped() {
        let pods = [
            maint(cap(pod("p1", "az1"), 100)),
            down(cap(pod("p2", "az1"), 90)),
            pod("p3", "az1"),
        ];
        assert_eq!(schedule(&pods, &[], Some("az1")), new_binding("p3", &[]));
    }

    #[test]
    fn deactivates_only_active_bindings_of_the_chosen_pods_az() {
        let pods = [
            maint(pod("p1", "az1")),
            down(pod("p2", "az1")),
            pod("p3", "az1"),
            pod("p4", "az2"),
        ];
        let bindings = [
            active("b1", "p1"),
            active("b2", "p2"),
            inactive("b3", "p1"),
            active("b4", "p4"),
            active("b5", "gone"),
        ];
        assert_eq!(
            schedule(&pods, &bindings, Some("az1")),
            new_binding("p3", &["b1", "b2"])
        );
    }

    #[test]
    fn without_az_deactivates_in_the_chosen_pods_az() {
        let pods = [
            maint(pod("p1", "az1")),
            pod("p2", "az1"),
            maint(pod("p3", "az2")),
        ];
        let bindings = [active("b1", "p1"), active("b3", "p3")];
        assert_eq!(schedule(&pods, &bindings, None), new_binding("p2", &["b1"]));
    }

    #[test]
    fn pods_without_az_are_never_candidates() {
        let pods = [cap(pod("top", ""), 1000), pod("p1", "az1")];
        assert_eq!(schedule(&pods, &[], None), new_binding("p1", &[]));
        assert_eq!(
            schedule(&pods, &[active("b0", "top")], None),
            new_binding("p1", &[])
        );
        assert_eq!(
            schedule(&[pod("top", "")], &[], None),
            no_pod(None, NoPodReason::NotConfigured)
        );
    }

    // Rule 3

    #[test]
    fn no_pod_in_the_az() {
        let pods = [pod("p1", "az1")];
        let err = schedule(&pods, &[], Some("az9"));
        assert_eq!(err, no_pod(Some("az9"), NoPodReason::NotConfigured));
        assert_eq!(
            err.unwrap_err().to_string(),
            "No pod in availability zone 'az9'"
        );
    }

    #[test]
    fn all_pods_of_the_az_unusable() {
        let pods = [
            maint(pod("p1", "az1")),
            down(pod("p2", "az1")),
            pod("p3", "az2"),
        ];
        let err = schedule(&pods, &[active("b1", "p1")], Some("az1"));
        assert_eq!(err, no_pod(Some("az1"), NoPodReason::AllUnavailable));
        assert_eq!(
            err.unwrap_err().to_string(),
            "All pods of availability zone 'az1' are in maintenance or down"
        );
    }

    #[test]
    fn no_pods_at_all_or_none_usable_without_az() {
        let err = schedule(&[], &[], None);
        assert_eq!(err, no_pod(None, NoPodReason::NotConfigured));
        assert_eq!(err.unwrap_err().to_string(), "No bottom pod is configured");
        let err = schedule(&[maint(pod("p1", "az1"))], &[], None);
        assert_eq!(err, no_pod(None, NoPodReason::AllUnavailable));
        assert_eq!(
            err.unwrap_err().to_string(),
            "All bottom pods are in maintenance or down"
        );
    }

    #[test]
    fn requested_az_is_trimmed_and_matched_exactly() {
        let pods = [pod("p1", "az1")];
        assert_eq!(schedule(&pods, &[], Some(" az1 ")), new_binding("p1", &[]));
        assert_eq!(
            schedule(&pods, &[], Some("AZ1")),
            no_pod(Some("AZ1"), NoPodReason::NotConfigured)
        );
    }

    #[test]
    fn decision_pod_id() {
        assert_eq!(use_binding("p1").unwrap().pod_id(), "p1");
        assert_eq!(new_binding("p2", &[]).unwrap().pod_id(), "p2");
    }
}
