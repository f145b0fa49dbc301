//! The volume domain below Cinder's API: volumes, snapshots and backups
//! across pods (choosing the pod, the create checks that settle a create
//! whose answer was lost), volume types and their encryption copied into
//! the pods that need them, and transfers between projects. The API crate
//! parses a request into a call here and renders the answer;
//! [`VolumeError`] says what went wrong by meaning.
#![forbid(unsafe_code)]

pub mod create_check;
pub mod error;

pub use error::VolumeError;
pub use tricircle_gateway::{Caller, Gateway};
