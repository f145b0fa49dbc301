//! What a boot needs from outside the servers module: copies of the
//! caller's flavor, keypair and server group in the chosen pod, the image
//! check, and the server's ports (the network domain's server–port
//! lifecycle). [`crate::Compute`] implements both (`deps_impl`); the
//! traits are the seam a test of the boot's orchestration replaces.

use std::future::Future;

use serde_json::Value;
use tricircle_gateway::{Caller, PodAnswer};
use tricircle_store::{Flavor, Keypair, Pod};

use crate::ComputeError;

/// A server group a boot joins (the group's checks are done).
pub trait BootGroup: Send + Sync {
    /// The pod every member must be in (affinity), when it has members.
    fn pinned(&self) -> Option<Pod>;
}

/// The copies a boot needs in its pod, and the checks Nova makes before it.
pub trait BootDependencies: Send + Sync {
    type Group: BootGroup;

    /// The flavor `id` if the caller may see it.
    fn find_flavor(
        &self,
        caller: &Caller,
        id: &str,
    ) -> impl Future<Output = Result<Option<Flavor>, ComputeError>> + Send;

    /// Makes sure `flavor` exists in `pod` (same id).
    fn ensure_flavor(
        &self,
        caller: &Caller,
        pod: &Pod,
        flavor: &Flavor,
    ) -> impl Future<Output = Result<(), ComputeError>> + Send;

    /// Makes sure the user's keypair exists in `pod`.
    fn ensure_keypair(
        &self,
        caller: &Caller,
        pod: &Pod,
        keypair: &Keypair,
    ) -> impl Future<Output = Result<(), ComputeError>> + Send;

    /// Refuses a boot from an image that cannot be found or is not active.
    fn check_image(
        &self,
        caller: &Caller,
        image_id: &str,
    ) -> impl Future<Output = Result<(), ComputeError>> + Send;

    /// The group `id` a boot of `count` servers in `az` joins, checked.
    fn group_for_boot(
        &self,
        caller: &Caller,
        id: &str,
        az: Option<&str>,
        count: i64,
    ) -> impl Future<Output = Result<Self::Group, ComputeError>> + Send;

    /// Copies the group into `pod` if it is not there yet; the copy's id.
    fn ensure_group(
        &self,
        caller: &Caller,
        group: &Self::Group,
        pod: &Pod,
    ) -> impl Future<Output = Result<String, ComputeError>> + Send;

    /// Replaces the group of a boot's scheduler hints by the pod's copy.
    fn set_group_hint(body: &mut Value, bottom_id: &str);

    /// Records the servers a boot made in `pod` as members of `group`.
    fn record_members(
        &self,
        group: &Self::Group,
        pod: &Pod,
        servers: &[String],
    ) -> impl Future<Output = ()> + Send;

    /// The top ids of the pod's group copies a pod's server view
    /// (`{"server": ...}`) names, as `(bottom, top)` pairs.
    fn top_group_ids(
        &self,
        pod: &Pod,
        answer: &PodAnswer,
    ) -> impl Future<Output = Vec<(String, String)>> + Send;

    /// Renames a server view's `server_groups` by [`Self::top_group_ids`].
    fn server_groups_to_top(view: &mut Value, pairs: &[(String, String)]);
}

/// A port of a failed boot that could not be deleted.
#[derive(Debug)]
pub struct PortLeft {
    pub port_id: String,
    pub error: String,
}

/// A server's ports: made ready in the pod before the boot, bound to the
/// server after, undone or released.
pub trait ServerPorts: Send + Sync {
    /// The requested networks, parsed.
    type Nics: Send + Sync;
    /// The top ports of a boot, made ready in its pod.
    type Prepared: Send + Sync;

    /// Whether there is a network service to boot on.
    fn available(&self) -> bool;

    /// Where a boot without an AZ should go given its networks.
    fn preferred_az(
        &self,
        caller: &Caller,
        nics: &Self::Nics,
    ) -> impl Future<Output = Result<Option<String>, ComputeError>> + Send;

    /// Checks the networks against `pod` and prepares their ports there
    /// (undoing what it made on failure).
    fn prepare(
        &self,
        caller: &Caller,
        pod: &Pod,
        nics: &Self::Nics,
        security_groups: &[String],
    ) -> impl Future<Output = Result<Self::Prepared, ComputeError>> + Send;

    /// The `networks` the pod's Nova gets.
    fn pod_networks(prepared: &Self::Prepared) -> Vec<Value>;

    /// The top ports this boot created.
    fn created_ports(prepared: &Self::Prepared) -> Vec<String>;

    /// The boot succeeded: the ports belong to `server_id`.
    fn bind(
        &self,
        caller: &Caller,
        pod: &Pod,
        server_id: &str,
        prepared: &Self::Prepared,
    ) -> impl Future<Output = Result<(), ComputeError>> + Send;

    /// The boot failed: the ports it created go. Returns those that could
    /// not be deleted.
    fn undo(
        &self,
        prepared: &Self::Prepared,
    ) -> impl Future<Output = Result<(), Vec<PortLeft>>> + Send;

    /// The server is gone: its ports are released.
    fn release(&self, server_id: &str) -> impl Future<Output = ()> + Send;

    /// `addSecurityGroup`/`removeSecurityGroup` on the server's ports;
    /// `false` when the network service does not handle them.
    fn change_group(
        &self,
        caller: &Caller,
        server_id: &str,
        group: &str,
        add: bool,
    ) -> impl Future<Output = Result<bool, ComputeError>> + Send;
}
