//! A seeded, bounded fuzz over every route of every API of `tricircle demo`
//! (compute, volume, network, admin), as a hostile or clumsy user drives it
//! from outside: valid requests from a route table, then mutated — path
//! segments (raw, `%2F`, `%2E%2E`, double encoding, `..;`, backslashes,
//! NUL and control characters), query strings, headers (tokens, content
//! types, microversions), bodies (types, huge numbers, control characters,
//! unknown fields, deep and huge JSON, broken JSON) and methods.
//!
//! Every answer must come within a generous timeout and never be a 5xx,
//! the process must not die nor log a panic; every refusal (4xx) must
//! leave the top store (the SQLite database, read-only: routings,
//! allocations, network tables, quotas, jobs created...) and every pod's
//! own state (what each pod's admin lists: servers, flavors, volumes,
//! snapshots, backups, volume types, networks, subnets, ports, security
//! groups and rules) as they were, and carry the service's own error body.
//! A refused change is compared at once; reads, and refusals no handler
//! saw (401, 405), are compared against the top store at once and against
//! the pods in small windows. Requests with a known right answer are
//! checked for it: a non-JSON body 415, a body over the limit 413, no
//! valid token 401, control characters in a name refused, Neutron's 404
//! for an unknown marker, and refused whatever else they carry: a
//! traversal, a method the path does not have. The seed is printed;
//! `TRICIRCLE_FUZZ_SEED` replays a run (`TRICIRCLE_FUZZ_TRACE=1` prints
//! every request and its status); every failure prints the request as
//! sent and the answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Map, Value};

/// Requests in all (the sweeps first, then random mutations).
const TOTAL_REQUESTS: usize = 2000;
/// The random phase stops early past this, so a slow machine still ends.
const RANDOM_PHASE_BUDGET: Duration = Duration::from_secs(20);
/// A request that takes longer is a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Hangs after which the run stops (each costs the whole timeout).
const MAX_HANGS: usize = 3;
/// Reads between two checks of the pods' state.
const POD_CHECK_WINDOW: usize = 30;

// ------------------------------------------------------------------ routes

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Api {
    Compute,
    Volume,
    Network,
    Admin,
}

/// Whose token makes the request valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// No token needed (version documents, health, metrics).
    Open,
    Member,
    Admin,
}

/// How the valid body of a route is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    ServerCreate,
    ServerUpdate,
    ServerAction,
    AttachVolume,
    SwapVolume,
    Metadata,
    MetaItem,
    Tags,
    InterfaceAttach,
    RemoteConsole,
    MigrationAction,
    ShareAttach,
    FlavorCreate,
    FlavorUpdate,
    ExtraSpecs,
    ExtraSpecItem,
    Encryption,
    TransferCreate,
    TransferAccept,
    FlavorAccess,
    KeypairCreate,
    ServerGroupCreate,
    ComputeQuota,
    VolumeCreate,
    VolumeUpdate,
    VolumeAction,
    SnapshotCreate,
    SnapshotUpdate,
    SnapshotAction,
    BackupCreate,
    BackupUpdate,
    BackupRestore,
    BackupAction,
    TypeCreate,
    TypeUpdate,
    TypeAccess,
    VolumeQuota,
    NetCreate(Net),
    NetUpdate(Net),
    NetQuota,
    RouterInterface,
    ExtraRoutes,
    PodCreate,
    PodUpdate,
    BindingCreate,
    BindingUpdate,
    RoutingCreate,
    RoutingUpdate,
    JobCreate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    Rule,
    Router,
    FloatingIp,
}

#[derive(Debug, Clone, Copy)]
struct Route {
    api: Api,
    method: &'static str,
    /// `{name}` segments are filled from the fixtures (`{victim_*}` from
    /// resources made to be destroyed).
    path: &'static str,
    who: Who,
    body: Body,
    /// A list that takes `limit`/`marker`.
    list: bool,
    /// `OpenStack-API-Version` a valid request sends.
    version: Option<&'static str>,
}

const fn r(api: Api, method: &'static str, path: &'static str, who: Who, body: Body) -> Route {
    Route {
        api,
        method,
        path,
        who,
        body,
        list: false,
        version: None,
    }
}

const fn list(api: Api, path: &'static str, who: Who) -> Route {
    Route {
        api,
        method: "GET",
        path,
        who,
        body: Body::None,
        list: true,
        version: None,
    }
}

const fn rv(
    api: Api,
    method: &'static str,
    path: &'static str,
    who: Who,
    body: Body,
    version: &'static str,
) -> Route {
    Route {
        api,
        method,
        path,
        who,
        body,
        list: false,
        version: Some(version),
    }
}

use Api::{Admin as A, Compute as C, Network as N, Volume as V};
use Body as B;
use Who::{Admin as WA, Member as WM, Open as WO};

const NOVA: &str = "compute 2.37";

/// Every route and method of the four routers (`route_table_covers_every_route`
/// checks this against the routers' source), plus every pass-through
/// sub-resource of servers, volumes, snapshots and backups.
const ROUTES: &[Route] = &[
    // ---- compute
    r(C, "GET", "/", WO, B::None),
    r(C, "GET", "/v2.1", WO, B::None),
    r(C, "GET", "/v2.1/", WO, B::None),
    r(C, "GET", "/v2", WO, B::None),
    r(C, "GET", "/v2/", WO, B::None),
    list(C, "/v2.1/servers", WM),
    rv(C, "POST", "/v2.1/servers", WM, B::ServerCreate, NOVA),
    list(C, "/v2.1/servers/detail", WM),
    r(C, "GET", "/v2.1/servers/{server}", WM, B::None),
    r(C, "PUT", "/v2.1/servers/{server}", WM, B::ServerUpdate),
    r(C, "DELETE", "/v2.1/servers/{victim_server}", WM, B::None),
    r(
        C,
        "POST",
        "/v2.1/servers/{server}/action",
        WM,
        B::ServerAction,
    ),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-volume_attachments",
        WM,
        B::None,
    ),
    r(
        C,
        "POST",
        "/v2.1/servers/{server}/os-volume_attachments",
        WM,
        B::AttachVolume,
    ),
    r(C, "GET", "/v2.1/servers/{server}/ips", WM, B::None),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/ips/{network_name}",
        WM,
        B::None,
    ),
    r(C, "GET", "/v2.1/servers/{server}/metadata", WM, B::None),
    r(
        C,
        "POST",
        "/v2.1/servers/{server}/metadata",
        WM,
        B::Metadata,
    ),
    r(C, "PUT", "/v2.1/servers/{server}/metadata", WM, B::Metadata),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    r(
        C,
        "PUT",
        "/v2.1/servers/{server}/metadata/{meta_key}",
        WM,
        B::MetaItem,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/servers/{server}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    rv(C, "GET", "/v2.1/servers/{server}/tags", WM, B::None, NOVA),
    rv(C, "PUT", "/v2.1/servers/{server}/tags", WM, B::Tags, NOVA),
    rv(
        C,
        "DELETE",
        "/v2.1/servers/{server}/tags",
        WM,
        B::None,
        NOVA,
    ),
    rv(
        C,
        "GET",
        "/v2.1/servers/{server}/tags/{tag}",
        WM,
        B::None,
        NOVA,
    ),
    rv(
        C,
        "PUT",
        "/v2.1/servers/{server}/tags/{tag}",
        WM,
        B::None,
        NOVA,
    ),
    rv(
        C,
        "DELETE",
        "/v2.1/servers/{server}/tags/{tag}",
        WM,
        B::None,
        NOVA,
    ),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-instance-actions",
        WM,
        B::None,
    ),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-instance-actions/{request_id}",
        WM,
        B::None,
    ),
    r(C, "GET", "/v2.1/servers/{server}/os-interface", WM, B::None),
    r(
        C,
        "POST",
        "/v2.1/servers/{server}/os-interface",
        WM,
        B::InterfaceAttach,
    ),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-interface/{server_port}",
        WM,
        B::None,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/servers/{server}/os-interface/{uuid}",
        WM,
        B::None,
    ),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-volume_attachments/{volume}",
        WM,
        B::None,
    ),
    r(
        C,
        "PUT",
        "/v2.1/servers/{server}/os-volume_attachments/{volume}",
        WA,
        B::SwapVolume,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/servers/{server}/os-volume_attachments/{volume}",
        WM,
        B::None,
    ),
    rv(
        C,
        "POST",
        "/v2.1/servers/{server}/remote-consoles",
        WM,
        B::RemoteConsole,
        NOVA,
    ),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-security-groups",
        WM,
        B::None,
    ),
    r(C, "GET", "/v2.1/servers/{server}/diagnostics", WA, B::None),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-server-password",
        WM,
        B::None,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/servers/{server}/os-server-password",
        WM,
        B::None,
    ),
    r(C, "GET", "/v2.1/servers/{server}/migrations", WA, B::None),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/migrations/{migration}",
        WA,
        B::None,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/servers/{server}/migrations/{migration}",
        WA,
        B::None,
    ),
    r(
        C,
        "POST",
        "/v2.1/servers/{server}/migrations/{migration}/action",
        WA,
        B::MigrationAction,
    ),
    rv(
        C,
        "GET",
        "/v2.1/servers/{server}/topology",
        WM,
        B::None,
        "compute 2.78",
    ),
    r(
        C,
        "GET",
        "/v2.1/servers/{server}/os-virtual-interfaces",
        WM,
        B::None,
    ),
    rv(
        C,
        "GET",
        "/v2.1/servers/{server}/shares",
        WM,
        B::None,
        "compute latest",
    ),
    rv(
        C,
        "POST",
        "/v2.1/servers/{server}/shares",
        WM,
        B::ShareAttach,
        "compute latest",
    ),
    rv(
        C,
        "GET",
        "/v2.1/servers/{server}/shares/{uuid}",
        WM,
        B::None,
        "compute latest",
    ),
    rv(
        C,
        "DELETE",
        "/v2.1/servers/{server}/shares/{uuid}",
        WM,
        B::None,
        "compute latest",
    ),
    list(C, "/v2.1/flavors", WM),
    r(C, "POST", "/v2.1/flavors", WA, B::FlavorCreate),
    list(C, "/v2.1/flavors/detail", WM),
    r(C, "GET", "/v2.1/flavors/{flavor}", WM, B::None),
    rv(
        C,
        "PUT",
        "/v2.1/flavors/{flavor}",
        WA,
        B::FlavorUpdate,
        "compute 2.55",
    ),
    r(C, "DELETE", "/v2.1/flavors/{victim_flavor}", WA, B::None),
    r(
        C,
        "GET",
        "/v2.1/flavors/{flavor}/os-extra_specs",
        WM,
        B::None,
    ),
    r(
        C,
        "POST",
        "/v2.1/flavors/{flavor}/os-extra_specs",
        WA,
        B::ExtraSpecs,
    ),
    r(
        C,
        "GET",
        "/v2.1/flavors/{flavor}/os-extra_specs/{flavor_spec}",
        WM,
        B::None,
    ),
    r(
        C,
        "PUT",
        "/v2.1/flavors/{flavor}/os-extra_specs/{flavor_spec}",
        WA,
        B::ExtraSpecItem,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/flavors/{victim_flavor}/os-extra_specs/{flavor_spec}",
        WA,
        B::None,
    ),
    r(
        C,
        "GET",
        "/v2.1/flavors/{private_flavor}/os-flavor-access",
        WM,
        B::None,
    ),
    r(
        C,
        "POST",
        "/v2.1/flavors/{victim_flavor}/action",
        WA,
        B::FlavorAccess,
    ),
    // Operator views across pods (admin only) and server groups.
    r(C, "GET", "/v2.1/os-hypervisors", WA, B::None),
    r(C, "GET", "/v2.1/os-hypervisors/detail", WA, B::None),
    r(C, "GET", "/v2.1/os-hypervisors/statistics", WA, B::None),
    r(C, "GET", "/v2.1/os-hypervisors/{hypervisor}", WA, B::None),
    r(
        C,
        "GET",
        "/v2.1/os-hypervisors/{hypervisor}/uptime",
        WA,
        B::None,
    ),
    r(
        C,
        "GET",
        "/v2.1/os-hypervisors/{hypervisor_name}/search",
        WA,
        B::None,
    ),
    r(
        C,
        "GET",
        "/v2.1/os-hypervisors/{hypervisor_name}/servers",
        WA,
        B::None,
    ),
    r(C, "GET", "/v2.1/os-services", WA, B::None),
    r(C, "GET", "/v2.1/os-simple-tenant-usage", WA, B::None),
    r(
        C,
        "GET",
        "/v2.1/os-simple-tenant-usage/{project}",
        WM,
        B::None,
    ),
    list(C, "/v2.1/os-server-groups", WM),
    r(
        C,
        "POST",
        "/v2.1/os-server-groups",
        WM,
        B::ServerGroupCreate,
    ),
    r(
        C,
        "GET",
        "/v2.1/os-server-groups/{server_group}",
        WM,
        B::None,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/os-server-groups/{victim_server_group}",
        WM,
        B::None,
    ),
    list(C, "/v2.1/os-keypairs", WM),
    r(C, "POST", "/v2.1/os-keypairs", WM, B::KeypairCreate),
    r(C, "GET", "/v2.1/os-keypairs/{keypair}", WM, B::None),
    r(
        C,
        "DELETE",
        "/v2.1/os-keypairs/{victim_keypair}",
        WM,
        B::None,
    ),
    r(C, "GET", "/v2.1/os-availability-zone", WM, B::None),
    r(C, "GET", "/v2.1/os-availability-zone/detail", WA, B::None),
    r(C, "GET", "/v2.1/os-aggregates", WA, B::None),
    r(C, "GET", "/v2.1/os-aggregates/{aggregate}", WA, B::None),
    list(C, "/v2.1/images", WM),
    list(C, "/v2.1/images/detail", WM),
    r(C, "GET", "/v2.1/images/{image}", WM, B::None),
    r(C, "DELETE", "/v2.1/images/{victim_image}", WM, B::None),
    r(C, "GET", "/v2.1/images/{image}/metadata", WM, B::None),
    r(C, "POST", "/v2.1/images/{image}/metadata", WM, B::Metadata),
    r(C, "PUT", "/v2.1/images/{image}/metadata", WM, B::Metadata),
    r(
        C,
        "GET",
        "/v2.1/images/{image}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    r(
        C,
        "PUT",
        "/v2.1/images/{image}/metadata/{meta_key}",
        WM,
        B::MetaItem,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/images/{image}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    r(C, "GET", "/v2.1/extensions", WM, B::None),
    r(C, "GET", "/v2.1/extensions/{extension_alias}", WM, B::None),
    r(C, "GET", "/v2.1/limits", WM, B::None),
    r(C, "GET", "/v2.1/os-quota-sets/{project}", WM, B::None),
    r(
        C,
        "PUT",
        "/v2.1/os-quota-sets/{quota_project}",
        WA,
        B::ComputeQuota,
    ),
    r(
        C,
        "DELETE",
        "/v2.1/os-quota-sets/{quota_project}",
        WA,
        B::None,
    ),
    r(
        C,
        "GET",
        "/v2.1/os-quota-sets/{project}/defaults",
        WM,
        B::None,
    ),
    r(
        C,
        "GET",
        "/v2.1/os-quota-sets/{project}/detail",
        WM,
        B::None,
    ),
    // ---- volume
    r(V, "GET", "/", WO, B::None),
    r(V, "GET", "/v3", WO, B::None),
    r(V, "GET", "/v3/", WO, B::None),
    r(V, "GET", "/v2", WO, B::None),
    r(V, "GET", "/v2/", WO, B::None),
    list(V, "/v3/volumes", WM),
    r(V, "POST", "/v3/volumes", WM, B::VolumeCreate),
    list(V, "/v3/volumes/detail", WM),
    rv(V, "GET", "/v3/volumes/summary", WM, B::None, "volume 3.12"),
    r(V, "GET", "/v3/os-services", WA, B::None),
    r(V, "GET", "/v3/extensions", WM, B::None),
    r(V, "GET", "/v3/volumes/{volume}", WM, B::None),
    r(V, "PUT", "/v3/volumes/{volume}", WM, B::VolumeUpdate),
    r(V, "DELETE", "/v3/volumes/{victim_volume}", WM, B::None),
    r(
        V,
        "POST",
        "/v3/volumes/{volume}/action",
        WM,
        B::VolumeAction,
    ),
    r(V, "GET", "/v3/volumes/{volume}/metadata", WM, B::None),
    r(V, "POST", "/v3/volumes/{volume}/metadata", WM, B::Metadata),
    r(V, "PUT", "/v3/volumes/{volume}/metadata", WM, B::Metadata),
    r(
        V,
        "GET",
        "/v3/volumes/{volume}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    r(
        V,
        "PUT",
        "/v3/volumes/{volume}/metadata/{meta_key}",
        WM,
        B::MetaItem,
    ),
    r(
        V,
        "DELETE",
        "/v3/volumes/{volume}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    r(V, "GET", "/v3/volumes/{volume}/encryption", WM, B::None),
    r(
        V,
        "GET",
        "/v3/volumes/{volume}/encryption/{encryption_key}",
        WM,
        B::None,
    ),
    list(V, "/v3/snapshots", WM),
    r(V, "POST", "/v3/snapshots", WM, B::SnapshotCreate),
    list(V, "/v3/snapshots/detail", WM),
    r(V, "GET", "/v3/snapshots/{snapshot}", WM, B::None),
    r(V, "PUT", "/v3/snapshots/{snapshot}", WM, B::SnapshotUpdate),
    r(V, "DELETE", "/v3/snapshots/{victim_snapshot}", WM, B::None),
    r(
        V,
        "POST",
        "/v3/snapshots/{snapshot}/action",
        WA,
        B::SnapshotAction,
    ),
    r(V, "GET", "/v3/snapshots/{snapshot}/metadata", WM, B::None),
    r(
        V,
        "POST",
        "/v3/snapshots/{snapshot}/metadata",
        WM,
        B::Metadata,
    ),
    r(
        V,
        "PUT",
        "/v3/snapshots/{snapshot}/metadata",
        WM,
        B::Metadata,
    ),
    r(
        V,
        "GET",
        "/v3/snapshots/{snapshot}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    r(
        V,
        "PUT",
        "/v3/snapshots/{snapshot}/metadata/{meta_key}",
        WM,
        B::MetaItem,
    ),
    r(
        V,
        "DELETE",
        "/v3/snapshots/{snapshot}/metadata/{meta_key}",
        WM,
        B::None,
    ),
    // Transfers of a volume that does not exist, and of ids nobody has:
    // their successes are in crates/api/tests/volume.rs (a transfer on the
    // fixture volume would keep it awaiting-transfer for the whole run).
    r(V, "GET", "/v3/os-volume-transfer", WM, B::None),
    r(V, "GET", "/v3/os-volume-transfer/detail", WM, B::None),
    r(V, "POST", "/v3/os-volume-transfer", WM, B::TransferCreate),
    r(V, "GET", "/v3/os-volume-transfer/{uuid}", WM, B::None),
    r(V, "DELETE", "/v3/os-volume-transfer/{uuid}", WM, B::None),
    r(
        V,
        "POST",
        "/v3/os-volume-transfer/{uuid}/accept",
        WM,
        B::TransferAccept,
    ),
    r(V, "GET", "/v3/volume-transfers", WM, B::None),
    r(V, "GET", "/v3/volume-transfers/detail", WM, B::None),
    r(V, "POST", "/v3/volume-transfers", WM, B::TransferCreate),
    r(V, "GET", "/v3/volume-transfers/{uuid}", WM, B::None),
    r(V, "DELETE", "/v3/volume-transfers/{uuid}", WM, B::None),
    r(
        V,
        "POST",
        "/v3/volume-transfers/{uuid}/accept",
        WM,
        B::TransferAccept,
    ),
    list(V, "/v3/backups", WM),
    r(V, "POST", "/v3/backups", WM, B::BackupCreate),
    list(V, "/v3/backups/detail", WM),
    r(V, "GET", "/v3/backups/{backup}", WM, B::None),
    rv(
        V,
        "PUT",
        "/v3/backups/{backup}",
        WM,
        B::BackupUpdate,
        "volume 3.9",
    ),
    r(V, "DELETE", "/v3/backups/{victim_backup}", WM, B::None),
    r(
        V,
        "POST",
        "/v3/backups/{backup}/restore",
        WM,
        B::BackupRestore,
    ),
    r(
        V,
        "POST",
        "/v3/backups/{backup}/action",
        WA,
        B::BackupAction,
    ),
    r(V, "GET", "/v3/backups/{backup}/export_record", WA, B::None),
    list(V, "/v3/types", WM),
    r(V, "POST", "/v3/types", WA, B::TypeCreate),
    r(V, "GET", "/v3/types/{volume_type}", WM, B::None),
    r(V, "PUT", "/v3/types/{volume_type}", WA, B::TypeUpdate),
    r(V, "DELETE", "/v3/types/{victim_volume_type}", WA, B::None),
    r(V, "GET", "/v3/types/{volume_type}/extra_specs", WM, B::None),
    r(
        V,
        "POST",
        "/v3/types/{volume_type}/extra_specs",
        WA,
        B::ExtraSpecs,
    ),
    r(
        V,
        "GET",
        "/v3/types/{volume_type}/extra_specs/{volume_type_spec}",
        WM,
        B::None,
    ),
    r(
        V,
        "PUT",
        "/v3/types/{volume_type}/extra_specs/{volume_type_spec}",
        WA,
        B::ExtraSpecItem,
    ),
    r(
        V,
        "DELETE",
        "/v3/types/{victim_volume_type}/extra_specs/{volume_type_spec}",
        WA,
        B::None,
    ),
    r(V, "GET", "/v3/types/{volume_type}/encryption", WA, B::None),
    r(
        V,
        "POST",
        "/v3/types/{volume_type}/encryption",
        WA,
        B::Encryption,
    ),
    r(
        V,
        "GET",
        "/v3/types/{volume_type}/encryption/{volume_type_spec}",
        WA,
        B::None,
    ),
    r(
        V,
        "PUT",
        "/v3/types/{volume_type}/encryption/{volume_type_spec}",
        WA,
        B::Encryption,
    ),
    r(
        V,
        "DELETE",
        "/v3/types/{victim_volume_type}/encryption/{volume_type_spec}",
        WA,
        B::None,
    ),
    r(
        V,
        "GET",
        "/v3/types/{private_volume_type}/os-volume-type-access",
        WA,
        B::None,
    ),
    r(
        V,
        "POST",
        "/v3/types/{victim_volume_type}/action",
        WA,
        B::TypeAccess,
    ),
    r(V, "GET", "/v3/os-availability-zone", WM, B::None),
    r(V, "GET", "/v3/limits", WM, B::None),
    r(V, "GET", "/v3/os-quota-sets/{project}", WM, B::None),
    r(
        V,
        "PUT",
        "/v3/os-quota-sets/{quota_project}",
        WA,
        B::VolumeQuota,
    ),
    r(
        V,
        "DELETE",
        "/v3/os-quota-sets/{quota_project}",
        WA,
        B::None,
    ),
    r(
        V,
        "GET",
        "/v3/os-quota-sets/{project}/defaults",
        WM,
        B::None,
    ),
    // ---- network
    r(N, "GET", "/", WO, B::None),
    r(N, "GET", "/v2.0", WM, B::None),
    r(N, "GET", "/v2.0/", WM, B::None),
    r(N, "GET", "/v2.0/availability_zones", WM, B::None),
    r(N, "GET", "/v2.0/extensions", WM, B::None),
    r(N, "GET", "/v2.0/extensions/{extension}", WM, B::None),
    r(N, "GET", "/v2.0/quotas", WA, B::None),
    r(N, "GET", "/v2.0/quotas/{project}", WM, B::None),
    r(N, "PUT", "/v2.0/quotas/{quota_project}", WA, B::NetQuota),
    r(N, "DELETE", "/v2.0/quotas/{quota_project}", WA, B::None),
    r(N, "GET", "/v2.0/quotas/{project}/default", WM, B::None),
    r(N, "GET", "/v2.0/quotas/{project}/details", WM, B::None),
    list(N, "/v2.0/networks", WM),
    r(N, "POST", "/v2.0/networks", WM, B::NetCreate(Net::Network)),
    r(N, "GET", "/v2.0/networks/{network}", WM, B::None),
    r(
        N,
        "PUT",
        "/v2.0/networks/{network}",
        WM,
        B::NetUpdate(Net::Network),
    ),
    r(N, "DELETE", "/v2.0/networks/{victim_network}", WM, B::None),
    list(N, "/v2.0/subnets", WM),
    r(N, "POST", "/v2.0/subnets", WM, B::NetCreate(Net::Subnet)),
    r(N, "GET", "/v2.0/subnets/{subnet}", WM, B::None),
    r(
        N,
        "PUT",
        "/v2.0/subnets/{subnet}",
        WM,
        B::NetUpdate(Net::Subnet),
    ),
    r(N, "DELETE", "/v2.0/subnets/{victim_subnet}", WM, B::None),
    list(N, "/v2.0/ports", WM),
    r(N, "POST", "/v2.0/ports", WM, B::NetCreate(Net::Port)),
    r(N, "GET", "/v2.0/ports/{port}", WM, B::None),
    r(N, "PUT", "/v2.0/ports/{port}", WM, B::NetUpdate(Net::Port)),
    r(N, "DELETE", "/v2.0/ports/{victim_port}", WM, B::None),
    list(N, "/v2.0/security-groups", WM),
    r(
        N,
        "POST",
        "/v2.0/security-groups",
        WM,
        B::NetCreate(Net::SecurityGroup),
    ),
    r(
        N,
        "GET",
        "/v2.0/security-groups/{security_group}",
        WM,
        B::None,
    ),
    r(
        N,
        "PUT",
        "/v2.0/security-groups/{security_group}",
        WM,
        B::NetUpdate(Net::SecurityGroup),
    ),
    r(
        N,
        "DELETE",
        "/v2.0/security-groups/{victim_security_group}",
        WM,
        B::None,
    ),
    list(N, "/v2.0/security-group-rules", WM),
    r(
        N,
        "POST",
        "/v2.0/security-group-rules",
        WM,
        B::NetCreate(Net::Rule),
    ),
    r(N, "GET", "/v2.0/security-group-rules/{rule}", WM, B::None),
    r(
        N,
        "PUT",
        "/v2.0/security-group-rules/{rule}",
        WM,
        B::NetUpdate(Net::Rule),
    ),
    r(
        N,
        "DELETE",
        "/v2.0/security-group-rules/{victim_rule}",
        WM,
        B::None,
    ),
    list(N, "/v2.0/routers", WM),
    r(N, "POST", "/v2.0/routers", WM, B::NetCreate(Net::Router)),
    r(N, "GET", "/v2.0/routers/{router}", WM, B::None),
    r(
        N,
        "PUT",
        "/v2.0/routers/{router}",
        WM,
        B::NetUpdate(Net::Router),
    ),
    r(N, "DELETE", "/v2.0/routers/{victim_router}", WM, B::None),
    r(
        N,
        "PUT",
        "/v2.0/routers/{router}/add_router_interface",
        WM,
        B::RouterInterface,
    ),
    r(
        N,
        "PUT",
        "/v2.0/routers/{router}/remove_router_interface",
        WM,
        B::RouterInterface,
    ),
    r(
        N,
        "PUT",
        "/v2.0/routers/{router}/add_extraroutes",
        WM,
        B::ExtraRoutes,
    ),
    r(
        N,
        "PUT",
        "/v2.0/routers/{router}/remove_extraroutes",
        WM,
        B::ExtraRoutes,
    ),
    list(N, "/v2.0/floatingips", WM),
    r(
        N,
        "POST",
        "/v2.0/floatingips",
        WM,
        B::NetCreate(Net::FloatingIp),
    ),
    r(N, "GET", "/v2.0/floatingips/{floatingip}", WM, B::None),
    r(
        N,
        "PUT",
        "/v2.0/floatingips/{floatingip}",
        WM,
        B::NetUpdate(Net::FloatingIp),
    ),
    r(
        N,
        "DELETE",
        "/v2.0/floatingips/{victim_floatingip}",
        WM,
        B::None,
    ),
    // ---- admin
    r(A, "GET", "/", WO, B::None),
    r(A, "GET", "/v1.0", WO, B::None),
    r(A, "GET", "/v1.0/", WO, B::None),
    r(A, "GET", "/healthcheck", WO, B::None),
    r(A, "GET", "/metrics", WO, B::None),
    r(A, "GET", "/v1.0/pods", WA, B::None),
    r(A, "POST", "/v1.0/pods", WA, B::PodCreate),
    r(A, "GET", "/v1.0/pods/{pod}", WA, B::None),
    r(A, "PUT", "/v1.0/pods/{victim_pod}", WA, B::PodUpdate),
    r(A, "DELETE", "/v1.0/pods/{victim_pod}", WA, B::None),
    r(A, "GET", "/v1.0/pods/{pod}/endpoints", WA, B::None),
    list(A, "/v1.0/bindings", WA),
    r(A, "POST", "/v1.0/bindings", WA, B::BindingCreate),
    r(A, "GET", "/v1.0/bindings/{binding}", WA, B::None),
    r(
        A,
        "PUT",
        "/v1.0/bindings/{victim_binding}",
        WA,
        B::BindingUpdate,
    ),
    r(A, "DELETE", "/v1.0/bindings/{victim_binding}", WA, B::None),
    list(A, "/v1.0/routings", WM),
    r(A, "POST", "/v1.0/routings", WA, B::RoutingCreate),
    r(A, "GET", "/v1.0/routings/{routing}", WM, B::None),
    r(
        A,
        "PUT",
        "/v1.0/routings/{victim_routing}",
        WA,
        B::RoutingUpdate,
    ),
    r(A, "DELETE", "/v1.0/routings/{victim_routing}", WA, B::None),
    list(A, "/v1.0/jobs", WA),
    r(A, "POST", "/v1.0/jobs", WA, B::JobCreate),
    list(A, "/v1.0/jobs/detail", WA),
    r(A, "GET", "/v1.0/jobs/schemas", WA, B::None),
    r(A, "GET", "/v1.0/jobs/{job}", WA, B::None),
    r(A, "PUT", "/v1.0/jobs/{victim_job}", WA, B::None),
    r(A, "DELETE", "/v1.0/jobs/{victim_job}", WA, B::None),
];

// ------------------------------------------------------------------ values

/// Path segments as written on the request line: traversal in every
/// spelling, encodings that decode to separators, NUL and control
/// characters, overlong UTF-8.
const TRAVERSAL: &[&str] = &[
    "..",
    ".",
    "../..",
    "..%2F..%2F..%2F..%2Fnetwork%2Fv2.0%2Fnetworks",
    "..%2f..%2fservers",
    "%2E%2E",
    "%2e%2e%2F%2e%2e%2Fservers",
    "%2E",
    "..%252F..%252Fservers",
    "%252E%252E%252F",
    "..;",
    "..;%2F..;%2Fservers",
    "..%3B",
    "..\\..\\servers",
    "..%5C..%5Cservers",
    "%5C",
    "%00",
    "a%00b",
    "a%0Ab",
    "%0D%0AX-Injected:%201",
    "%09",
    "%7F",
    "%FF%FE",
    "%C0%AE%C0%AE",
    "%",
    "%zz",
    "a%2Fb",
    ";x=1",
];

/// Path segments that break HTTP itself (raw bytes on the request line).
const RAW_SEGMENTS: &[&[u8]] = &[
    b"a\x00b",
    b"a b",
    b"a\tb",
    b"\x7f",
    b"\xc3\xa9",
    b"a\r\nX: y",
];

const QUERIES: &[&str] = &[
    "fuzz=1",
    "all_tenants=1",
    "all_tenants=true",
    "all_projects=1",
    "project_id={other_project}",
    "tenant_id={other_project}",
    "limit=-1",
    "limit=0",
    "limit=9223372036854775807",
    "limit=99999999999999999999999",
    "limit=1.5",
    "limit=abc",
    "limit=",
    "marker={uuid}",
    "marker={other_id}",
    "marker=..%2F..",
    "marker=%00",
    "limit=1&marker={uuid}",
    "sort_key=name",
    "sort_key=evil;drop",
    "sort_dir=sideways",
    "sort=name:asc,id:up",
    "fields=id",
    "fields=%00",
    "changes-since=garbage",
    "changes-since=2020-13-45T99:99:99Z",
    "name=%00",
    "name=%zz",
    "&&&",
    "=x",
    "x",
    "limit=1&limit=2",
    "page_reverse=maybe",
    "with_count=true",
    "offset=-5",
    "offset=9223372036854775807",
    "is_public=maybe",
    "status=%0A",
    "refresh=maybe",
    "force=maybe",
    "type=%00",
];

const VERSIONS: &[(&str, &str)] = &[
    ("OpenStack-API-Version", "compute 2.999"),
    ("OpenStack-API-Version", "compute 3.0"),
    ("OpenStack-API-Version", "compute latest"),
    ("OpenStack-API-Version", "compute 2."),
    ("OpenStack-API-Version", "compute -1.5"),
    ("OpenStack-API-Version", "compute 2.1.1"),
    ("OpenStack-API-Version", "compute 99999999999999999999.1"),
    ("OpenStack-API-Version", "compute 2.99999999999999999999"),
    ("OpenStack-API-Version", "compute"),
    ("OpenStack-API-Version", ""),
    ("OpenStack-API-Version", "compute 2.37, compute 2.1"),
    ("OpenStack-API-Version", "volume 3.999"),
    ("OpenStack-API-Version", "volume 2.0"),
    ("OpenStack-API-Version", "volume 3."),
    ("OpenStack-API-Version", "volume latest"),
    ("OpenStack-API-Version", "volume abc"),
    ("OpenStack-API-Version", "volume 3.0, volume 3.9999"),
    ("X-OpenStack-Nova-API-Version", "2.999"),
    ("X-OpenStack-Nova-API-Version", "abc"),
    ("OpenStack-Volume-microversion", "3.999"),
];

/// Body media types no API reads (Nova reads `text/plain` as JSON, as
/// webob's default, so it is not among them for compute; see
/// [`non_json_types`]).
const NON_JSON_TYPES: &[&str] = &[
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=zz",
];

/// The body media types `api` must refuse (415).
fn non_json_types(api: Api) -> &'static [&'static str] {
    match api {
        Api::Compute => &NON_JSON_TYPES[1..],
        _ => NON_JSON_TYPES,
    }
}

const ODD_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/jsonx",
    "text/json",
    "",
    "application/json; charset=utf-16",
    "application/json, text/plain",
    "*/*",
];

/// Replacement values for a JSON leaf.
fn leaf_values(fx: &Fixtures, rng: &mut Rng) -> Vec<(&'static str, Value)> {
    vec![
        ("null", Value::Null),
        ("true", json!(true)),
        ("0", json!(0)),
        ("-1", json!(-1)),
        ("1.5", json!(1.5)),
        ("i64::MAX", json!(i64::MAX)),
        ("i64::MIN", json!(i64::MIN)),
        ("u64::MAX", json!(u64::MAX)),
        ("1e308", json!(1e308)),
        ("-1e308", json!(-1e308)),
        ("1e-308", json!(1e-308)),
        ("\"1\"", json!("1")),
        ("\"9223372036854775807\"", json!("9223372036854775807")),
        ("\"-1\"", json!("-1")),
        ("empty string", json!("")),
        ("blank string", json!("   ")),
        ("256 characters", json!("a".repeat(256))),
        ("70000 characters", json!("a".repeat(70000))),
        ("NUL", json!("a\u{0}b")),
        ("control characters", json!("\u{1}\u{1b}[31m")),
        ("newline", json!("line\nbreak")),
        ("DEL", json!("\u{7f}")),
        ("right-to-left override", json!("\u{202e}evil")),
        ("emoji", json!("😀")),
        ("path traversal", json!("../../etc/passwd")),
        ("encoded traversal", json!("%2F..%2F..")),
        ("sql", json!("' OR 1=1 --")),
        ("empty list", json!([])),
        ("empty object", json!({})),
        ("list", json!([1, 2, 3])),
        ("object", json!({"a": {"b": {}}})),
        ("another project's id", json!(fx.other_id(rng))),
        ("unknown uuid", json!(rng.uuid())),
    ]
}

// ------------------------------------------------------------------ fixtures

/// Kinds of resources made to be destroyed.
const VICTIMS: &[&str] = &[
    "victim_server",
    "victim_volume",
    "victim_snapshot",
    "victim_backup",
    "victim_flavor",
    "victim_volume_type",
    "victim_keypair",
    "victim_server_group",
    "victim_image",
    "victim_network",
    "victim_subnet",
    "victim_port",
    "victim_security_group",
    "victim_rule",
    "victim_router",
    "victim_floatingip",
    "victim_pod",
    "victim_binding",
    "victim_routing",
    "victim_job",
];

/// Values for the route templates' `{name}` segments, and the resources
/// made to be destroyed.
struct Fixtures {
    world: World,
    /// A third project, whose quotas the quota routes change.
    quota_project: String,
    server_port: String,
    aggregate: String,
    /// A hypervisor's id (an integer before 2.53) and its qualified name.
    hypervisor: String,
    hypervisor_name: String,
    /// A server group of project A.
    server_group: String,
    extension: String,
    binding: String,
    routing: String,
    job: String,
    job_schemas: Vec<(String, Vec<String>)>,
    /// Project A's router, and its floating IP on an external network
    /// (the admin's).
    router: String,
    external_network: String,
    floatingip: String,
    /// Victims ready for use, by kind.
    victims: BTreeMap<&'static str, String>,
    victim_count: u64,
    /// Pods that exist before the fuzzing (others are the fuzz's, removed).
    original_pods: BTreeSet<String>,
    /// The big quotas of project A, restored after quota changes.
    quotas_a: [(String, Value); 3],
    /// For values of `{name}` segments.
    rng: Rng,
}

impl Fixtures {
    fn a(&self) -> &Tenant {
        &self.world.a
    }

    fn ra(&self) -> &Resources {
        &self.world.ra
    }

    fn cloud(&self) -> &Cloud {
        &self.world.cloud
    }

    /// An id of project B's (another project's resource).
    fn other_id(&self, rng: &mut Rng) -> String {
        let rb = &self.world.rb;
        rng.pick(&[
            rb.server.clone(),
            rb.volume.clone(),
            rb.snapshot.clone(),
            rb.backup.clone(),
            rb.network.clone(),
            rb.subnet.clone(),
            rb.port.clone(),
            rb.security_group.clone(),
            rb.rule.clone(),
            rb.flavor.clone(),
            rb.volume_type.clone(),
        ])
        .clone()
    }

    /// Project B's resource of the same kind as placeholder `name`.
    fn other_of(&self, name: &str) -> Option<String> {
        let rb = &self.world.rb;
        let v = match name.trim_start_matches("victim_") {
            "server" => &rb.server,
            "volume" => &rb.volume,
            "snapshot" => &rb.snapshot,
            "backup" => &rb.backup,
            "network" => &rb.network,
            "subnet" => &rb.subnet,
            "port" => &rb.port,
            "security_group" => &rb.security_group,
            "rule" => &rb.rule,
            "keypair" => &rb.keypair,
            "private_flavor" | "flavor" => &rb.flavor,
            "private_volume_type" | "volume_type" => &rb.volume_type,
            "project" | "quota_project" => &self.world.b.id,
            _ => return None,
        };
        Some(v.clone())
    }

    async fn build(world: World, seed: u64) -> Fixtures {
        let cloud = &world.cloud;
        let admin = cloud.admin_token.clone();
        let quota_project = cloud
            .create_project(&format!("proj-quota-{}", world.tag))
            .await;
        let a = cloud
            .call(
                "GET",
                &cloud.compute_url(&format!("/servers/{}/os-interface", world.ra.server)),
                Some(&world.a.member.token),
                None,
            )
            .await;
        expect(&a, &[200], "server interfaces");
        let server_port = a.body["interfaceAttachments"][0]["port_id"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        let a = cloud
            .call(
                "GET",
                &cloud.compute_url("/os-aggregates"),
                Some(&admin),
                None,
            )
            .await;
        expect(&a, &[200], "aggregates");
        let aggregate = a.body["aggregates"][0]["id"].to_string();
        let a = cloud
            .call(
                "GET",
                &cloud.compute_url("/os-hypervisors"),
                Some(&admin),
                None,
            )
            .await;
        expect(&a, &[200], "hypervisors");
        let hypervisor = a.body["hypervisors"][0]["id"].to_string();
        let hypervisor_name = a.body["hypervisors"][0]["hypervisor_hostname"]
            .as_str()
            .expect("a hypervisor")
            .to_string();
        let server_group = cloud
            .create_server_group(&world.a.member.token, "fz-group")
            .await;
        let a = cloud
            .call(
                "GET",
                &cloud.network_url("/extensions"),
                Some(&world.a.member.token),
                None,
            )
            .await;
        let extension = a.body["extensions"][0]["alias"]
            .as_str()
            .unwrap_or("quotas")
            .to_string();
        let a = cloud
            .call("GET", &cloud.admin_url("/bindings"), Some(&admin), None)
            .await;
        expect(&a, &[200], "bindings");
        let binding = a.body["pod_bindings"][0]["id"]
            .as_str()
            .expect("a binding")
            .to_string();
        let a = cloud
            .call(
                "GET",
                &cloud.admin_url(&format!("/routings?top_id={}", world.ra.server)),
                Some(&world.a.member.token),
                None,
            )
            .await;
        expect(&a, &[200], "routings");
        let routing = a.body["routings"][0]["id"].to_string();
        let a = cloud
            .call("GET", &cloud.admin_url("/jobs/schemas"), Some(&admin), None)
            .await;
        expect(&a, &[200], "job schemas");
        let job_schemas: Vec<(String, Vec<String>)> = a.body["schemas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["type"].as_str().unwrap().to_string(),
                    s["resource"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect();
        let a = cloud
            .call(
                "GET",
                &cloud.admin_url("/jobs?status=SUCCESS"),
                Some(&admin),
                None,
            )
            .await;
        let job = a.body["jobs"][0]["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let (router, external_network, floatingip) = Self::l3(&world).await;
        let original_pods = world.pod_ids.values().cloned().collect();
        // Room for what the fuzzing creates in project A.
        let quotas_a = [
            (
                cloud.compute_url(&format!("/os-quota-sets/{}", world.a.id)),
                json!({"quota_set": {"instances": 1000, "cores": 1000, "ram": 10_000_000}}),
            ),
            (
                cloud.volume_url(&format!("/os-quota-sets/{}", world.a.id)),
                json!({"quota_set": {"volumes": 1000, "gigabytes": 100_000, "snapshots": 1000, "backups": 1000}}),
            ),
            (
                cloud.network_url(&format!("/quotas/{}", world.a.id)),
                json!({"quota": {"network": 1000, "subnet": 1000, "port": 1000, "security_group": 1000,
                    "security_group_rule": 1000, "router": 1000, "floatingip": 1000}}),
            ),
        ];
        let fx = Fixtures {
            world,
            quota_project,
            server_port,
            aggregate,
            hypervisor,
            hypervisor_name,
            server_group,
            extension,
            binding,
            routing,
            job,
            job_schemas,
            router,
            external_network,
            floatingip,
            victims: BTreeMap::new(),
            victim_count: 0,
            original_pods,
            quotas_a,
            rng: Rng::new(seed ^ 0x5eed),
        };
        fx.restore_quotas().await;
        fx.raise_pod_quotas().await;
        fx
    }

    /// `(router, external network, floating IP)` of project A.
    async fn l3(world: &World) -> (String, String, String) {
        let cloud = &world.cloud;
        let member = world.a.member.token.as_str();
        let post = |path: &'static str, token: &str, body: Value| {
            let token = token.to_string();
            async move {
                cloud
                    .call("POST", &cloud.network_url(path), Some(&token), Some(&body))
                    .await
            }
        };
        let a = post("/routers", member, json!({"router": {"name": "fz-router"}})).await;
        expect(&a, &[201], "router");
        let router = a.body["router"]["id"].as_str().unwrap().to_string();
        let a = post(
            "/networks",
            &cloud.admin_token,
            json!({"network": {"name": format!("fz-ext-{}", world.tag), "router:external": true}}),
        )
        .await;
        expect(&a, &[201], "external network");
        let external = a.body["network"]["id"].as_str().unwrap().to_string();
        let a = post(
            "/subnets",
            &cloud.admin_token,
            json!({"subnet": {"network_id": external, "cidr": "172.31.0.0/22", "ip_version": 4}}),
        )
        .await;
        expect(&a, &[201], "external subnet");
        let a = post(
            "/floatingips",
            member,
            json!({"floatingip": {"floating_network_id": external}}),
        )
        .await;
        expect(&a, &[201], "floating IP");
        let fip = a.body["floatingip"]["id"].as_str().unwrap().to_string();
        (router, external, fip)
    }

    async fn restore_quotas(&self) {
        let cloud = self.cloud();
        for (url, body) in &self.quotas_a {
            let a = cloud
                .call("PUT", url, Some(&cloud.admin_token), Some(body))
                .await;
            expect(&a, &[200], "quota for project A");
        }
    }

    /// Room for project A in the pods' own quotas too (a pod's Nova and
    /// Cinder count A's servers and volumes themselves).
    async fn raise_pod_quotas(&self) {
        let cloud = self.cloud();
        let a = &self.world.a.id;
        for p in &cloud.pods {
            for (url, body) in [
                (
                    format!("{}/os-quota-sets/{a}", p.compute),
                    json!({"quota_set": {"instances": 1000, "cores": 1000, "ram": 10_000_000}}),
                ),
                (
                    format!("{}/os-quota-sets/{a}", p.volume),
                    json!({"quota_set": {"volumes": 1000, "gigabytes": 100_000, "snapshots": 1000, "backups": 1000}}),
                ),
            ] {
                let ans = cloud
                    .call("PUT", &url, Some(&cloud.admin_token), Some(&body))
                    .await;
                expect(&ans, &[200], "a pod's quota for project A");
            }
        }
    }

    /// Deletes project A's servers whose name starts with `prefix` and
    /// waits until they are gone.
    async fn delete_servers(&self, prefix: &str) {
        let cloud = self.cloud();
        let token = &self.world.a.member.token;
        let list = cloud
            .call("GET", &cloud.compute_url("/servers"), Some(token), None)
            .await;
        let ids: Vec<String> = list.body["servers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect();
        for id in &ids {
            let a = cloud
                .call(
                    "DELETE",
                    &cloud.compute_url(&format!("/servers/{id}")),
                    Some(token),
                    None,
                )
                .await;
            expect(&a, &[204], "delete a server the counts made");
        }
        for id in &ids {
            let url = cloud.compute_url(&format!("/servers/{id}"));
            wait_for("server gone", Duration::from_secs(60), || async {
                let a = cloud.call("GET", &url, Some(token), None).await;
                if a.status == 404 {
                    Ok(())
                } else {
                    Err(a.text)
                }
            })
            .await;
        }
    }

    /// Removes pods the fuzzing created (a pod without endpoints would
    /// take part in every list and boot afterwards).
    async fn remove_new_pods(&self) {
        let cloud = self.cloud();
        for p in cloud.pods().await {
            let id = p["pod_id"].as_str().unwrap_or_default();
            if !self.original_pods.contains(id) {
                let a = cloud
                    .call(
                        "DELETE",
                        &cloud.admin_url(&format!("/pods/{id}?force=true")),
                        Some(&cloud.admin_token),
                        None,
                    )
                    .await;
                expect(&a, &[200], "remove a pod the fuzzing made");
            }
        }
    }

    /// The value of a `{name}` segment: a fixture, or a victim made now.
    async fn value(&mut self, name: &str) -> Result<String, String> {
        let ra = self.world.ra.clone();
        Ok(match name {
            "server" => ra.server,
            "volume" => ra.volume,
            "snapshot" => ra.snapshot,
            "backup" => ra.backup,
            "network" => ra.network,
            "network_name" => ra.network_name,
            "subnet" => ra.subnet,
            "port" => ra.port,
            "security_group" => ra.security_group,
            "rule" => ra.rule,
            "keypair" => ra.keypair,
            "private_flavor" => ra.flavor,
            "private_volume_type" => ra.volume_type,
            "flavor" => self.world.flavor_public.clone(),
            "flavor_spec" => self.world.flavor_spec.clone(),
            "volume_type" => self.world.volume_type_public.clone(),
            "volume_type_spec" => self.world.volume_type_spec.clone(),
            "image" => self.world.image.clone(),
            "aggregate" => self.aggregate.clone(),
            "hypervisor" => self.hypervisor.clone(),
            "hypervisor_name" => self.hypervisor_name.clone(),
            "server_group" => self.server_group.clone(),
            "router" => self.router.clone(),
            "floatingip" => self.floatingip.clone(),
            "project" => self.world.a.id.clone(),
            "quota_project" => self.quota_project.clone(),
            "extension" => self.extension.clone(),
            "extension_alias" => "os-keypairs".into(),
            "pod" => self.world.pod_ids["Pod2"].clone(),
            "binding" => self.binding.clone(),
            "routing" => self.routing.clone(),
            "job" => self.job.clone(),
            "server_port" => self.server_port.clone(),
            "meta_key" => "fuzzmeta".into(),
            "tag" => "fuzztag".into(),
            "encryption_key" => "provider".into(),
            "migration" => "1".into(),
            "request_id" => format!("req-{}", self.rng.uuid()),
            "uuid" => self.rng.uuid(),
            v if v.starts_with("victim_") => {
                let kind = VICTIMS
                    .iter()
                    .find(|k| **k == v)
                    .unwrap_or_else(|| panic!("no victim of kind {v}"));
                return self.victim(kind).await;
            }
            other => panic!("no fixture for {{{other}}}"),
        })
    }

    /// A resource made to be destroyed, kept until a request succeeds on it.
    async fn victim(&mut self, kind: &'static str) -> Result<String, String> {
        use futures::FutureExt;
        if let Some(v) = self.victims.get(kind) {
            return Ok(v.clone());
        }
        // The helpers panic on a refusal; here that is a finding, not the end.
        let made = std::panic::AssertUnwindSafe(self.make_victim(kind))
            .catch_unwind()
            .await
            .unwrap_or_else(|p| {
                Err(p
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "creating it panicked".into()))
            })?;
        self.victims.insert(kind, made.clone());
        Ok(made)
    }

    async fn make_victim(&mut self, kind: &'static str) -> Result<String, String> {
        self.victim_count += 1;
        let n = self.victim_count;
        let tag = format!("victim-{n}-{}", self.world.tag);
        let cloud = &self.world.cloud;
        let member = self.world.a.member.token.clone();
        let admin = cloud.admin_token.clone();
        let ra = &self.world.ra;
        let created = |a: &Answer, ok: &[u16], key: &str, field: &str| -> Result<String, String> {
            if !ok.contains(&a.status) {
                return Err(format!("victim {kind}: HTTP {}: {}", a.status, a.text));
            }
            let v = &a.body[key][field];
            Ok(v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()))
        };
        let id = match kind {
            "victim_server" => {
                let a = cloud
                    .call_h(
                        "POST",
                        &cloud.compute_url("/servers"),
                        Some(&member),
                        Some(&json!({"server": {"name": tag, "flavorRef": self.world.flavor_public,
                            "imageRef": self.world.image, "networks": "none", "availability_zone": "az1"}})),
                        &[NOVA_VERSION],
                    )
                    .await;
                let id = created(&a, &[202], "server", "id")?;
                cloud.wait_server(&member, &id).await;
                id
            }
            "victim_volume" => cloud.create_volume(&member, &tag, "az1").await,
            "victim_snapshot" => cloud.create_snapshot(&member, &ra.volume).await,
            "victim_backup" => cloud.create_backup(&member, &ra.volume).await,
            "victim_flavor" => {
                let id = cloud.create_flavor(&tag, false).await;
                let a = cloud
                    .call(
                        "POST",
                        &cloud.compute_url(&format!("/flavors/{id}/os-extra_specs")),
                        Some(&admin),
                        Some(&json!({"extra_specs": {self.world.flavor_spec.clone(): "1"}})),
                    )
                    .await;
                created(&a, &[200], "extra_specs", "x").map(|_| ())?;
                id
            }
            "victim_volume_type" => {
                let id = cloud.create_volume_type(&tag, false).await;
                let a = cloud
                    .call(
                        "POST",
                        &cloud.volume_url(&format!("/types/{id}/extra_specs")),
                        Some(&admin),
                        Some(&json!({"extra_specs": {self.world.volume_type_spec.clone(): "1"}})),
                    )
                    .await;
                created(&a, &[200], "extra_specs", "x").map(|_| ())?;
                id
            }
            "victim_keypair" => cloud.create_keypair(&member, &tag).await,
            "victim_server_group" => cloud.create_server_group(&member, &tag).await,
            "victim_image" => {
                let a = cloud
                    .call(
                        "POST",
                        &format!("{}/v2/images", cloud.image),
                        Some(&member),
                        Some(
                            &json!({"name": tag, "disk_format": "raw", "container_format": "bare"}),
                        ),
                    )
                    .await;
                if a.status != 201 {
                    return Err(format!("victim image: HTTP {}: {}", a.status, a.text));
                }
                a.body["id"].as_str().unwrap().to_string()
            }
            "victim_network" => cloud.create_network(&member, &tag).await,
            "victim_subnet" => {
                let cidr = format!("10.{}.{}.0/24", 100 + (n / 250) % 100, n % 250);
                cloud.create_subnet(&member, &ra.network, &cidr).await.0
            }
            "victim_port" => cloud.create_port(&member, &ra.network).await,
            "victim_security_group" => cloud.create_security_group(&member, &tag).await,
            "victim_router" => {
                let a = cloud
                    .call(
                        "POST",
                        &cloud.network_url("/routers"),
                        Some(&member),
                        Some(&json!({"router": {"name": tag}})),
                    )
                    .await;
                created(&a, &[201], "router", "id")?
            }
            "victim_floatingip" => {
                let a = cloud
                    .call(
                        "POST",
                        &cloud.network_url("/floatingips"),
                        Some(&member),
                        Some(
                            &json!({"floatingip": {"floating_network_id": self.external_network}}),
                        ),
                    )
                    .await;
                created(&a, &[201], "floatingip", "id")?
            }
            "victim_rule" => {
                cloud
                    .create_rule(&member, &ra.security_group, 1000 + (n % 60000) as u16)
                    .await
            }
            "victim_pod" => {
                let a = cloud
                    .call(
                        "POST",
                        &cloud.admin_url("/pods"),
                        Some(&admin),
                        Some(
                            &json!({"pod": {"pod_name": tag, "az_name": format!("az-{tag}"),
                            "pod_az_name": "x", "dc_name": "x"}}),
                        ),
                    )
                    .await;
                created(&a, &[200], "pod", "pod_id")?
            }
            "victim_binding" => {
                let a = cloud
                    .call(
                        "POST",
                        &cloud.admin_url("/bindings"),
                        Some(&admin),
                        Some(&json!({"pod_binding": {"tenant_id": tag,
                            "pod_id": self.world.pod_ids["Pod2"]}})),
                    )
                    .await;
                created(&a, &[200], "pod_binding", "id")?
            }
            "victim_routing" => {
                let a = cloud
                    .call(
                        "POST",
                        &cloud.admin_url("/routings"),
                        Some(&admin),
                        Some(&json!({"routing": {"top_id": tag, "bottom_id": tag,
                            "pod_id": self.world.pod_ids["Pod2"], "project_id": format!("proj-{tag}"),
                            "resource_type": "network"}})),
                    )
                    .await;
                created(&a, &[200], "routing", "id")?
            }
            "victim_job" => {
                let (job_type, keys) = self.job_schemas[0].clone();
                let resource: Map<String, Value> =
                    keys.iter().map(|k| (k.clone(), json!(tag))).collect();
                let a = cloud
                    .call(
                        "POST",
                        &cloud.admin_url("/jobs"),
                        Some(&admin),
                        Some(
                            &json!({"job": {"type": job_type, "project_id": format!("proj-{tag}"),
                            "resource": resource}}),
                        ),
                    )
                    .await;
                created(&a, &[200], "job", "id")?
            }
            other => panic!("no victim of kind {other}"),
        };
        Ok(id)
    }

    /// A valid body for `route` (values drawn from `rng`).
    fn body(&self, route: &Route, rng: &mut Rng) -> Option<Value> {
        let ra = self.ra();
        let w = &self.world;
        let name = format!("fz-{}", &rng.hex()[..10]);
        let other = w.b.id.clone();
        Some(match route.body {
            B::None => return None,
            B::ServerCreate => {
                let mut s = json!({"name": name, "flavorRef": w.flavor_public, "imageRef": w.image,
                    "availability_zone": rng.pick(&["az1", "az2"]).to_string()});
                s["networks"] = if rng.chance(50) {
                    json!([{"uuid": ra.network}])
                } else {
                    json!("none")
                };
                if rng.chance(50) {
                    s["key_name"] = json!(ra.keypair);
                }
                if rng.chance(30) {
                    s["min_count"] = json!(1);
                    s["max_count"] = json!(1 + rng.below(2));
                }
                if rng.chance(30) {
                    s["security_groups"] = json!([{"name": "default"}]);
                }
                if rng.chance(30) {
                    s["metadata"] = json!({"k": "v"});
                }
                json!({ "server": s })
            }
            B::ServerUpdate => json!({"server": {"name": name}}),
            B::ServerAction => rng
                .pick(&[
                    json!({"os-stop": null}),
                    json!({"os-start": null}),
                    json!({"reboot": {"type": "SOFT"}}),
                    json!({"lock": null}),
                    json!({"unlock": null}),
                    json!({"pause": null}),
                    json!({"unpause": null}),
                    json!({"suspend": null}),
                    json!({"resume": null}),
                    json!({"os-getConsoleOutput": {"length": 5}}),
                    json!({"addSecurityGroup": {"name": "default"}}),
                    json!({"removeSecurityGroup": {"name": "default"}}),
                    json!({"changePassword": {"adminPass": "fz-pass"}}),
                ])
                .clone(),
            B::AttachVolume => json!({"volumeAttachment": {"volumeId": ra.volume}}),
            B::SwapVolume => json!({"volumeAttachment": {"volumeId": ra.volume}}),
            B::Metadata => json!({"metadata": {"fuzzmeta": "v", name.clone(): "w"}}),
            B::MetaItem => json!({"meta": {"fuzzmeta": "v2"}}),
            B::Tags => json!({"tags": ["fuzztag", name]}),
            B::InterfaceAttach => json!({"interfaceAttachment": {"net_id": ra.network}}),
            B::RemoteConsole => json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
            B::MigrationAction => json!({"force_complete": null}),
            B::ShareAttach => json!({"share": {"share_id": rng.uuid()}}),
            B::FlavorCreate => json!({"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 1,
                "os-flavor-access:is_public": rng.chance(50)}}),
            B::FlavorUpdate => json!({"flavor": {"description": name}}),
            B::ExtraSpecs => json!({"extra_specs": {format!("fuzz:{name}"): "1"}}),
            B::ExtraSpecItem => {
                let key = if route.api == Api::Compute {
                    w.flavor_spec.clone()
                } else {
                    w.volume_type_spec.clone()
                };
                json!({ key: "2" })
            }
            B::FlavorAccess => {
                if rng.chance(50) {
                    json!({"addTenantAccess": {"tenant": other}})
                } else {
                    json!({"removeTenantAccess": {"tenant": other}})
                }
            }
            B::KeypairCreate => json!({"keypair": {"name": name}}),
            B::ServerGroupCreate => {
                json!({"server_group": {"name": name, "policies": [rng.pick(&["affinity", "anti-affinity"]).to_string()]}})
            }
            B::ComputeQuota => json!({"quota_set": {"instances": 50, "cores": 60}}),
            B::VolumeCreate => {
                let mut v = json!({"size": 1, "name": name,
                    "availability_zone": rng.pick(&["az1", "az2"]).to_string()});
                if rng.chance(20) {
                    v["volume_type"] = json!(w.volume_type_public);
                }
                if rng.chance(20) {
                    v["metadata"] = json!({"k": "v"});
                }
                json!({ "volume": v })
            }
            B::VolumeUpdate => json!({"volume": {"name": name, "description": "d"}}),
            B::VolumeAction => {
                let size = 2 + rng.below(3);
                rng.pick(&[
                    json!({"os-extend": {"new_size": size}}),
                    json!({"os-set_bootable": {"bootable": true}}),
                    json!({"os-update_readonly_flag": {"readonly": false}}),
                    json!({"os-unreserve": null}),
                    json!({"os-retype": {"new_type": ra.volume_type}}),
                ])
                .clone()
            }
            B::SnapshotCreate => {
                json!({"snapshot": {"volume_id": ra.volume, "name": name, "force": true}})
            }
            B::SnapshotUpdate => json!({"snapshot": {"name": name}}),
            B::SnapshotAction => json!({"os-reset_status": {"status": "available"}}),
            B::BackupCreate => json!({"backup": {"volume_id": ra.volume, "name": name}}),
            B::TransferCreate => json!({"transfer": {"volume_id": rng.uuid(), "name": name}}),
            B::TransferAccept => json!({"accept": {"auth_key": "0123456789abcdef"}}),
            B::BackupUpdate => json!({"backup": {"name": name}}),
            B::BackupRestore => json!({"restore": {"name": name}}),
            B::BackupAction => json!({"os-reset_status": {"status": "available"}}),
            B::TypeCreate => json!({"volume_type": {"name": name,
                "os-volume-type-access:is_public": rng.chance(50)}}),
            B::TypeUpdate => json!({"volume_type": {"description": name}}),
            B::Encryption => {
                json!({"encryption": {"provider": "luks", "control_location": "front-end"}})
            }
            B::TypeAccess => {
                if rng.chance(50) {
                    json!({"addProjectAccess": {"project": other}})
                } else {
                    json!({"removeProjectAccess": {"project": other}})
                }
            }
            B::VolumeQuota => json!({"quota_set": {"volumes": 20, "gigabytes": 200}}),
            B::NetCreate(Net::Network) => json!({"network": {"name": name}}),
            B::NetCreate(Net::Subnet) => json!({"subnet": {"network_id": ra.network,
                "cidr": format!("10.200.{}.0/24", rng.below(250)), "ip_version": 4, "name": name}}),
            B::NetCreate(Net::Port) => json!({"port": {"network_id": ra.network, "name": name}}),
            B::NetCreate(Net::SecurityGroup) => json!({"security_group": {"name": name}}),
            B::NetCreate(Net::Rule) => json!({"security_group_rule": {
                "security_group_id": ra.security_group, "direction": "ingress", "protocol": "tcp",
                "port_range_min": 2000 + rng.below(30000), "port_range_max": 40000}}),
            B::NetUpdate(Net::Network) => json!({"network": {"name": name}}),
            B::NetUpdate(Net::Subnet) => json!({"subnet": {"name": name}}),
            B::NetUpdate(Net::Port) => json!({"port": {"name": name}}),
            B::NetUpdate(Net::SecurityGroup) => json!({"security_group": {"name": name}}),
            B::NetUpdate(Net::Rule) => json!({"security_group_rule": {"description": name}}),
            B::NetCreate(Net::Router) => json!({"router": {"name": name}}),
            B::NetUpdate(Net::Router) => json!({"router": {"name": name}}),
            B::NetCreate(Net::FloatingIp) => json!({"floatingip": {
                "floating_network_id": self.external_network, "description": name}}),
            B::NetUpdate(Net::FloatingIp) => json!({"floatingip": {"description": name}}),
            B::RouterInterface => json!({"subnet_id": ra.subnet}),
            B::ExtraRoutes => json!({"router": {"routes": []}}),
            B::NetQuota => json!({"quota": {"network": 20, "port": 60}}),
            B::PodCreate => json!({"pod": {"pod_name": name, "az_name": format!("az-{name}"),
                "pod_az_name": "x", "dc_name": "x"}}),
            B::PodUpdate => json!({"pod": {"dc_name": name}}),
            B::BindingCreate => json!({"pod_binding": {"tenant_id": name,
                "pod_id": w.pod_ids["Pod2"]}}),
            B::BindingUpdate => json!({"pod_binding": {"pod_id": w.pod_ids["Pod1"]}}),
            B::RoutingCreate => json!({"routing": {"top_id": name, "bottom_id": name,
                "pod_id": w.pod_ids["Pod2"], "project_id": format!("proj-{name}"),
                "resource_type": "network"}}),
            B::RoutingUpdate => json!({"routing": {"bottom_id": name}}),
            B::JobCreate => {
                let (job_type, keys) = rng.pick(&self.job_schemas).clone();
                let resource: Map<String, Value> =
                    keys.iter().map(|k| (k.clone(), json!(name))).collect();
                json!({"job": {"type": job_type, "project_id": format!("proj-{name}"),
                    "resource": resource}})
            }
        })
    }

    fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::Open => None,
            Who::Member => Some(self.a().member.token.clone()),
            Who::Admin => Some(self.a().admin.token.clone()),
        }
    }
}

// ------------------------------------------------------------------ drafts

/// A request being built: valid at first, then mutated.
#[derive(Clone)]
struct Draft {
    method: String,
    /// Raw segments after the leading `/` (already encoded).
    segments: Vec<Vec<u8>>,
    /// Which segments came from a `{name}`.
    params: Vec<(usize, String)>,
    suffix: Vec<u8>,
    query: Vec<String>,
    token: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    json: Option<Value>,
    /// Set when the body is no longer `json` serialised.
    raw_body: Option<Vec<u8>>,
}

/// A known right answer for a request with this one mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oracle {
    /// A non-JSON Content-Type on a route that reads a JSON body: 415.
    UnsupportedMediaType,
    /// A body over the limit: 413.
    TooLarge,
    /// No token, or one Keystone refuses: 401.
    Unauthenticated,
    /// Control characters in a name: never accepted.
    NoControlCharacters,
    /// Neutron's `limit` + unknown `marker`: 404.
    UnknownMarker,
}

struct Applied {
    label: String,
    /// Breaks HTTP itself (the server may answer before the application).
    http_level: bool,
    oracle: Option<Oracle>,
    /// Makes the request one that must be refused (4xx) whatever else it
    /// carries: a traversal or other impossible path, a method the path
    /// does not have, no valid token, a non-JSON or oversized body, a
    /// name with control characters.
    refused: bool,
}

impl Applied {
    fn new(label: impl Into<String>) -> Applied {
        Applied {
            label: label.into(),
            http_level: false,
            oracle: None,
            refused: false,
        }
    }
    /// Bends HTTP itself; the server may still take it (a 64 KB header,
    /// a tab in the path), so no refusal is asked for.
    fn http(label: impl Into<String>) -> Applied {
        Applied {
            http_level: true,
            ..Applied::new(label)
        }
    }
    fn oracle(label: impl Into<String>, o: Oracle) -> Applied {
        Applied {
            oracle: Some(o),
            refused: true,
            ..Applied::new(label)
        }
    }
    fn refused(label: impl Into<String>) -> Applied {
        Applied {
            refused: true,
            ..Applied::new(label)
        }
    }
}

impl Draft {
    fn body_bytes(&self) -> Option<Vec<u8>> {
        self.raw_body
            .clone()
            .or_else(|| self.json.as_ref().map(|j| j.to_string().into_bytes()))
    }

    fn to_request(&self) -> RawRequest {
        let mut target = Vec::new();
        for s in &self.segments {
            target.push(b'/');
            target.extend_from_slice(s);
        }
        if self.segments.is_empty() {
            target.push(b'/');
        }
        target.extend_from_slice(&self.suffix);
        if !self.query.is_empty() {
            target.push(b'?');
            target.extend_from_slice(self.query.join("&").as_bytes());
        }
        let mut headers = Vec::new();
        if let Some(t) = &self.token {
            headers.push(("X-Auth-Token".to_string(), t.clone()));
        }
        let body = self.body_bytes();
        if let Some(ct) = &self.content_type {
            headers.push(("Content-Type".to_string(), ct.clone()));
        }
        headers.push(("Accept".to_string(), b"application/json".to_vec()));
        headers.extend(self.headers.iter().cloned());
        RawRequest {
            method: self.method.clone(),
            target: String::from_utf8_lossy(&target).into_owned(),
            headers,
            body,
        }
    }
}

/// Whether `v` has a string field named `key` somewhere.
fn has_string_field(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| (k == key && v.is_string()) || has_string_field(v, key)),
        Value::Array(a) => a.iter().any(|v| has_string_field(v, key)),
        _ => false,
    }
}

/// Every path to a JSON leaf (object keys and array indexes).
fn leaf_paths(v: &Value) -> Vec<Vec<Value>> {
    fn walk(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, c) in m {
                    at.push(json!(k));
                    walk(c, at, out);
                    at.pop();
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for (i, c) in a.iter().enumerate() {
                    at.push(json!(i));
                    walk(c, at, out);
                    at.pop();
                }
            }
            _ => out.push(at.clone()),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut cur = v;
    for p in path {
        cur = match p {
            Value::String(k) => cur.get_mut(k.as_str())?,
            Value::Number(i) => cur.get_mut(i.as_u64()? as usize)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn path_label(path: &[Value]) -> String {
    path.iter()
        .map(|p| {
            p.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| p.to_string())
        })
        .collect::<Vec<_>>()
        .join(".")
}

// ------------------------------------------------------------------ mutations

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Traversal,
    RawSegment,
    OtherValue,
    Suffix,
    Prefix,
    Method,
    Query,
    Token,
    ContentType,
    Version,
    Header,
    Leaf,
    Shape,
    BadJson,
    BodyLimit,
}

const ALL_KINDS: &[Kind] = &[
    Kind::Traversal,
    Kind::RawSegment,
    Kind::OtherValue,
    Kind::Suffix,
    Kind::Prefix,
    Kind::Method,
    Kind::Query,
    Kind::Token,
    Kind::ContentType,
    Kind::Version,
    Kind::Header,
    Kind::Leaf,
    Kind::Leaf,
    Kind::Shape,
    Kind::BadJson,
    Kind::BodyLimit,
];

/// The methods a path answers (from the route table).
fn methods_of(route: &Route) -> Vec<&'static str> {
    ROUTES
        .iter()
        .filter(|r| r.api == route.api && shape(r.path) == shape(route.path))
        .map(|r| r.method)
        .collect()
}

/// A path with every `{...}` made `{}`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("{}");
                }
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

fn mutate(
    kind: Kind,
    d: &mut Draft,
    route: &Route,
    fx: &Fixtures,
    rng: &mut Rng,
) -> Option<Applied> {
    match kind {
        Kind::Traversal => {
            let v = *rng.pick(TRAVERSAL);
            // A change along such a path, or anything below a routed
            // resource, must be refused; a read may legitimately land on a
            // route with a free-form segment (a project id, say).
            let must_refuse = route.method != "GET" || below_routed_resource(route.path);
            let applied = |label: String, free_form: bool| {
                if must_refuse && !free_form {
                    Applied::refused(label)
                } else {
                    Applied::new(label)
                }
            };
            if d.params.is_empty() || rng.chance(25) {
                d.suffix = format!("/{v}").into_bytes();
                return Some(applied(format!("path suffix /{v}"), false));
            }
            let (i, name) = rng.pick(&d.params).clone();
            let new = if rng.chance(50) {
                v.to_string()
            } else {
                format!("{}/{v}", String::from_utf8_lossy(&d.segments[i]))
            };
            d.segments[i] = new.clone().into_bytes();
            // Cinder and Neutron take any string as the project of a quota,
            // and so does Nova's delete; Nova's update asks Keystone whether
            // the project exists (400 if not).
            let free_form = name.ends_with("project")
                && (route.api != Api::Compute || route.method == "DELETE");
            Some(applied(format!("{{{name}}} = {new}"), free_form))
        }
        Kind::RawSegment => {
            let v = *rng.pick(RAW_SEGMENTS);
            match d.params.first().cloned() {
                Some((i, name)) => {
                    d.segments[i] = v.to_vec();
                    Some(Applied::http(format!("{{{name}}} = raw {v:?}")))
                }
                None => {
                    d.suffix = [b"/".as_slice(), v].concat();
                    Some(Applied::http(format!("raw suffix {v:?}")))
                }
            }
        }
        Kind::OtherValue => {
            let (i, name) = rng.pick(&d.params).clone();
            let long = "x".repeat(300);
            let huge = "y".repeat(20_000);
            let other = fx.other_of(&name);
            let mut choices: Vec<String> = vec![
                rng.uuid(),
                String::new(),
                long,
                huge,
                "9223372036854775807".into(),
                "-1".into(),
                "0".into(),
                "1.5".into(),
                "null".into(),
                "%20".into(),
                "%27%20OR%20%271%27%3D%271".into(),
                "%3Cscript%3E".into(),
                "%C3%BCn%C3%AF".into(),
                "%E2%80%AE".into(),
                // Full-width full stops: a name, not a traversal.
                "%EF%BC%8E%EF%BC%8E".into(),
            ];
            if let Some(o) = other {
                choices.push(o.clone());
                choices.push(o);
            }
            let v = rng.pick(&choices).clone();
            d.segments[i] = v.clone().into_bytes();
            Some(Applied::new(format!("{{{name}}} = {}", cut(&v, 60))))
        }
        Kind::Suffix => {
            let v = *rng.pick(&[
                "/",
                "//",
                "/extra",
                "/action/extra",
                ".json",
                ".xml",
                "/../..",
                "/%2e%2e/%2e%2e/network/v2.0/networks",
                "/detail/detail",
                "?",
                "#fragment",
            ]);
            d.suffix = v.as_bytes().to_vec();
            Some(Applied::new(format!("suffix {v}")))
        }
        Kind::Prefix => {
            if d.segments.is_empty() {
                return None;
            }
            let choice = rng.below(5);
            match (route.api, choice) {
                (Api::Compute | Api::Volume, 0) => {
                    d.segments.insert(1, fx.world.b.id.clone().into_bytes());
                    shift_params(d, 1);
                    Some(Applied::new("another project's id in the URL"))
                }
                (Api::Compute | Api::Volume, 1) => {
                    d.segments.insert(1, fx.world.a.id.clone().into_bytes());
                    shift_params(d, 1);
                    Some(Applied::new("own project id in the URL"))
                }
                (Api::Volume, 2) if d.segments[0] == b"v3" => {
                    d.segments[0] = b"v2".to_vec();
                    Some(Applied::new("/v2 alias"))
                }
                (_, 3) => {
                    d.segments[0] = d.segments[0].to_ascii_uppercase();
                    Some(Applied::new("upper-case version"))
                }
                _ => {
                    d.segments.insert(0, Vec::new());
                    shift_params(d, 1);
                    Some(Applied::new("double slash"))
                }
            }
        }
        Kind::Method => {
            let allowed = methods_of(route);
            let mut choices: Vec<&str> = [
                "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "get",
            ]
            .into_iter()
            .filter(|m| !allowed.contains(m))
            .collect();
            choices.push("PATCH");
            let m = *rng.pick(&choices);
            d.method = m.to_string();
            Some(Applied::refused(format!("method {m}")))
        }
        Kind::Query => {
            let q = rng.pick(QUERIES).to_string();
            let q = q
                .replace("{other_project}", &fx.world.b.id)
                .replace("{uuid}", &rng.uuid())
                .replace("{other_id}", &fx.other_id(rng));
            let q = if rng.chance(5) {
                format!("a={}", "b".repeat(9000))
            } else {
                q
            };
            d.query.push(q.clone());
            Some(Applied::new(format!("query {}", cut(&q, 80))))
        }
        Kind::Token => {
            let w = &fx.world;
            let choice = rng.below(10);
            let (label, token, oracle): (&str, Option<Vec<u8>>, bool) = match choice {
                0 => ("no token", None, true),
                1 => ("empty token", Some(Vec::new()), true),
                2 => ("garbage token", Some(b"gAAAAABfuzz".to_vec()), true),
                3 => ("8 KB token", Some(vec![b'a'; 8192]), true),
                4 => ("non-ASCII token", Some(b"tok\xff\xfe".to_vec()), true),
                5 => (
                    "revoked token",
                    Some(w.revoked_token.clone().into_bytes()),
                    true,
                ),
                6 => (
                    "unscoped token",
                    Some(w.unscoped_token.clone().into_bytes()),
                    false,
                ),
                7 => (
                    "another project's member",
                    Some(w.b.member.token.clone().into_bytes()),
                    false,
                ),
                8 => ("reader", Some(w.a.reader.token.clone().into_bytes()), false),
                _ => match route.who {
                    Who::Admin => (
                        "member on an admin route",
                        Some(w.a.member.token.clone().into_bytes()),
                        false,
                    ),
                    _ => (
                        "another project's reader",
                        Some(w.b.reader.token.clone().into_bytes()),
                        false,
                    ),
                },
            };
            d.token = token;
            if oracle && route.who != Who::Open {
                Some(Applied::oracle(label, Oracle::Unauthenticated))
            } else {
                Some(Applied::new(label))
            }
        }
        Kind::ContentType => {
            let reads_body = route.body != Body::None;
            if reads_body && rng.chance(60) {
                let ct = *rng.pick(non_json_types(route.api));
                d.content_type = Some(ct.as_bytes().to_vec());
                return Some(Applied::oracle(
                    format!("Content-Type {ct}"),
                    Oracle::UnsupportedMediaType,
                ));
            }
            if rng.chance(30) {
                d.content_type = None;
                if d.json.is_none() && d.raw_body.is_none() {
                    d.raw_body = Some(b"{}".to_vec());
                }
                return Some(Applied::new("no Content-Type"));
            }
            let ct = *rng.pick(ODD_TYPES);
            d.content_type = Some(ct.as_bytes().to_vec());
            if d.json.is_none() && d.raw_body.is_none() {
                d.raw_body = Some(b"{\"x\": 1}".to_vec());
            }
            Some(Applied::new(format!("Content-Type {ct:?}")))
        }
        Kind::Version => {
            let (h, v) = *rng.pick(VERSIONS);
            d.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(h));
            d.headers.push((h.to_string(), v.as_bytes().to_vec()));
            Some(Applied::new(format!("{h}: {v}")))
        }
        Kind::Header => {
            let choice = rng.below(9);
            let (label, name, value, http): (&str, &str, Vec<u8>, bool) = match choice {
                0 => ("Accept xml", "Accept", b"application/xml".to_vec(), false),
                1 => (
                    "request id garbage",
                    "X-Openstack-Request-Id",
                    b"req-../../etc".to_vec(),
                    false,
                ),
                2 => (
                    "request id 4 KB",
                    "X-Openstack-Request-Id",
                    vec![b'r'; 4096],
                    false,
                ),
                3 => ("64 KB header", "X-Fuzz", vec![b'h'; 65536], true),
                4 => (
                    "X-Forwarded-Proto javascript",
                    "X-Forwarded-Proto",
                    b"javascript".to_vec(),
                    false,
                ),
                5 => ("odd Host", "Host", b"evil.example:1/../x".to_vec(), false),
                6 => (
                    "strict list garbage",
                    "X-Tricircle-Strict-List",
                    b"maybe".to_vec(),
                    false,
                ),
                7 => (
                    "control character in a header",
                    "X-Fuzz",
                    b"a\x01b".to_vec(),
                    true,
                ),
                _ => (
                    "second Content-Length",
                    "Content-Length",
                    b"abc".to_vec(),
                    true,
                ),
            };
            d.headers.push((name.to_string(), value));
            // A control character in a header value and a Content-Length
            // that is no number are not HTTP: 400.
            let broken = choice >= 7;
            Some(match (http, broken) {
                (true, true) => Applied {
                    refused: true,
                    ..Applied::http(label)
                },
                (true, false) => Applied::http(label),
                _ => Applied::new(label),
            })
        }
        Kind::Leaf => {
            let json = d.json.as_mut()?;
            let paths = leaf_paths(json);
            let path = rng.pick(&paths).clone();
            let values = leaf_values(fx, rng);
            let (label, value) = rng.pick(&values).clone();
            let key = path.last().and_then(Value::as_str).unwrap_or("");
            let control = label == "NUL"
                || label == "control characters"
                || label == "DEL"
                || label == "newline";
            let name_field = key == "name" && sets_a_name(route.body);
            *at_mut(json, &path)? = value;
            let label = format!("body {} = {label}", path_label(&path));
            Some(if control && name_field {
                Applied::oracle(label, Oracle::NoControlCharacters)
            } else {
                Applied::new(label)
            })
        }
        Kind::Shape => {
            let json = d.json.as_mut()?;
            match rng.below(8) {
                0 => {
                    let paths = leaf_paths(json);
                    let path = rng.pick(&paths).clone();
                    let (last, parent) = path.split_last()?;
                    match (at_mut(json, parent)?, last) {
                        (Value::Object(m), Value::String(k)) => {
                            m.remove(k);
                        }
                        (Value::Array(a), Value::Number(i)) => {
                            a.remove(i.as_u64()? as usize);
                        }
                        _ => return None,
                    }
                    Some(Applied::new(format!("body without {}", path_label(&path))))
                }
                1 => {
                    let obj = json.as_object_mut()?;
                    let inner = obj.values_mut().next()?;
                    if let Some(m) = inner.as_object_mut() {
                        m.insert("fuzz_unknown".into(), json!("x"));
                    } else {
                        obj.insert("fuzz_unknown".into(), json!("x"));
                    }
                    Some(Applied::new("unknown field"))
                }
                2 => {
                    let obj = json.as_object_mut()?;
                    let k = obj.keys().next()?.clone();
                    let v = obj.remove(&k)?;
                    obj.insert(format!("{k}s"), v);
                    Some(Applied::new(format!("wrapper {k} renamed {k}s")))
                }
                3 => {
                    let v = rng
                        .pick(&[json!([]), json!("str"), json!(1), Value::Null, json!(true)])
                        .clone();
                    *json = v;
                    Some(Applied::new("top level not an object"))
                }
                4 => {
                    *json = json!([json.clone()]);
                    Some(Applied::new("body wrapped in a list"))
                }
                5 => {
                    let mut text = json.to_string();
                    for _ in 0..200 {
                        text = format!("[{text}]");
                    }
                    d.raw_body = Some(text.into_bytes());
                    Some(Applied::new("200 nested lists"))
                }
                6 => {
                    let paths = leaf_paths(json);
                    let path = rng.pick(&paths).clone();
                    let mut deep = json!("bottom");
                    for _ in 0..100 {
                        deep = json!({ "a": deep });
                    }
                    *at_mut(json, &path)? = deep;
                    Some(Applied::new(format!(
                        "100 nested objects at {}",
                        path_label(&path)
                    )))
                }
                _ => {
                    let obj = json.as_object_mut()?;
                    let inner = obj.values_mut().next()?.as_object_mut()?;
                    for i in 0..20_000 {
                        inner.insert(format!("k{i}"), json!(i));
                    }
                    Some(Applied::new("20000 unknown fields"))
                }
            }
        }
        Kind::BadJson => {
            let text = d
                .json
                .as_ref()
                .map(|j| j.to_string())
                .unwrap_or_else(|| "{\"x\": 1}".into());
            let (label, bytes): (&str, Vec<u8>) = match rng.below(10) {
                0 => ("truncated JSON", text.as_bytes()[..text.len() / 2].to_vec()),
                1 => ("trailing garbage", format!("{text}garbage").into_bytes()),
                2 => ("byte order mark", format!("\u{feff}{text}").into_bytes()),
                3 => ("single quotes", text.replace('"', "'").into_bytes()),
                4 => ("NaN", b"{\"x\": NaN}".to_vec()),
                5 => (
                    "duplicate keys",
                    format!("{{\"x\": 1, \"x\": {text}}}").into_bytes(),
                ),
                6 => ("invalid UTF-8", b"{\"name\": \"\xff\xfe\"}".to_vec()),
                7 => ("empty body", Vec::new()),
                8 => ("whitespace body", b"   \n ".to_vec()),
                _ => ("JSON null", b"null".to_vec()),
            };
            if d.content_type.is_none() {
                d.content_type = Some(b"application/json".to_vec());
            }
            d.raw_body = Some(bytes);
            Some(Applied::new(label))
        }
        Kind::BodyLimit => {
            let mut text = d
                .json
                .as_ref()
                .map(|j| j.to_string())
                .unwrap_or_else(|| "{\"x\": 1}".into());
            // 1 MiB is the default limit.
            text.insert_str(1, &format!("\"pad\": \"{}\",", "p".repeat(1_100_000)));
            if d.content_type.is_none() {
                d.content_type = Some(b"application/json".to_vec());
            }
            d.raw_body = Some(text.into_bytes());
            Some(Applied::oracle("body over 1 MiB", Oracle::TooLarge))
        }
    }
}

/// A route below a server, volume, snapshot or backup (passed through to
/// its pod).
fn below_routed_resource(path: &str) -> bool {
    [
        "/v2.1/servers/{server}/",
        "/v3/volumes/{volume}/",
        "/v3/snapshots/{snapshot}/",
        "/v3/backups/{backup}/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// Whether a valid body of this kind names what it creates or updates
/// (where a name with control characters must be refused), rather than
/// referring to something by name.
fn sets_a_name(body: Body) -> bool {
    matches!(
        body,
        B::ServerCreate
            | B::ServerUpdate
            | B::FlavorCreate
            | B::KeypairCreate
            | B::ServerGroupCreate
            | B::VolumeCreate
            | B::VolumeUpdate
            | B::SnapshotCreate
            | B::SnapshotUpdate
            | B::BackupCreate
            | B::BackupUpdate
            | B::BackupRestore
            | B::TypeCreate
            | B::TypeUpdate
            | B::NetCreate(_)
            | B::NetUpdate(_)
    )
}

/// The part of the request a mutation rewrites as a whole, if any.
fn slot(k: Kind) -> Option<&'static str> {
    match k {
        Kind::Traversal | Kind::RawSegment | Kind::OtherValue | Kind::Suffix | Kind::Prefix => {
            Some("path")
        }
        Kind::Token => Some("token"),
        Kind::ContentType => Some("content type"),
        Kind::Method => Some("method"),
        Kind::BadJson | Kind::BodyLimit => Some("raw body"),
        _ => None,
    }
}

fn shift_params(d: &mut Draft, by: usize) {
    for (i, _) in d.params.iter_mut() {
        *i += by;
    }
}

// ------------------------------------------------------------------ runner

struct Failure {
    kind: String,
    request: String,
    answer: String,
    detail: String,
}

#[derive(Default)]
struct Stats {
    sent: usize,
    by_phase: BTreeMap<&'static str, usize>,
    by_status: BTreeMap<u16, usize>,
    by_api: BTreeMap<String, usize>,
    route_methods: BTreeSet<(String, &'static str, &'static str)>,
    refused_checked: usize,
    refused_checked_with_pods: usize,
    accepted: usize,
    settles: usize,
    slowest: (Duration, String),
    /// Where the time went.
    time: BTreeMap<&'static str, Duration>,
}

impl Stats {
    fn took(&mut self, what: &'static str, since: Instant) {
        *self.time.entry(what).or_default() += since.elapsed();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rebase {
    /// The baseline is current.
    No,
    /// Something was accepted: wait until the state stops moving.
    Settle,
}

struct Runner {
    demo: Demo,
    fx: Fixtures,
    reader: StateReader,
    rng: Rng,
    baseline: Snapshot,
    rebase: Rebase,
    /// Requests since the pods were last read (they were checked against
    /// the top store only).
    unchecked_pods: Vec<String>,
    stats: Stats,
    failures: Vec<Failure>,
    hangs: usize,
    started: Instant,
    /// Jobs the fuzzing created through `POST /v1.0/jobs`.
    created_jobs: Vec<(String, String)>,
}

fn is_error_body(api: Api, status: u16, body: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        format!(
            "the error body is not JSON: {}",
            cut(&String::from_utf8_lossy(body), 200)
        )
    })?;
    let obj = v.as_object().ok_or("the error body is not a JSON object")?;
    // webob's own form, which Nova and Cinder answer for paths they do not
    // route (a pod's answer passed on).
    if api != Api::Network
        && obj.len() == 3
        && v["code"]
            .as_str()
            .is_some_and(|c| c.starts_with(&status.to_string()))
        && v["message"].is_string()
        && v["title"].is_string()
    {
        return Ok(());
    }
    if obj.len() != 1 {
        return Err(format!("the error body has {} top-level keys", obj.len()));
    }
    let (k, inner) = obj.iter().next().unwrap();
    if k == "error" && inner["code"] == json!(status) && inner["message"].is_string() {
        // keystonemiddleware's form (401, and 503 when Keystone is away).
        return Ok(());
    }
    match api {
        Api::Network => {
            if k == "NeutronError" && inner["message"].is_string() && inner["type"].is_string() {
                Ok(())
            } else {
                Err(format!("not a Neutron error body: {v}"))
            }
        }
        _ => {
            if inner["message"].is_string() && inner["code"] == json!(status) {
                Ok(())
            } else {
                Err(format!("not a Nova/Cinder fault body: {v}"))
            }
        }
    }
}

impl Runner {
    fn fail(&mut self, kind: &str, req: &RawRequest, resp: Option<&RawResponse>, detail: String) {
        // Tokens by whose they are: a reproduction says which to use, and
        // the test's output carries no secret.
        let secrets = self.fx.world.secrets(&self.demo);
        let redact = |text: String| {
            secrets.iter().fold(text, |t, (what, secret)| {
                t.replace(secret.as_str(), &format!("<{what}>"))
            })
        };
        let request = redact(req.describe());
        let answer = redact(
            resp.map(|r| r.describe())
                .unwrap_or_else(|| "(no answer)".into()),
        );
        let detail = redact(detail);
        println!("FAILURE [{kind}] {detail}\n{request}{answer}");
        self.failures.push(Failure {
            kind: kind.to_string(),
            request,
            answer,
            detail,
        });
    }

    fn root(&self, api: Api) -> String {
        let c = self.fx.cloud();
        match api {
            Api::Compute => c.compute.clone(),
            Api::Volume => c.volume.clone(),
            Api::Network => c.network.clone(),
            Api::Admin => c.admin.clone(),
        }
    }

    /// The valid request of `route` (with its `{name}` segments filled).
    async fn draft(&mut self, route: &Route) -> Result<Draft, String> {
        let mut segments = Vec::new();
        let mut params = Vec::new();
        for (i, seg) in route.path.trim_start_matches('/').split('/').enumerate() {
            if route.path == "/" {
                break;
            }
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let v = self.fx.value(name).await?;
                let enc: String = url::form_urlencoded::byte_serialize(v.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20");
                segments.push(enc.into_bytes());
                params.push((i, name.to_string()));
            } else {
                segments.push(seg.as_bytes().to_vec());
            }
        }
        let json = self.fx.body(route, &mut self.rng);
        let mut headers = Vec::new();
        if let Some(v) = route.version {
            headers.push(("OpenStack-API-Version".to_string(), v.as_bytes().to_vec()));
        }
        Ok(Draft {
            method: route.method.to_string(),
            segments,
            params,
            suffix: Vec::new(),
            query: Vec::new(),
            token: self.fx.token(route.who).map(String::into_bytes),
            content_type: json.as_ref().map(|_| b"application/json".to_vec()),
            headers,
            json,
            raw_body: None,
        })
    }

    /// Builds, mutates, sends and checks one request.
    async fn exchange(&mut self, phase: &'static str, route: &Route, kinds: &[Kind]) {
        self.exchange_with(phase, route, |d, route, fx, rng| {
            kinds
                .iter()
                .filter_map(|k| mutate(*k, d, route, fx, rng))
                .collect()
        })
        .await
    }

    async fn exchange_with<F>(&mut self, phase: &'static str, route: &Route, f: F)
    where
        F: FnOnce(&mut Draft, &Route, &Fixtures, &mut Rng) -> Vec<Applied>,
    {
        if self.rebase == Rebase::Settle
            || route.path.contains("{victim_")
            || self.unchecked_pods.len() >= POD_CHECK_WINDOW
        {
            let req = RawRequest {
                method: route.method.into(),
                target: route.path.into(),
                headers: Vec::new(),
                body: None,
            };
            self.flush_window(&req).await;
        }
        let t = Instant::now();
        let victims_before = self.fx.victim_count;
        let drafted = self.draft(route).await;
        if self.fx.victim_count != victims_before {
            self.stats.took("victims", t);
            self.rebase = Rebase::Settle;
        }
        let mut draft = match drafted {
            Ok(d) => d,
            Err(e) => {
                let req = RawRequest {
                    method: route.method.into(),
                    target: route.path.into(),
                    headers: Vec::new(),
                    body: None,
                };
                self.fail("fixture", &req, None, e);
                self.rebase = Rebase::Settle;
                return;
            }
        };
        let victims: Vec<&'static str> = self
            .fx
            .victims
            .keys()
            .copied()
            .filter(|k| route.path.contains(&format!("{{{k}}}")))
            .collect();
        let applied = f(&mut draft, route, &self.fx, &mut self.rng);
        let req = draft.to_request();
        let label = applied
            .iter()
            .map(|a| a.label.clone())
            .collect::<Vec<_>>()
            .join("; ");
        let http_level = applied.iter().any(|a| a.http_level);
        let must_be_refused = applied.iter().any(|a| a.refused);
        let oracle = match applied.as_slice() {
            [one] => one.oracle,
            _ => None,
        };
        // Requests that cannot have changed anything on their way (reads,
        // and refusals for want of a token or of the method) are checked
        // against the top store at once and against the pods in windows; a
        // change found there names the window. Nothing that may be
        // accepted is sent before the window is checked.
        let read = matches!(req.method.as_str(), "GET" | "HEAD");
        if !read && !must_be_refused && self.may_be_accepted(&draft) {
            self.flush_window(&req).await;
        }
        let t = Instant::now();
        if self.rebase == Rebase::Settle {
            self.stats.settles += 1;
            let settled = self.reader.settle(Duration::from_secs(10)).await;
            self.stats.took("settle", t);
            match settled {
                Ok(s) => self.baseline = s,
                Err(why) => {
                    self.fail(
                        "did not settle",
                        &req,
                        None,
                        format!("before this request the state kept moving: {why}"),
                    );
                    self.baseline = self.reader.snapshot(true).await;
                }
            }
            self.unchecked_pods.clear();
            self.rebase = Rebase::No;
        }

        let root = self.root(route.api);
        let t = Instant::now();
        let answer = send_raw(&root, &req, REQUEST_TIMEOUT).await;
        let took = t.elapsed();
        self.stats.took("requests", t);
        if std::env::var_os("TRICIRCLE_FUZZ_TRACE").is_some() {
            println!(
                "#{} [{phase}] {} {} [{label}] -> {}",
                self.stats.sent + 1,
                req.method,
                cut(&req.target, 200),
                answer
                    .as_ref()
                    .map(|r| r.status.to_string())
                    .unwrap_or_else(|e| e.clone())
            );
        }
        self.stats.sent += 1;
        if self.stats.sent.is_multiple_of(200) {
            println!(
                "... {} requests, {:.0} s, {} failures, time {:?}",
                self.stats.sent,
                self.started.elapsed().as_secs_f64(),
                self.failures.len(),
                self.stats.time
            );
        }
        *self.stats.by_phase.entry(phase).or_default() += 1;
        *self
            .stats
            .by_api
            .entry(format!("{:?}", route.api))
            .or_default() += 1;
        if ROUTES
            .iter()
            .any(|r| r.api == route.api && r.method == route.method && r.path == route.path)
        {
            self.stats
                .route_methods
                .insert((format!("{:?}", route.api), route.method, route.path));
        }
        if took > self.stats.slowest.0 {
            self.stats.slowest = (took, format!("{} {}", req.method, cut(&req.target, 120)));
        }
        let resp = match answer {
            Ok(r) => r,
            Err(e) => {
                if e.contains("hang") {
                    self.hangs += 1;
                }
                let alive = self.demo.alive();
                self.fail(
                    if alive { "no answer" } else { "gateway died" },
                    &req,
                    None,
                    format!("[{phase}] {label}: {e}"),
                );
                assert!(
                    alive,
                    "the gateway process died; log:\n{}",
                    cut(&self.demo.log(), 20000)
                );
                self.rebase = Rebase::Settle;
                return;
            }
        };
        *self.stats.by_status.entry(resp.status).or_default() += 1;
        let status = resp.status;
        if status >= 500 {
            self.fail("5xx", &req, Some(&resp), format!("[{phase}] {label}"));
        }
        // Known right answers.
        let wrong = match oracle {
            Some(Oracle::UnsupportedMediaType) if status != 415 => {
                Some("a non-JSON Content-Type must be 415")
            }
            Some(Oracle::TooLarge) if status != 413 => Some("a body over the limit must be 413"),
            Some(Oracle::Unauthenticated) if status != 401 => {
                Some("a request without a valid token must be 401")
            }
            Some(Oracle::NoControlCharacters) if status < 300 => {
                Some("a name with control characters must be refused (400)")
            }
            Some(Oracle::UnknownMarker) if status != 404 => {
                Some("an unknown marker with a limit must be 404, as Neutron answers")
            }
            _ => None,
        };
        if let Some(w) = wrong {
            self.fail(
                "wrong answer",
                &req,
                Some(&resp),
                format!("[{phase}] {label}: {w}"),
            );
        } else if must_be_refused && status < 400 {
            self.fail(
                "wrong answer",
                &req,
                Some(&resp),
                format!("[{phase}] {label}: this request must be refused (4xx)"),
            );
        }
        if (400..500).contains(&status)
            && req.method != "HEAD"
            && !(http_level && resp.body.is_empty())
        {
            if let Err(e) = is_error_body(route.api, status, &resp.body) {
                self.fail(
                    "error body",
                    &req,
                    Some(&resp),
                    format!("[{phase}] {label}: {e}"),
                );
            }
        }

        // A refused change is checked against the pods at once, unless no
        // handler saw it (no valid token, no such method).
        let pods_matter = !read && status != 401 && status != 405;
        if (400..500).contains(&status) {
            self.stats.refused_checked += 1;
            if pods_matter {
                self.stats.refused_checked_with_pods += 1;
            }
            let t = Instant::now();
            let mut after = self.reader.snapshot(pods_matter).await;
            let mut diff = self.baseline.diff(&after, pods_matter);
            self.stats.took("checks", t);
            // An undo still in progress may put things back shortly.
            let t = Instant::now();
            let until = Instant::now() + Duration::from_millis(400);
            while !diff.is_empty() && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
                after = self.reader.snapshot(pods_matter).await;
                diff = self.baseline.diff(&after, pods_matter);
            }
            self.stats.took("waiting for undo", t);
            if !diff.is_empty() {
                let earlier = if pods_matter && !self.unchecked_pods.is_empty() {
                    format!(
                        " (the pods' part may also come from these earlier requests, checked against the top store only:\n  {})",
                        self.unchecked_pods.join("\n  ")
                    )
                } else {
                    String::new()
                };
                self.fail(
                    "state changed by a refused request",
                    &req,
                    Some(&resp),
                    format!(
                        "[{phase}] {label}: {} change(s){earlier}:\n{}",
                        diff.len(),
                        diff.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
                    ),
                );
                self.rebase = Rebase::Settle;
                self.unchecked_pods.clear();
                for k in &victims {
                    self.fx.victims.remove(k);
                }
            } else if pods_matter {
                self.baseline = after;
                self.unchecked_pods.clear();
            } else {
                self.baseline.db = after.db;
                self.baseline.active_jobs = after.active_jobs;
                self.unchecked_pods.push(format!(
                    "{} {} ({label})",
                    req.method,
                    cut(&req.target, 100)
                ));
            }
        } else if status < 400 && read {
            // An accepted read may add to the top store (a project's
            // default security group); the pods it must leave alone.
            self.stats.accepted += 1;
            let t = Instant::now();
            let after = self.reader.snapshot(false).await;
            self.stats.took("checks", t);
            self.baseline.db = after.db;
            self.baseline.active_jobs = after.active_jobs;
            self.unchecked_pods.push(format!(
                "{} {} (accepted: {label})",
                req.method,
                cut(&req.target, 100)
            ));
        } else if status < 400 {
            self.stats.accepted += 1;
            // What it changed is its own (a change that must have been
            // refused is reported above); reads before it, not checked
            // against the pods yet, cannot be told apart from it any more.
            self.unchecked_pods.clear();
            for k in &victims {
                self.fx.victims.remove(k);
            }
            let t = Instant::now();
            self.after_accepted(route, &resp).await;
            self.stats.took("after accepted", t);
            self.rebase = Rebase::Settle;
        } else {
            self.rebase = Rebase::Settle;
        }
    }

    /// Whether `d` carries a token Keystone accepts (or needs none).
    fn may_be_accepted(&self, d: &Draft) -> bool {
        let w = &self.fx.world;
        match &d.token {
            None => true,
            Some(t) => {
                w.tenants()
                    .iter()
                    .flat_map(|t| t.people())
                    .any(|p| p.token.as_bytes() == t.as_slice())
                    || w.unscoped_token.as_bytes() == t.as_slice()
            }
        }
    }

    /// Checks the pods against the baseline for the requests of the window.
    async fn flush_window(&mut self, next: &RawRequest) {
        if self.unchecked_pods.is_empty() {
            return;
        }
        let t = Instant::now();
        let now = self.reader.snapshot(true).await;
        let diff = self.baseline.diff(&now, true);
        if !diff.is_empty() {
            let during = self.unchecked_pods.join("\n  ");
            self.fail(
                "state changed by a refused request",
                next,
                None,
                format!(
                    "the pods changed during these requests (checked against the top store at once, against the pods after them; the request shown comes next):\n  {during}\n{}",
                    diff.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
                ),
            );
            self.rebase = Rebase::Settle;
        }
        self.baseline = now;
        self.unchecked_pods.clear();
        self.stats.took("pod checks of windows", t);
    }

    /// Puts back what an accepted request may have broken for the rest of
    /// the run: pods it made, quotas it lowered.
    async fn after_accepted(&mut self, route: &Route, resp: &RawResponse) {
        if route.api == Api::Admin {
            self.fx.remove_new_pods().await;
        }
        if route.path.contains("quota") {
            self.fx.restore_quotas().await;
        }
        if route.body == Body::JobCreate {
            let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            if let Some(id) = v["job"]["id"].as_str() {
                self.reader.do_not_wait_for(id);
                self.created_jobs
                    .push((id.to_string(), v["job"].to_string()));
            }
        }
    }

    /// Jobs `POST /v1.0/jobs` accepted must not fail for want of a key
    /// their handler needs (the schema check must have caught it).
    async fn check_created_jobs(&mut self) {
        let cloud = self.fx.cloud();
        let mut bad = Vec::new();
        for (id, created) in &self.created_jobs {
            let a = cloud
                .call(
                    "GET",
                    &cloud.admin_url(&format!("/jobs/{id}")),
                    Some(&cloud.admin_token),
                    None,
                )
                .await;
            let err = a.body["job"]["last_error"].as_str().unwrap_or("");
            if err.contains("lacks") {
                bad.push((created.clone(), a.text.clone()));
            }
        }
        for (created, now) in bad {
            let req = RawRequest {
                method: "POST".into(),
                target: "/v1.0/jobs".into(),
                headers: Vec::new(),
                body: Some(created.into_bytes()),
            };
            self.fail(
                "wrong answer",
                &req,
                None,
                format!("POST /v1.0/jobs accepted a job its handler cannot run (the schema must refuse it, 400): {}", cut(&now, 400)),
            );
        }
    }
}

// ------------------------------------------------------------------ phases

fn body_kinds(route: &Route) -> bool {
    route.body != Body::None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_every_route() {
    let seed = seed("fuzz");
    let started = Instant::now();
    let demo = Demo::start(None);
    let mut rng = Rng::new(seed);
    let world = World::build(&demo, &mut rng).await;
    let fx = Fixtures::build(world, seed).await;
    let mut reader = StateReader::open(&demo, fx.cloud()).await;
    let baseline = reader
        .settle(Duration::from_secs(60))
        .await
        .expect("the demo settles after the fixtures");
    println!("fixtures ready in {:.1} s", started.elapsed().as_secs_f64());
    let mut run = Runner {
        demo,
        fx,
        reader,
        rng,
        baseline,
        rebase: Rebase::No,
        unchecked_pods: Vec::new(),
        stats: Stats::default(),
        failures: Vec::new(),
        hangs: 0,
        started: Instant::now(),
        created_jobs: Vec::new(),
    };

    // Sweep: every route, one targeted mutation at a time.
    for route in ROUTES {
        if run.hangs >= MAX_HANGS {
            break;
        }
        let has_params = route.path.contains('{');
        // Reads cost little to check: two spellings for them.
        for _ in 0..if route.method == "GET" { 2 } else { 1 } {
            run.exchange("sweep", route, &[Kind::Traversal]).await;
        }
        if has_params {
            run.exchange("sweep", route, &[Kind::OtherValue]).await;
        }
        if route.who != Who::Open {
            // No token everywhere; a revoked one (never seen before, so
            // no cache can answer for it) on a quarter of the routes.
            run.exchange_with("sweep", route, |d, _, _, _| {
                d.token = None;
                vec![Applied::oracle("no token", Oracle::Unauthenticated)]
            })
            .await;
            if run.rng.chance(25) {
                let revoked = run.fx.world.revoked_token.clone();
                run.exchange_with("sweep", route, move |d, _, _, _| {
                    d.token = Some(revoked.into_bytes());
                    vec![Applied::oracle("revoked token", Oracle::Unauthenticated)]
                })
                .await;
            }
        }
        run.exchange("sweep", route, &[Kind::Method]).await;
        if route.list {
            run.exchange("sweep", route, &[Kind::Query]).await;
            if route.api == Api::Network {
                run.exchange_with("sweep", route, |d, _, _, rng| {
                    d.query.push(format!("limit=1&marker={}", rng.uuid()));
                    vec![Applied::oracle(
                        "limit=1 and an unknown marker",
                        Oracle::UnknownMarker,
                    )]
                })
                .await;
            }
        }
        if matches!(route.api, Api::Compute | Api::Volume) && route.who != Who::Open {
            run.exchange("sweep", route, &[Kind::Version]).await;
        }
        if body_kinds(route) {
            run.exchange_with("sweep", route, |d, _, _, rng| {
                let ct = *rng.pick(non_json_types(route.api));
                d.content_type = Some(ct.as_bytes().to_vec());
                vec![Applied::oracle(
                    format!("Content-Type {ct}"),
                    Oracle::UnsupportedMediaType,
                )]
            })
            .await;
            run.exchange("sweep", route, &[Kind::BodyLimit]).await;
            // Control characters in every name this body has.
            let probe = run.fx.body(route, &mut Rng::new(seed));
            let has_name = probe.as_ref().is_some_and(|b| has_string_field(b, "name"));
            if has_name && sets_a_name(route.body) {
                let bad = *run.rng.pick(&[
                    "a\u{0}b",
                    "tab\there",
                    "esc\u{1b}[31m",
                    "del\u{7f}",
                    "nl\nx",
                ]);
                run.exchange_with("sweep", route, move |d, _, _, _| {
                    let json = d.json.as_mut().unwrap();
                    for p in leaf_paths(json) {
                        if p.last().and_then(Value::as_str) == Some("name") {
                            if let Some(v) = at_mut(json, &p) {
                                *v = json!(bad);
                            }
                        }
                    }
                    vec![Applied::oracle(
                        format!("name {bad:?}"),
                        Oracle::NoControlCharacters,
                    )]
                })
                .await;
            }
            // A huge number in an integer field.
            let ints: Vec<Vec<Value>> = probe
                .as_ref()
                .map(|b| {
                    leaf_paths(b)
                        .into_iter()
                        .filter(|p| at_mut(&mut b.clone(), p).is_some_and(|v| v.is_i64()))
                        .collect()
                })
                .unwrap_or_default();
            if !ints.is_empty() {
                let p = run.rng.pick(&ints).clone();
                for big in [json!(i64::MAX)] {
                    let p = p.clone();
                    run.exchange_with("sweep", route, move |d, _, _, _| {
                        let json = d.json.as_mut().unwrap();
                        match at_mut(json, &p) {
                            Some(v) => {
                                *v = big.clone();
                                vec![Applied::new(format!("body {} = {big}", path_label(&p)))]
                            }
                            None => vec![Applied::new("(no such field)")],
                        }
                    })
                    .await;
                }
            }
        }
    }
    // Quota arithmetic with extreme counts (as issue 9 found it).
    let boot = ROUTES
        .iter()
        .find(|r| r.body == Body::ServerCreate)
        .unwrap();
    // "As many as the quota allows": a quota with room for two keeps the
    // accepted boots small. (The suite's own change: the pods are checked
    // first, then the state is taken afresh.)
    let placeholder = RawRequest {
        method: "PUT".into(),
        target: "(the suite lowers project A's instance quota)".into(),
        headers: Vec::new(),
        body: None,
    };
    run.flush_window(&placeholder).await;
    run.rebase = Rebase::Settle;
    let quota_url = run
        .fx
        .cloud()
        .compute_url(&format!("/os-quota-sets/{}", run.fx.a().id));
    let detail = run
        .fx
        .cloud()
        .call(
            "GET",
            &format!("{quota_url}/detail"),
            Some(&run.fx.cloud().admin_token),
            None,
        )
        .await;
    let used = detail.body["quota_set"]["instances"]["in_use"]
        .as_i64()
        .unwrap_or(0);
    let a = run
        .fx
        .cloud()
        .call(
            "PUT",
            &quota_url,
            Some(&run.fx.cloud().admin_token),
            Some(&json!({"quota_set": {"instances": used + 2}})),
        )
        .await;
    expect(&a, &[200], "a small quota for the counts");
    for (min, max) in [
        (json!(1), json!(i64::MAX)),
        (json!(i64::MAX), json!(i64::MAX)),
        (json!(1), json!(u64::MAX)),
        (json!("1"), json!("9223372036854775807")),
        (
            json!(4_611_686_018_427_387_904_i64),
            json!(4_611_686_018_427_387_904_i64),
        ),
    ] {
        run.exchange_with("counts", boot, move |d, _, _, _| {
            let s = &mut d.json.as_mut().unwrap()["server"];
            s["min_count"] = min.clone();
            s["max_count"] = max.clone();
            s["networks"] = json!("none");
            s["name"] = json!("fz-counts");
            vec![Applied::new(format!("min_count {min}, max_count {max}"))]
        })
        .await;
    }
    run.fx.restore_quotas().await;
    run.fx.delete_servers("fz-counts").await;
    run.rebase = Rebase::Settle;
    // A boot the pod refuses after the gateway made its ports (an image
    // the pod does not have): the refusal must take everything back.
    for az in ["az1", "az2"] {
        let network = run.fx.ra().network.clone();
        run.exchange_with("edges", boot, move |d, _, _, rng| {
            let s = &mut d.json.as_mut().unwrap()["server"];
            s["imageRef"] = json!(rng.uuid());
            s["networks"] = json!([{"uuid": network}]);
            s["availability_zone"] = json!(az);
            vec![Applied::refused(format!(
                "an image no pod has, on a network, in {az}"
            ))]
        })
        .await;
    }
    // A port on the gateway address of its subnet.
    let port_create = ROUTES
        .iter()
        .find(|r| r.body == Body::NetCreate(Net::Port))
        .unwrap();
    let (subnet, gateway) = (
        run.fx.ra().subnet.clone(),
        run.fx.ra().subnet_gateway.clone(),
    );
    run.exchange_with("edges", port_create, move |d, _, _, _| {
        d.json.as_mut().unwrap()["port"]["fixed_ips"] =
            json!([{"subnet_id": subnet, "ip_address": gateway}]);
        // Neutron lets a port take its subnet's gateway address (that is
        // how a port is made for `router add port`): no known answer.
        vec![Applied::new("fixed IP = the subnet's gateway")]
    })
    .await;

    // Pass-through: every traversal spelling below every routed resource.
    let pass: Vec<(&Route, &Route)> = [
        "/v2.1/servers/{server}",
        "/v3/volumes/{volume}",
        "/v3/snapshots/{snapshot}",
        "/v3/backups/{backup}",
    ]
    .iter()
    .map(|p| {
        let get = ROUTES
            .iter()
            .find(|r| r.path == *p && r.method == "GET")
            .unwrap();
        let create = ROUTES
            .iter()
            .find(|r| {
                r.api == get.api
                    && r.method == "POST"
                    && matches!(r.body, B::ServerCreate | B::VolumeCreate)
            })
            .unwrap();
        (get, create)
    })
    .collect();
    for (get, create) in pass {
        for v in TRAVERSAL {
            for _ in 0..2 {
                if run.hangs >= MAX_HANGS {
                    break;
                }
                let method = *run.rng.pick(&["GET", "POST", "PUT", "DELETE"]);
                let tail = match run.rng.below(3) {
                    0 => v.to_string(),
                    1 => format!("{v}/{v}/{v}/{v}/network/v2.0/networks"),
                    _ => format!("metadata/{v}"),
                };
                let route = Route {
                    method,
                    body: if method == "POST" {
                        create.body
                    } else {
                        Body::None
                    },
                    version: create.version,
                    ..*get
                };
                let tail2 = tail.clone();
                run.exchange_with("pass-through", &route, move |d, _, _, _| {
                    d.suffix = format!("/{tail2}").into_bytes();
                    vec![Applied::refused(format!("below the resource: /{tail2}"))]
                })
                .await;
            }
        }
    }

    // Random: one to three mutations of any kind on any route.
    let random_start = Instant::now();
    while run.stats.sent < TOTAL_REQUESTS
        && random_start.elapsed() < RANDOM_PHASE_BUDGET
        && run.hangs < MAX_HANGS
    {
        let route = *run.rng.pick(ROUTES);
        let n = 1 + run.rng.below(3);
        let mut kinds = Vec::new();
        for _ in 0..n {
            let mut k = *run.rng.pick(ALL_KINDS);
            if matches!(
                k,
                Kind::Leaf | Kind::Shape | Kind::BadJson | Kind::BodyLimit
            ) && !body_kinds(&route)
            {
                k = Kind::Query;
            }
            if matches!(k, Kind::OtherValue) && !route.path.contains('{') {
                k = Kind::Traversal;
            }
            // One mutation per part of the request a later one would undo
            // (the path, the token, the media type, the method).
            if !kinds
                .iter()
                .any(|o| slot(*o).is_some() && slot(*o) == slot(k))
            {
                kinds.push(k);
            }
        }
        run.exchange("random", &route, &kinds).await;
        if run.stats.sent.is_multiple_of(100) && !run.demo.alive() {
            panic!("the gateway died");
        }
    }

    // Settle, then the jobs it accepted, the process and its log.
    let _ = run.reader.settle(Duration::from_secs(30)).await;
    run.check_created_jobs().await;
    assert!(run.demo.alive(), "the gateway died");
    let secrets = run.fx.world.secrets(&run.demo);
    run.demo.stop();
    let log = run.demo.log();
    for finding in log_findings(&log, &secrets) {
        let req = RawRequest {
            method: "-".into(),
            target: "(the gateway's log)".into(),
            headers: Vec::new(),
            body: None,
        };
        run.fail("log", &req, None, finding);
    }

    // Report.
    let s = &run.stats;
    println!(
        "fuzz: seed {seed}: {} requests in {:.1} s ({} route-methods of {}), phases {:?}",
        s.sent,
        run.started.elapsed().as_secs_f64(),
        s.route_methods.len(),
        ROUTES.len(),
        s.by_phase
    );
    println!("  by API {:?}", s.by_api);
    println!("  time {:?}", s.time);
    println!("  by status {:?}", s.by_status);
    println!(
        "  refused and checked: {} ({} with the pods' state too); accepted: {}; settles: {}; slowest: {:.2} s {}",
        s.refused_checked,
        s.refused_checked_with_pods,
        s.accepted,
        s.settles,
        s.slowest.0.as_secs_f64(),
        s.slowest.1
    );
    if !run.failures.is_empty() {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &run.failures {
            *kinds.entry(f.kind.as_str()).or_default() += 1;
        }
        let mut text = format!(
            "{} failure(s) {kinds:?} (seed {seed}; replay with TRICIRCLE_FUZZ_SEED={seed}):\n",
            run.failures.len()
        );
        for f in run.failures.iter().take(60) {
            text.push_str(&format!(
                "--- [{}] {}\n{}{}\n",
                f.kind, f.detail, f.request, f.answer
            ));
        }
        panic!("{text}");
    }
}

// ------------------------------------------------------------------ coverage

/// `(method, shape)` of every route in one router source file.
fn routes_in_source(src: &str, collections: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        // The call's text, to its closing parenthesis.
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in call.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let text = &call[..end];
        rest = &call[end..];
        let paths: Vec<String> = if let Some(q) = text.trim_start().strip_prefix('"') {
            vec![q[..q.find('"').unwrap()].to_string()]
        } else if text.contains("c.path()") {
            let lit = &text[text.find('"').unwrap() + 1..];
            let lit = &lit[..lit.find('"').unwrap()];
            collections
                .iter()
                .map(|c| lit.replacen("{}", c, 1).replace("{{id}}", "{id}"))
                .collect()
        } else {
            continue;
        };
        let after_path = &text[text.find(',').unwrap_or(0)..];
        let bytes = after_path.as_bytes();
        let mut methods = Vec::new();
        for m in ["get", "post", "put", "delete", "patch", "any"] {
            let mut from = 0;
            while let Some(i) = after_path[from..].find(&format!("{m}(")) {
                let i = from + i;
                let before = if i == 0 { b' ' } else { bytes[i - 1] };
                if !(before.is_ascii_alphanumeric() || before == b'_' || before == b':') {
                    methods.push(m.to_uppercase());
                }
                from = i + m.len();
            }
        }
        for p in paths {
            for m in &methods {
                out.push((m.clone(), shape(&p)));
            }
        }
    }
    out
}

/// `(methods, parts)` of one sub-resource table in `subresource.rs`.
fn sub_resources(src: &str, table: &str) -> Vec<(Vec<String>, String)> {
    let start = src
        .find(&format!("pub const {table}: &[SubResource]"))
        .unwrap();
    let body = &src[start..];
    let body = &body[..body.find("];").unwrap()];
    let mut out = Vec::new();
    for line in body.split("sub(&[").skip(1) {
        let (parts, methods) = line.split_once("],").unwrap();
        let parts: Vec<String> = parts
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.strip_prefix("Lit(\"") {
                Some(l) => l.trim_end_matches("\")").to_string(),
                None => "{}".to_string(),
            })
            .collect();
        let methods = methods
            .trim()
            .trim_end_matches(')')
            .trim_end_matches("),")
            .trim();
        let methods: Vec<String> = if methods.contains("Method::") {
            methods
                .split("Method::")
                .skip(1)
                .map(|m| m.chars().take_while(|c| c.is_ascii_uppercase()).collect())
                .collect()
        } else {
            methods
                .trim_end_matches(')')
                .split('_')
                .map(|m| m.chars().filter(|c| c.is_ascii_uppercase()).collect())
                .collect()
        };
        out.push((methods, parts.join("/")));
    }
    out
}

/// The route table names every route and method the routers serve, and
/// every pass-through sub-resource: a route added without a fuzz entry
/// fails here.
#[test]
fn route_table_covers_every_route() {
    let api = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/src");
    let read = |p: &str| std::fs::read_to_string(api.join(p)).unwrap();
    let resources = read("network/resources.rs");
    let path_fn = &resources[resources.find("pub fn path(self)").unwrap()..];
    let path_fn = &path_fn[..path_fn.find("pub fn plural").unwrap()];
    let collections: Vec<String> = path_fn
        .split("=> \"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .collect();
    assert_eq!(collections.len(), 7, "{collections:?}");

    let mut wanted: Vec<(Api, String, String)> = Vec::new();
    // Every file of each API's module: a new module with its own routes
    // cannot be missed.
    let files_of = |dir: &str| -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(api.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".rs"))
            .map(|f| format!("{dir}/{f}"))
            .collect();
        files.sort();
        files
    };
    for (a, dir) in [
        (Api::Compute, "compute"),
        (Api::Volume, "volume"),
        (Api::Network, "network"),
        (Api::Admin, "admin"),
    ] {
        for f in files_of(dir) {
            for (m, p) in routes_in_source(&read(&f), &collections) {
                wanted.push((a, m, p));
            }
        }
    }
    // `any` routes pass through to the sub-resources of their table.
    let subs = read("gateway/subresource.rs");
    let mut expanded = Vec::new();
    for (a, m, p) in wanted {
        if m != "ANY" {
            expanded.push((a, m, p));
            continue;
        }
        let table = match p.as_str() {
            "/v2.1/servers/{}/{}" => "SERVER",
            "/v3/volumes/{}/{}" => "VOLUME",
            "/v3/snapshots/{}/{}" => "SNAPSHOT",
            "/v3/backups/{}/{}" => "BACKUP",
            other => panic!("an `any` route with no sub-resource table: {other}"),
        };
        let base = p.strip_suffix("/{}").unwrap();
        for (methods, parts) in sub_resources(&subs, table) {
            for m in methods {
                expanded.push((a, m, format!("{base}/{parts}")));
            }
        }
    }
    assert!(
        expanded.len() > 150,
        "the parser found {} routes only",
        expanded.len()
    );
    let have: BTreeSet<(Api, String, String)> = ROUTES
        .iter()
        .map(|r| (r.api, r.method.to_string(), shape(r.path)))
        .collect();
    let missing: Vec<_> = expanded.iter().filter(|w| !have.contains(w)).collect();
    assert!(
        missing.is_empty(),
        "routes the fuzz does not cover: {missing:#?}"
    );
    let served: BTreeSet<_> = expanded.into_iter().collect();
    let extra: Vec<_> = have.iter().filter(|h| !served.contains(h)).collect();
    assert!(extra.is_empty(), "fuzz routes no router serves: {extra:#?}");
}

/// The state comparison itself: rows of the top store and items of pod
/// lists that appear, vanish or change are named.
#[test]
fn snapshots_name_what_changed() {
    let mut before = Snapshot::default();
    before
        .db
        .insert("routings".into(), vec!["id=1 top_id='a'".into()]);
    before.pods.insert(
        "Pod1/servers".into(),
        r#"{"servers": [{"id": "s1", "status": "ACTIVE"}]}"#.into(),
    );
    let mut after = before.clone();
    assert!(before.diff(&after, true).is_empty());
    after
        .db
        .get_mut("routings")
        .unwrap()
        .push("id=2 top_id='b'".into());
    after.pods.insert(
        "Pod1/servers".into(),
        r#"{"servers": [{"id": "s1", "status": "SHUTOFF"}]}"#.into(),
    );
    let diff = before.diff(&after, true);
    assert!(
        diff.contains(&"routings: + id=2 top_id='b'".to_string()),
        "{diff:?}"
    );
    assert!(
        diff.contains(&"Pod1/servers: ~ s1 status: \"ACTIVE\" -> \"SHUTOFF\"".to_string()),
        "{diff:?}"
    );
    after.pods.insert(
        "Pod1/servers".into(),
        r#"{"servers": [{"id": "s2", "status": "ACTIVE"}]}"#.into(),
    );
    let diff = before.diff(&after, true);
    assert!(
        diff.iter()
            .any(|d| d.starts_with("Pod1/servers: - ") && d.contains("s1")),
        "{diff:?}"
    );
    assert!(
        diff.iter()
            .any(|d| d.starts_with("Pod1/servers: + ") && d.contains("s2")),
        "{diff:?}"
    );
    // Pods left out of a comparison are not compared.
    assert_eq!(before.diff(&after, false).len(), 1);
    assert!(after.transitional().is_none());
    after.pods.insert(
        "Pod2/volumes".into(),
        r#"{"volumes": [{"id": "v", "status": "creating"}]}"#.into(),
    );
    assert!(after.transitional().is_some_and(|t| t.contains("creating")));
    // Cinder's suffixed statuses are on their way too; errors and a volume
    // awaiting its transfer are not.
    for (status, busy) in [
        ("restoring-backup", true),
        ("backing-up", true),
        ("error_deleting", false),
        ("error_restoring", false),
        ("awaiting-transfer", false),
        ("in-use", false),
    ] {
        after.pods.insert(
            "Pod2/volumes".into(),
            format!(r#"{{"volumes": [{{"id": "v", "status": "{status}"}}]}}"#),
        );
        assert_eq!(after.transitional().is_some(), busy, "{status}");
    }
}
