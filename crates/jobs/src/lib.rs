//! The durable job engine (BEHAVIOUR §7): job rows are written in the same
//! transaction as the top change that needs them, leased by any worker,
//! retried with backoff, and moved to the job log when finished.
//!
//! - [`Registry`]: job type → [`Handler`] and the resource keys it needs;
//!   [`Registry::on`] registers a typed [`JobPayload`], from which the
//!   schema, the check of operator-given jobs and the parsing come.
//! - [`Engine`]: N worker loops leasing jobs from the [`tricircle_store::Store`]
//!   (any number of engines, on any hosts, may share one database).
//! - [`Kicker`]: wakes this process's workers at once after an enqueue
//!   (other processes notice new jobs within `poll_interval`).
#![forbid(unsafe_code)]

mod engine;
mod payload;
mod registry;

pub use engine::{backoff, Engine, EngineConfig, Kicker};
pub use payload::JobPayload;
pub use registry::{
    handler_fn, resource_str, Handler, JobError, JobSchema, Registry, ResourceKeys,
};
pub use tricircle_store::{Job, JobStatus, NewJob};
