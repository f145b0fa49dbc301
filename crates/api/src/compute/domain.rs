//! The compute domain as a handler reaches it: the service and the caller
//! of the request.

use tricircle_compute::{Caller, Compute};

use crate::gateway::forward::caller;
use crate::gateway::{Call, GatewayState};

/// The compute service and the request's caller.
pub(super) fn domain(st: &GatewayState, c: &Call) -> (Compute, Caller) {
    (
        Compute::new(st.gateway.clone()),
        caller(&c.ctx, &c.rid, &c.root),
    )
}
