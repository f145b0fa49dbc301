//! Tenant isolation, black-box against `tricircle demo` (run at debug log
//! level): two projects, each with an admin, a member and a reader, and
//! every resource type — servers (and their sub-resources), volumes,
//! snapshots, backups, keypairs, private flavors and their access, private
//! volume types, networks, subnets, ports, security groups and rules,
//! quotas, and the admin API's pods, bindings, routings and jobs.
//!
//! Expectations follow the real services' policy defaults (Nova, Cinder,
//! Neutron with their new defaults: `role:admin` is the cloud admin, writes
//! need `member`, reads `reader`; keypairs belong to their user):
//! - another project's resource is 404 — for reads, writes, deletes and
//!   sub-resources — never 403, which would tell it exists, and never in a
//!   list, whatever filter is asked for (`all_tenants`, `project_id`,
//!   `tenant_id`, ...); naming it in a create (network, flavor, keypair,
//!   volume, snapshot, security group, ...) is a 400/404, never a 403 or a
//!   success;
//! - another project's quotas are 403 (as all three services answer);
//! - a reader reads its project and cannot write (403);
//! - members and readers get 403 from admin-only APIs, whether or not what
//!   they name exists;
//! - nothing another project tries changes the top store or the pods.
//!
//! At the end the gateway's log (debug level) must hold none of the tokens
//! and passwords the suite used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// What an answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 2xx.
    Ok,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// Refused without telling that the thing exists: 400 or 404.
    Refused,
}

impl Expect {
    fn matches(self, status: u16) -> bool {
        match self {
            Expect::Ok => (200..300).contains(&status),
            Expect::Forbidden => status == 403,
            Expect::NotFound => status == 404,
            Expect::Refused => status == 400 || status == 404,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Svc {
    Compute,
    Volume,
    Network,
    Admin,
}

/// One call: service, method, path (below the service's version prefix
/// for compute `/v2.1`, volume `/v3`, network `/v2.0`, admin `/v1.0`), body
/// and an optional microversion.
#[derive(Debug, Clone)]
struct Call {
    svc: Svc,
    method: &'static str,
    path: String,
    body: Option<Value>,
    version: Option<&'static str>,
}

fn call(svc: Svc, method: &'static str, path: impl Into<String>) -> Call {
    Call {
        svc,
        method,
        path: path.into(),
        body: None,
        version: None,
    }
}

impl Call {
    fn body(mut self, b: Value) -> Call {
        self.body = Some(b);
        self
    }
    fn version(mut self, v: &'static str) -> Call {
        self.version = Some(v);
        self
    }
}

use Svc::{Admin as A, Compute as C, Network as N, Volume as V};

struct Matrix {
    cloud: Cloud,
    failures: Vec<String>,
    calls: usize,
}

impl Matrix {
    fn url(&self, c: &Call) -> String {
        match c.svc {
            Svc::Compute => self.cloud.compute_url(&c.path),
            Svc::Volume => self.cloud.volume_url(&c.path),
            Svc::Network => self.cloud.network_url(&c.path),
            Svc::Admin => self.cloud.admin_url(&c.path),
        }
    }

    async fn send(&mut self, who: &Person, c: &Call) -> Answer {
        self.calls += 1;
        let mut headers = Vec::new();
        if let Some(v) = c.version {
            headers.push(("openstack-api-version", v));
        }
        let url = self.url(c);
        self.cloud
            .call_h(c.method, &url, Some(&who.token), c.body.as_ref(), &headers)
            .await
    }

    /// Sends `c` as `who` and checks the answer; returns it.
    async fn expect(&mut self, who: &Person, c: &Call, want: Expect, why: &str) -> Answer {
        let a = self.send(who, c).await;
        if !want.matches(a.status) || a.status >= 500 {
            self.failures.push(format!(
                "{} ({} of {}) {} {}{}: expected {want:?}, got HTTP {}: {} [{why}]",
                who.name,
                who.role,
                short(&who.project_id),
                c.method,
                self.url(c),
                c.body
                    .as_ref()
                    .map(|b| format!(" {}", cut(&b.to_string(), 300)))
                    .unwrap_or_default(),
                a.status,
                cut(&a.text, 300),
            ));
        }
        a
    }

    /// The answer must not show any of `secrets` (another project's ids and
    /// names), whatever its status.
    fn no_leak(&mut self, who: &Person, c: &Call, a: &Answer, secrets: &[(&'static str, String)]) {
        for (what, s) in secrets {
            // What the caller sent it already knows.
            let sent = c.path.contains(s.as_str())
                || c.body
                    .as_ref()
                    .is_some_and(|b| b.to_string().contains(s.as_str()));
            if !s.is_empty() && !sent && a.text.contains(s.as_str()) {
                self.failures.push(format!(
                    "{} ({}) {} {}: HTTP {} shows another project's {what} {s}: {}",
                    who.name,
                    who.role,
                    c.method,
                    self.url(c),
                    a.status,
                    cut(&a.text, 300)
                ));
            }
        }
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// Reads of a project's own resources: the project's people may make them,
/// another project's member and reader get 404.
fn reads(r: &Resources, project: &str) -> Vec<Call> {
    let s = &r.server;
    vec![
        call(C, "GET", format!("/servers/{s}")),
        call(C, "GET", format!("/servers/{s}/metadata")),
        call(C, "GET", format!("/servers/{s}/ips")),
        call(C, "GET", format!("/servers/{s}/os-interface")),
        call(C, "GET", format!("/servers/{s}/os-volume_attachments")),
        call(C, "GET", format!("/servers/{s}/os-instance-actions")),
        call(C, "GET", format!("/os-server-groups/{}", r.server_group)),
        call(C, "GET", format!("/flavors/{}", r.flavor)),
        call(C, "GET", format!("/flavors/{}/os-extra_specs", r.flavor)),
        call(C, "GET", format!("/flavors/{}/os-flavor-access", r.flavor)),
        call(V, "GET", format!("/volumes/{}", r.volume)),
        call(V, "GET", format!("/volumes/{}/metadata", r.volume)),
        call(V, "GET", format!("/snapshots/{}", r.snapshot)),
        call(V, "GET", format!("/snapshots/{}/metadata", r.snapshot)),
        call(V, "GET", format!("/backups/{}", r.backup)),
        call(V, "GET", format!("/types/{}", r.volume_type)),
        call(N, "GET", format!("/networks/{}", r.network)),
        call(N, "GET", format!("/subnets/{}", r.subnet)),
        call(N, "GET", format!("/ports/{}", r.port)),
        call(N, "GET", format!("/security-groups/{}", r.security_group)),
        call(N, "GET", format!("/security-group-rules/{}", r.rule)),
        call(
            A,
            "GET",
            format!("/routings?top_id={s}&project_id={project}"),
        ),
    ]
}

/// Harmless writes to a project's own resources: its member may make
/// them, its reader gets 403, another project's member and reader 404.
fn writes(r: &Resources) -> Vec<Call> {
    let s = &r.server;
    vec![
        call(C, "PUT", format!("/servers/{s}")).body(json!({"server": {"name": r.server_name}})),
        call(C, "PUT", format!("/servers/{s}/metadata/iso")).body(json!({"meta": {"iso": "1"}})),
        call(C, "POST", format!("/servers/{s}/metadata")).body(json!({"metadata": {"iso": "2"}})),
        call(C, "POST", format!("/servers/{s}/action"))
            .body(json!({"os-getConsoleOutput": {"length": 1}})),
        call(V, "PUT", format!("/volumes/{}", r.volume))
            .body(json!({"volume": {"description": "iso"}})),
        call(V, "POST", format!("/volumes/{}/metadata", r.volume))
            .body(json!({"metadata": {"iso": "1"}})),
        call(V, "POST", format!("/volumes/{}/action", r.volume))
            .body(json!({"os-set_bootable": {"bootable": false}})),
        call(V, "PUT", format!("/snapshots/{}", r.snapshot))
            .body(json!({"snapshot": {"description": "iso"}})),
        call(V, "POST", format!("/snapshots/{}/metadata", r.snapshot))
            .body(json!({"metadata": {"iso": "1"}})),
        call(V, "PUT", format!("/backups/{}", r.backup))
            .body(json!({"backup": {"description": "iso"}}))
            .version("volume 3.9"),
        call(N, "PUT", format!("/networks/{}", r.network))
            .body(json!({"network": {"description": "iso"}})),
        call(N, "PUT", format!("/subnets/{}", r.subnet))
            .body(json!({"subnet": {"description": "iso"}})),
        call(N, "PUT", format!("/ports/{}", r.port)).body(json!({"port": {"description": "iso"}})),
        call(N, "PUT", format!("/security-groups/{}", r.security_group))
            .body(json!({"security_group": {"description": "iso"}})),
    ]
}

/// Deletes of a project's resources: another project's member and reader
/// get 404 and the resource stays; the project's reader gets 403.
fn deletes(r: &Resources) -> Vec<Call> {
    vec![
        call(C, "DELETE", format!("/servers/{}", r.server)),
        call(C, "DELETE", format!("/servers/{}/metadata/iso", r.server)),
        call(C, "DELETE", format!("/os-server-groups/{}", r.server_group)),
        call(V, "DELETE", format!("/volumes/{}", r.volume)),
        call(V, "DELETE", format!("/snapshots/{}", r.snapshot)),
        call(V, "DELETE", format!("/backups/{}", r.backup)),
        call(N, "DELETE", format!("/security-group-rules/{}", r.rule)),
        call(N, "DELETE", format!("/ports/{}", r.port)),
        call(
            N,
            "DELETE",
            format!("/security-groups/{}", r.security_group),
        ),
        call(N, "DELETE", format!("/subnets/{}", r.subnet)),
        call(N, "DELETE", format!("/networks/{}", r.network)),
    ]
}

/// Creates by `mine`'s project that name `theirs`' resources: 400 or 404.
fn references(mine: &Resources, theirs: &Resources, image: &str, flavor: &str) -> Vec<Call> {
    let boot = |extra: Value| {
        let mut s = json!({"name": "iso-boot", "flavorRef": flavor, "imageRef": image,
            "networks": "none", "availability_zone": "az1"});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        call(C, "POST", "/servers")
            .body(json!({ "server": s }))
            .version("compute 2.37")
    };
    vec![
        boot(json!({"networks": [{"uuid": theirs.network}]})),
        boot(json!({"networks": [{"port": theirs.port}]})),
        boot(json!({"flavorRef": theirs.flavor})),
        boot(json!({"key_name": theirs.keypair})),
        call(C, "POST", "/servers")
            .body(
                json!({"server": {"name": "iso-boot", "flavorRef": flavor, "imageRef": image,
                "networks": "none", "availability_zone": "az1"},
                "os:scheduler_hints": {"group": theirs.server_group}}),
            )
            .version("compute 2.37"),
        boot(
            json!({"security_groups": [{"name": theirs.security_group}], "networks": [{"uuid": mine.network}]}),
        ),
        call(
            C,
            "POST",
            format!("/servers/{}/os-volume_attachments", mine.server),
        )
        .body(json!({"volumeAttachment": {"volumeId": theirs.volume}})),
        call(C, "POST", format!("/servers/{}/os-interface", mine.server))
            .body(json!({"interfaceAttachment": {"port_id": theirs.port}})),
        call(C, "POST", format!("/servers/{}/os-interface", mine.server))
            .body(json!({"interfaceAttachment": {"net_id": theirs.network}})),
        call(V, "POST", "/volumes")
            .body(json!({"volume": {"size": 1, "snapshot_id": theirs.snapshot}})),
        call(V, "POST", "/volumes")
            .body(json!({"volume": {"size": 1, "source_volid": theirs.volume}})),
        call(V, "POST", "/volumes")
            .body(json!({"volume": {"size": 1, "volume_type": theirs.volume_type}})),
        call(V, "POST", "/snapshots").body(json!({"snapshot": {"volume_id": theirs.volume}})),
        call(V, "POST", "/backups").body(json!({"backup": {"volume_id": theirs.volume}})),
        call(V, "POST", format!("/backups/{}/restore", theirs.backup))
            .body(json!({"restore": {"volume_id": mine.volume}})),
        call(V, "POST", format!("/backups/{}/restore", mine.backup))
            .body(json!({"restore": {"volume_id": theirs.volume}})),
        call(N, "POST", "/ports").body(json!({"port": {"network_id": theirs.network}})),
        call(N, "POST", "/ports").body(json!({"port": {"network_id": mine.network,
            "fixed_ips": [{"subnet_id": theirs.subnet}]}})),
        call(N, "POST", "/ports").body(json!({"port": {"network_id": mine.network,
            "security_groups": [theirs.security_group]}})),
        call(N, "PUT", format!("/ports/{}", mine.port))
            .body(json!({"port": {"security_groups": [theirs.security_group]}})),
        call(N, "POST", "/subnets").body(json!({"subnet": {"network_id": theirs.network,
            "cidr": "10.99.0.0/24", "ip_version": 4}})),
        call(N, "POST", "/security-group-rules").body(json!({"security_group_rule": {
            "security_group_id": theirs.security_group, "direction": "ingress"}})),
        call(N, "POST", "/security-group-rules").body(json!({"security_group_rule": {
            "security_group_id": mine.security_group, "direction": "ingress",
            "remote_group_id": theirs.security_group}})),
    ]
}

/// Lists, with every filter that might let another project's rows through.
fn lists(theirs_project: &str, theirs: &Resources) -> Vec<Call> {
    let p = theirs_project;
    vec![
        call(C, "GET", "/servers"),
        call(C, "GET", "/servers/detail"),
        call(C, "GET", "/servers/detail?all_tenants=1"),
        call(
            C,
            "GET",
            format!("/servers/detail?project_id={p}&all_tenants=1"),
        ),
        call(C, "GET", format!("/servers/detail?tenant_id={p}")),
        call(C, "GET", format!("/servers?name={}", theirs.server_name)),
        call(C, "GET", "/os-keypairs"),
        call(C, "GET", "/flavors/detail"),
        call(C, "GET", "/flavors/detail?is_public=None"),
        call(C, "GET", "/flavors?is_public=false"),
        call(C, "GET", format!("/limits?tenant_id={p}")),
        call(V, "GET", "/volumes/detail"),
        call(V, "GET", "/volumes/detail?all_tenants=1"),
        call(
            V,
            "GET",
            format!("/volumes/detail?all_tenants=1&project_id={p}"),
        ),
        call(V, "GET", "/snapshots/detail?all_tenants=1"),
        call(V, "GET", "/backups/detail?all_tenants=1"),
        call(V, "GET", "/types"),
        call(V, "GET", "/types?is_public=None"),
        call(V, "GET", format!("/limits?project_id={p}")),
        call(N, "GET", "/networks"),
        call(N, "GET", format!("/networks?tenant_id={p}")),
        call(N, "GET", format!("/networks?project_id={p}")),
        call(N, "GET", format!("/networks?name={}", theirs.network_name)),
        call(N, "GET", "/subnets"),
        call(N, "GET", "/ports"),
        call(N, "GET", format!("/ports?device_id={}", theirs.server)),
        call(N, "GET", format!("/ports?network_id={}", theirs.network)),
        call(N, "GET", "/security-groups"),
        call(N, "GET", format!("/security-groups?project_id={p}")),
        call(N, "GET", "/security-group-rules"),
        call(A, "GET", "/routings"),
        call(A, "GET", format!("/routings?project_id={p}")),
        call(A, "GET", format!("/routings?top_id={}", theirs.server)),
    ]
}

/// Quotas of `project`: its people read them; another project's member
/// and reader get 403 (Nova, Cinder and Neutron alike).
fn quota_reads(project: &str) -> Vec<Call> {
    vec![
        call(C, "GET", format!("/os-quota-sets/{project}")),
        call(C, "GET", format!("/os-quota-sets/{project}/detail")),
        call(V, "GET", format!("/os-quota-sets/{project}")),
        call(N, "GET", format!("/quotas/{project}")),
        call(N, "GET", format!("/quotas/{project}/details")),
    ]
}

/// Admin-only calls: 403 for members and readers of any project, whether
/// what they name exists or not. (Admin-only sub-resources passed through
/// to the pod — server diagnostics and migrations, a backup's export
/// record — get the pod's own policy answer; they are not listed.)
fn admin_only(
    w: &World,
    mine: &Resources,
    project: &str,
    pod: &str,
    routing: &str,
    job: &str,
) -> Vec<Call> {
    let unknown = uuid::Uuid::new_v4().to_string();
    let fp = &w.flavor_public;
    let vp = &w.volume_type_public;
    let mut v = vec![
        call(C, "POST", "/flavors")
            .body(json!({"flavor": {"name": "iso", "ram": 64, "vcpus": 1, "disk": 1}})),
        call(C, "PUT", format!("/flavors/{fp}"))
            .body(json!({"flavor": {"description": "iso"}}))
            .version("compute 2.55"),
        call(C, "DELETE", format!("/flavors/{fp}")),
        call(C, "DELETE", format!("/flavors/{unknown}")),
        call(C, "POST", format!("/flavors/{fp}/os-extra_specs"))
            .body(json!({"extra_specs": {"iso": "1"}})),
        call(
            C,
            "PUT",
            format!("/flavors/{fp}/os-extra_specs/{}", w.flavor_spec),
        )
        .body(json!({ w.flavor_spec.clone(): "2" })),
        call(
            C,
            "DELETE",
            format!("/flavors/{fp}/os-extra_specs/{}", w.flavor_spec),
        ),
        call(C, "POST", format!("/flavors/{}/action", mine.flavor))
            .body(json!({"addTenantAccess": {"tenant": project}})),
        call(C, "POST", format!("/flavors/{unknown}/action"))
            .body(json!({"addTenantAccess": {"tenant": project}})),
        call(C, "GET", "/os-availability-zone/detail"),
        call(C, "GET", "/os-aggregates"),
        call(C, "GET", "/os-aggregates/1"),
        call(C, "GET", "/os-hypervisors"),
        call(C, "GET", "/os-hypervisors/detail"),
        call(C, "GET", "/os-hypervisors/statistics"),
        call(C, "GET", "/os-services"),
        call(C, "GET", "/os-simple-tenant-usage"),
        call(V, "GET", "/os-services"),
        call(C, "PUT", format!("/os-quota-sets/{project}"))
            .body(json!({"quota_set": {"instances": 99}})),
        call(C, "DELETE", format!("/os-quota-sets/{project}")),
        call(V, "POST", "/types").body(json!({"volume_type": {"name": "iso"}})),
        call(V, "PUT", format!("/types/{vp}")).body(json!({"volume_type": {"description": "iso"}})),
        call(V, "DELETE", format!("/types/{vp}")),
        call(V, "DELETE", format!("/types/{unknown}")),
        call(V, "POST", format!("/types/{vp}/extra_specs"))
            .body(json!({"extra_specs": {"iso": "1"}})),
        call(
            V,
            "PUT",
            format!("/types/{vp}/extra_specs/{}", w.volume_type_spec),
        )
        .body(json!({ w.volume_type_spec.clone(): "2" })),
        call(
            V,
            "DELETE",
            format!("/types/{vp}/extra_specs/{}", w.volume_type_spec),
        ),
        call(V, "POST", format!("/types/{}/action", mine.volume_type))
            .body(json!({"addProjectAccess": {"project": project}})),
        call(
            V,
            "GET",
            format!("/types/{}/os-volume-type-access", mine.volume_type),
        ),
        call(V, "POST", format!("/volumes/{}/action", mine.volume))
            .body(json!({"os-reset_status": {"status": "error"}})),
        call(V, "POST", format!("/snapshots/{}/action", mine.snapshot))
            .body(json!({"os-reset_status": {"status": "error"}})),
        call(V, "POST", format!("/backups/{}/action", mine.backup))
            .body(json!({"os-reset_status": {"status": "error"}})),
        call(V, "PUT", format!("/os-quota-sets/{project}"))
            .body(json!({"quota_set": {"volumes": 99}})),
        call(V, "DELETE", format!("/os-quota-sets/{project}")),
        call(N, "GET", "/quotas"),
        call(N, "PUT", format!("/quotas/{project}")).body(json!({"quota": {"network": 99}})),
        call(N, "DELETE", format!("/quotas/{project}")),
        call(N, "POST", "/networks").body(json!({"network": {"name": "iso", "shared": true}})),
        call(N, "POST", "/networks")
            .body(json!({"network": {"name": "iso", "router:external": true}})),
        call(N, "POST", "/networks").body(json!({"network": {"name": "iso",
            "provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": 1234}})),
        call(A, "GET", "/pods"),
        call(A, "POST", "/pods").body(json!({"pod": {"pod_name": "iso", "az_name": "iso-az"}})),
        call(A, "GET", format!("/pods/{pod}")),
        call(A, "PUT", format!("/pods/{pod}")).body(json!({"pod": {"maintenance": true}})),
        call(A, "DELETE", format!("/pods/{pod}")),
        call(A, "DELETE", format!("/pods/{unknown}")),
        call(A, "GET", format!("/pods/{pod}/endpoints")),
        call(A, "GET", "/bindings"),
        call(A, "POST", "/bindings")
            .body(json!({"pod_binding": {"tenant_id": project, "pod_id": pod}})),
        call(A, "GET", "/jobs"),
        call(A, "GET", "/jobs/detail"),
        call(A, "GET", "/jobs/schemas"),
        call(A, "POST", "/jobs")
            .body(json!({"job": {"type": "x", "project_id": project, "resource": {}}})),
        call(A, "GET", format!("/jobs/{job}")),
        call(A, "PUT", format!("/jobs/{job}")),
        call(A, "DELETE", format!("/jobs/{job}")),
        call(A, "DELETE", format!("/jobs/{unknown}")),
        call(A, "POST", "/routings").body(json!({"routing": {"top_id": "iso", "pod_id": pod,
            "resource_type": "server", "project_id": project}})),
        call(A, "PUT", format!("/routings/{routing}"))
            .body(json!({"routing": {"bottom_id": "iso"}})),
        call(A, "DELETE", format!("/routings/{routing}")),
    ];
    // Bindings are addressed by id; the project's own binding.
    v.push(call(A, "GET", format!("/bindings/{unknown}")));
    v
}

/// Creates a reader may not make (403), in its own project.
fn creates(mine: &Resources, image: &str, flavor: &str) -> Vec<Call> {
    vec![
        call(C, "POST", "/servers")
            .body(
                json!({"server": {"name": "iso-r", "flavorRef": flavor, "imageRef": image,
                "networks": "none", "availability_zone": "az1"}}),
            )
            .version("compute 2.37"),
        call(C, "POST", format!("/servers/{}/os-interface", mine.server))
            .body(json!({"interfaceAttachment": {"net_id": mine.network}})),
        call(V, "POST", "/volumes").body(json!({"volume": {"size": 1, "name": "iso-r"}})),
        call(V, "POST", "/snapshots")
            .body(json!({"snapshot": {"volume_id": mine.volume, "force": true}})),
        call(V, "POST", "/backups").body(json!({"backup": {"volume_id": mine.volume}})),
        call(N, "POST", "/networks").body(json!({"network": {"name": "iso-r"}})),
        call(N, "POST", "/subnets").body(json!({"subnet": {"network_id": mine.network,
            "cidr": "10.98.0.0/24", "ip_version": 4}})),
        call(N, "POST", "/ports").body(json!({"port": {"network_id": mine.network}})),
        call(N, "POST", "/security-groups").body(json!({"security_group": {"name": "iso-r"}})),
        call(N, "POST", "/security-group-rules").body(json!({"security_group_rule": {
            "security_group_id": mine.security_group, "direction": "egress", "protocol": "udp"}})),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_isolation_matrix() {
    let seed = seed("isolation");
    let started = Instant::now();
    // Debug level: the log check below must hold there too.
    let mut demo = Demo::start(Some("debug"));
    let mut rng = Rng::new(seed);
    let world = World::build(&demo, &mut rng).await;
    let mut reader = StateReader::open(&demo, &world.cloud).await;
    let mut m = Matrix {
        cloud: Cloud::connect(&demo).await,
        failures: Vec::new(),
        calls: 0,
    };
    let admin = &world.cloud.admin_token;
    let pod = world.pod_ids["Pod1"].clone();
    let a = world
        .cloud
        .call(
            "GET",
            &world.cloud.admin_url("/jobs?status=SUCCESS&limit=1"),
            Some(admin),
            None,
        )
        .await;
    let job = a.body["jobs"][0]["id"]
        .as_str()
        .unwrap_or("none")
        .to_string();

    let sides = [
        (&world.a, &world.ra, &world.b, &world.rb),
        (&world.b, &world.rb, &world.a, &world.ra),
    ];
    for (owner, mine, other, theirs) in sides {
        let routing = {
            let a = m
                .send(
                    &owner.member,
                    &call(A, "GET", format!("/routings?top_id={}", mine.server)),
                )
                .await;
            a.body["routings"][0]["id"].to_string()
        };
        // The owner's people read; another project's member and reader
        // find nothing, as for an id that does not exist.
        for c in reads(mine, &owner.id) {
            for p in owner.people() {
                m.expect(p, &c, Expect::Ok, "own project").await;
            }
            for p in [&other.member, &other.reader] {
                let want = if c.svc == Svc::Admin {
                    // A routing list filtered to another project's row.
                    Expect::Ok
                } else {
                    Expect::NotFound
                };
                let ans = m.expect(p, &c, want, "another project's resource").await;
                m.no_leak(p, &c, &ans, &mine.secrets());
            }
            // The cloud admin sees everything (role:admin is global).
            let ans = m.send(&other.admin, &c).await;
            if ans.status >= 500 {
                m.failures.push(format!(
                    "admin {} {}: HTTP {}",
                    c.method, c.path, ans.status
                ));
            }
        }
        // Keypairs belong to their user: only the member who made it sees it.
        let kp = call(C, "GET", format!("/os-keypairs/{}", mine.keypair));
        m.expect(&owner.member, &kp, Expect::Ok, "own keypair")
            .await;
        for p in [&owner.reader, &other.member, &other.reader] {
            let ans = m
                .expect(p, &kp, Expect::NotFound, "another user's keypair")
                .await;
            m.no_leak(p, &kp, &ans, &mine.secrets());
        }
        // Routings: the owner's member sees the server's row, another
        // project's member finds no such row.
        let rc = call(A, "GET", format!("/routings/{routing}"));
        m.expect(&owner.member, &rc, Expect::Ok, "own routing")
            .await;
        for p in [&other.member, &other.reader] {
            m.expect(p, &rc, Expect::NotFound, "another project's routing")
                .await;
        }

        // Another project's people change nothing: every write, delete and
        // create naming the owner's resources is refused without telling
        // they exist, and the top store and the pods stay as they were.
        let before = reader
            .settle(Duration::from_secs(30))
            .await
            .expect("settled");
        for c in writes(mine).into_iter().chain(deletes(mine)) {
            for p in [&other.member, &other.reader] {
                let ans = m
                    .expect(p, &c, Expect::NotFound, "another project's resource")
                    .await;
                m.no_leak(p, &c, &ans, &mine.secrets());
            }
        }
        for c in references(theirs, mine, &world.image, &world.flavor_public) {
            let ans = m
                .expect(
                    &other.member,
                    &c,
                    Expect::Refused,
                    "names another project's resource",
                )
                .await;
            m.no_leak(&other.member, &c, &ans, &mine.secrets());
        }
        // The owner's reader may not write either.
        for c in writes(mine).into_iter().chain(deletes(mine)) {
            m.expect(&owner.reader, &c, Expect::Forbidden, "a reader writes")
                .await;
        }
        for c in creates(mine, &world.image, &world.flavor_public) {
            m.expect(&owner.reader, &c, Expect::Forbidden, "a reader creates")
                .await;
        }
        let after = reader
            .settle(Duration::from_secs(30))
            .await
            .expect("settled");
        for d in before.diff(&after, true).iter().take(30) {
            m.failures.push(format!(
                "refused writes of another project or a reader changed the state: {d}"
            ));
        }
        // The owner's member may make the same writes.
        for c in writes(mine) {
            m.expect(&owner.member, &c, Expect::Ok, "own project's member")
                .await;
        }

        // Lists never show another project's resources.
        for c in lists(&owner.id, mine) {
            for p in [&other.member, &other.reader] {
                let ans = m.send(p, &c).await;
                if ans.status >= 500 {
                    m.failures.push(format!(
                        "{} {} {}: HTTP {}",
                        p.name, c.method, c.path, ans.status
                    ));
                }
                m.no_leak(p, &c, &ans, &mine.secrets());
            }
        }
        // Quotas: own readable, another project's 403.
        for c in quota_reads(&owner.id) {
            for p in owner.people() {
                m.expect(p, &c, Expect::Ok, "own quotas").await;
            }
            for p in [&other.member, &other.reader] {
                m.expect(p, &c, Expect::Forbidden, "another project's quotas")
                    .await;
            }
        }
        // Admin-only APIs: 403 for members and readers.
        for c in admin_only(&world, mine, &owner.id, &pod, &routing, &job) {
            for p in [&owner.member, &owner.reader] {
                m.expect(p, &c, Expect::Forbidden, "admin-only").await;
            }
        }
        // The cloud admin may use them (a positive control for the 403s).
        for c in [
            call(A, "GET", "/pods"),
            call(C, "GET", "/os-aggregates"),
            call(C, "GET", "/os-hypervisors/detail"),
            call(C, "GET", "/os-services"),
            call(C, "GET", "/os-simple-tenant-usage"),
            call(V, "GET", "/os-services"),
            call(N, "GET", "/quotas"),
        ] {
            m.expect(&owner.admin, &c, Expect::Ok, "the admin role")
                .await;
        }
    }

    // Another user of the same project lists no one else's keypairs.
    for (t, r) in [(&world.a, &world.ra), (&world.b, &world.rb)] {
        let c = call(C, "GET", "/os-keypairs");
        for p in [&t.reader, &t.admin] {
            let ans = m.expect(p, &c, Expect::Ok, "own keypairs").await;
            if ans.text.contains(&r.keypair) {
                m.failures.push(format!(
                    "{} lists {}'s keypair {}",
                    p.name, t.member.name, r.keypair
                ));
            }
        }
    }
    // The project's binding, by id, is the admin's too.
    let a = world
        .cloud
        .call(
            "GET",
            &world.cloud.admin_url("/bindings"),
            Some(admin),
            None,
        )
        .await;
    for b in a.body["pod_bindings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let c = call(
            A,
            "GET",
            format!("/bindings/{}", b["id"].as_str().unwrap_or("")),
        );
        for t in world.tenants() {
            m.expect(&t.member, &c, Expect::Forbidden, "admin-only")
                .await;
        }
    }
    // Tokens the gateway must refuse, so that their paths log at debug
    // level too.
    let bad = [
        ("revoked", world.revoked_token.clone()),
        ("unscoped", world.unscoped_token.clone()),
        ("garbage", format!("gAAAAA{}", world.tag)),
    ];
    for (what, token) in bad {
        let who = Person {
            name: format!("{what} token"),
            token,
            ..world.a.member.clone()
        };
        for c in [
            call(C, "GET", "/servers"),
            call(V, "GET", "/volumes"),
            call(N, "GET", "/networks"),
            call(A, "GET", "/routings"),
            call(N, "POST", "/networks").body(json!({"network": {"name": "x"}})),
        ] {
            let ans = m.send(&who, &c).await;
            if what != "unscoped" && ans.status != 401 {
                m.failures.push(format!(
                    "a {what} token: {} {}: HTTP {} (expected 401): {}",
                    c.method,
                    c.path,
                    ans.status,
                    cut(&ans.text, 200)
                ));
            }
            if (200..300).contains(&ans.status) && c.method != "GET" {
                m.failures.push(format!(
                    "a {what} token changed something: {} {}",
                    c.method, c.path
                ));
            }
        }
    }

    // Keypairs are users' own: a reader may make and remove its own.
    let kp = format!("iso-kp-{}", world.tag);
    m.expect(
        &world.a.reader,
        &call(C, "POST", "/os-keypairs").body(json!({"keypair": {"name": kp}})),
        Expect::Ok,
        "a user's own keypair",
    )
    .await;
    m.expect(
        &world.a.member,
        &call(C, "DELETE", format!("/os-keypairs/{kp}")),
        Expect::NotFound,
        "another user's keypair",
    )
    .await;
    m.expect(
        &world.a.reader,
        &call(C, "DELETE", format!("/os-keypairs/{kp}")),
        Expect::Ok,
        "a user's own keypair",
    )
    .await;

    let calls = m.calls;
    let secrets = world.secrets(&demo);
    assert!(demo.alive(), "the gateway died");
    demo.stop();
    let log = demo.log();
    assert!(
        log.lines().any(|l| l.contains(" DEBUG ")),
        "the demo did not log at debug level"
    );
    for f in log_findings(&log, &secrets) {
        m.failures.push(format!("log (debug level): {f}"));
    }
    println!(
        "isolation: {calls} calls in {:.1} s, {} failure(s)",
        started.elapsed().as_secs_f64(),
        m.failures.len()
    );
    if !m.failures.is_empty() {
        let mut text = format!("{} isolation failure(s):\n", m.failures.len());
        for f in &m.failures {
            text.push_str(f);
            text.push('\n');
        }
        panic!("{text}");
    }
}
