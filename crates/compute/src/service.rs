//! The compute service: what Nova's API asks of the domain.

use tricircle_gateway::Gateway;

/// The compute domain's entry point; cheap to clone (a [`Gateway`]).
#[derive(Clone)]
pub struct Compute {
    pub gateway: Gateway,
}

impl Compute {
    pub fn new(gateway: Gateway) -> Compute {
        Compute { gateway }
    }
}

impl std::ops::Deref for Compute {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        &self.gateway
    }
}
