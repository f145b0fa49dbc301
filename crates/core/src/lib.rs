//! Tricircle domain types and pure algorithms. No IO, no async.
#![forbid(unsafe_code)]

pub mod ids;
pub mod l3;
pub mod listing;
pub mod pod;
pub mod routing;
pub mod scheduling;

pub use pod::{PodSpec, PodUpdate, PodValidationError};
pub use routing::ResourceType;
