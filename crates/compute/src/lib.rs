//! The compute domain below Nova's API: servers across pods (choosing the
//! pod, booting with the network's ports, deleting, the create checks that
//! settle a boot whose answer was lost), and what a server needs copied
//! into its pod (flavors, keypairs, server groups). The API crate parses a
//! request into a call here and renders the answer; [`ComputeError`] says
//! what went wrong by meaning.
#![forbid(unsafe_code)]

pub mod create_check;
pub mod error;
pub mod flavors;
pub mod hypervisors;
pub mod images;
pub mod keypairs;
pub mod limits;
pub mod server_groups;
pub mod servers;
mod service;
pub mod services;
pub mod usage;
pub mod zones;

pub use error::ComputeError;
pub use service::Compute;
pub use tricircle_gateway::{Caller, Gateway};
