//! What Tricircle's compute and volume services share below HTTP: the
//! caller of a request, calls to pods on its behalf and their answers made
//! ours, where a resource lives (its routing), choosing a pod for a new
//! one, asking every pod at once, quotas. No HTTP framework here: the API
//! crate parses requests into calls of these and renders what they answer;
//! [`GatewayError`] says what went wrong by meaning, and the API maps it to
//! a status and its service's error body once.
#![forbid(unsafe_code)]

pub mod ask_all;
pub mod caller;
pub mod copies;
pub mod create_check;
pub mod error;
pub mod list_fetch;
pub mod lookup;
pub mod pod_call;
pub mod rewrite;
pub mod scheduler;
pub mod segment;
pub mod versions;

use std::sync::Arc;
use std::time::Duration;

use tricircle_pods::{KeystoneClient, PodClient, TokenValidator};
use tricircle_store::{Store, Usage};

pub use caller::Caller;
pub use error::GatewayError;
pub use pod_call::{CallError, PodAnswer, PodCall};

/// The response header naming the pods a cross-pod list had to skip
/// because they failed or did not answer within the deadline.
pub const SKIPPED_PODS_HEADER: &str = "x-tricircle-skipped-pods";
/// A request header: `true` makes a list fail instead of skipping pods.
pub const STRICT_LIST_HEADER: &str = "x-tricircle-strict-list";

/// Everything the compute and volume services reach: the store, the pods,
/// the top network service, Tricircle's own Keystone session, and the
/// settings that shape their answers. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub store: Store,
    pub pods: PodClient,
    /// The token cache, told when a pod refuses a token (revoked since it
    /// was cached); absent without Keystone.
    pub tokens: Option<TokenValidator>,
    /// The top network service and the pods' copies of its resources
    /// (absent: booting on networks is refused).
    pub network: Option<tricircle_network::bottom::Bottom>,
    /// Tricircle's own Keystone session, for admin-only work in pods
    /// (copying flavors and volume types).
    pub keystone: Arc<KeystoneClient>,
    /// How long a list waits for any one pod before reporting it skipped.
    pub list_deadline: Duration,
    /// Quotas of projects without their own (negative: unlimited).
    pub quota_defaults: Usage,
    /// The region users see; its catalog holds the image service shared by
    /// the pods.
    pub top_region: String,
    /// The newest API versions the pods speak.
    pub versions: versions::PodVersions,
}
