//! Tricircle domain types and pure algorithms. No IO, no async.
#![forbid(unsafe_code)]

pub mod ids;
pub mod pod;
pub mod routing;

pub use pod::{PodSpec, PodUpdate, PodValidationError};
pub use routing::ResourceType;
