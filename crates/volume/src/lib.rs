//! The volume domain below Cinder's API: volumes, snapshots and backups
//! across pods (choosing the pod, quota across pods, the create checks that
//! settle a create whose answer was lost), volume types and their
//! encryption copied into the pods that need them, and transfers between
//! projects. The API crate parses a request into a call here and renders
//! the answer; [`VolumeError`] says what went wrong by meaning.
#![forbid(unsafe_code)]

pub mod backups;
pub mod cinder;
pub mod create_check;
pub mod encryption;
pub mod error;
pub mod kind;
pub mod list;
pub mod quota;
pub mod quota_sets;
pub mod routed;
pub mod services;
pub mod snapshots;
pub mod summary;
pub mod transfers;
pub mod type_copies;
pub mod types;
pub mod volume_actions;
pub mod volume_create;

pub use cinder::{Answer, SERVICE_TYPE};
pub use error::VolumeError;
pub use kind::{Kind, BACKUPS, SNAPSHOTS, VOLUMES};
pub use tricircle_gateway::{Caller, Gateway};
