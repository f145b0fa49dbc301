//! `GET /servers` and `GET /servers/detail`: query checks, tenancy,
//! filters, sorting and paging.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use regex::Regex;
use serde_json::{json, Value};

use super::sort::SortOrder;
use crate::compute::ctx::{parse_time, Ctx};
use crate::compute::error::{NResult, NovaError};
use crate::compute::interfaces;
use crate::compute::model::Server;
use crate::compute::view::{self, ViewOpts};
use crate::image::schema::py_str;
use crate::pod::Pod;

/// `GET /servers`.
pub(crate) async fn index(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, false).map(Json)
}

/// `GET /servers/detail`.
pub(crate) async fn detail(State(pod): State<Pod>, ctx: Ctx) -> NResult<Json<Value>> {
    list(&pod, &ctx, true).map(Json)
}

/// Statuses and the `(vm_state, task_state)` pairs they stand for.
fn status_matches(s: &Server, wanted: &[String]) -> bool {
    wanted.iter().any(|w| w.eq_ignore_ascii_case(s.status()))
}

const KNOWN_STATUSES: [&str; 20] = [
    "ACTIVE",
    "REBOOT",
    "HARD_REBOOT",
    "PASSWORD",
    "REBUILD",
    "MIGRATING",
    "RESIZE",
    "BUILD",
    "SHUTOFF",
    "VERIFY_RESIZE",
    "REVERT_RESIZE",
    "PAUSED",
    "SUSPENDED",
    "RESCUE",
    "ERROR",
    "DELETED",
    "SOFT_DELETED",
    "SHELVED",
    "SHELVED_OFFLOADED",
    "UNKNOWN",
];

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

fn list(pod: &Pod, ctx: &Ctx, detail: bool) -> NResult<Value> {
    check_query_keys(ctx)?;
    let opts = Options::new(ctx);
    let Some(statuses) = statuses(ctx)? else {
        return Ok(json!({"servers": []}));
    };
    let (changes_since, changes_before) = change_window(&opts)?;
    let project = project_filter(ctx, &opts, detail)?;
    let order = SortOrder::parse(ctx)?;
    let (limit, marker) = ctx.limit_and_marker()?;
    let include_deleted = (changes_since.is_some() || changes_before.is_some())
        || (ctx.is_admin() && statuses.iter().any(|s| s.eq_ignore_ascii_case("deleted")));
    let filter = ServerFilter::new(&opts, project, statuses, changes_since, changes_before)?;
    let flavor_known = filter.flavor.as_ref().is_none_or(|f| {
        pod.compute().with(|st| st.flavor(f).is_some())
            || pod
                .compute()
                .with(|st| st.servers.iter().any(|s| &s.flavor.id == f))
    });

    let (mut items, marker_server) = pod.compute().with(|st| {
        let mut items: Vec<Server> = st
            .servers
            .iter()
            .filter(|s| filter.matches(s))
            .cloned()
            .collect();
        if include_deleted {
            items.extend(st.deleted.iter().filter(|s| filter.matches(s)).cloned());
        }
        let marker_server = marker.as_ref().and_then(|m| {
            st.servers
                .iter()
                .chain(st.deleted.iter())
                .find(|s| &s.id == m)
                .cloned()
        });
        (items, marker_server)
    });
    if !flavor_known {
        items.clear();
    }
    if let Some(m) = &marker {
        let Some(ms) = marker_server else {
            return Err(NovaError::bad_request(format!("marker [{m}] not found")));
        };
        if !items.iter().any(|s| &s.id == m) {
            items.push(ms);
        }
        items.sort_by(|a, b| order.compare(a, b));
        let pos = items.iter().position(|s| &s.id == m).unwrap_or(0);
        items.drain(..=pos);
    } else {
        items.sort_by(|a, b| order.compare(a, b));
    }
    items.truncate(limit);
    if detail {
        interfaces::refresh(pod, &mut items);
    }
    Ok(list_view(ctx, &items, detail))
}

/// The list body, with `servers_links` when there may be more.
fn list_view(ctx: &Ctx, items: &[Server], detail: bool) -> Value {
    let servers: Vec<Value> = items
        .iter()
        .map(|s| {
            if detail {
                view::server(ctx, s, ViewOpts::detail())
            } else {
                view::server_brief(ctx, s)
            }
        })
        .collect();
    let mut body = json!({ "servers": servers });
    let coll = if detail { "servers/detail" } else { "servers" };
    if let Some(links) = ctx.next_links(coll, items.len(), items.last().map(|s| s.id.as_str())) {
        body["servers_links"] = links;
    }
    body
}

/// Unknown query keys (2.75 on) and filters on joined tables are refused.
fn check_query_keys(ctx: &Ctx) -> NResult<()> {
    if ctx.at_least(75) {
        let mut allowed: Vec<&str> = vec![
            "user_id",
            "project_id",
            "tenant_id",
            "launch_index",
            "image_ref",
            "image",
            "kernel_id",
            "ramdisk_id",
            "hostname",
            "key_name",
            "power_state",
            "vm_state",
            "task_state",
            "host",
            "node",
            "flavor",
            "reservation_id",
            "launched_at",
            "terminated_at",
            "availability_zone",
            "name",
            "display_name",
            "description",
            "display_description",
            "locked_by",
            "uuid",
            "root_device_name",
            "config_drive",
            "access_ip_v4",
            "access_ip_v6",
            "auto_disk_config",
            "progress",
            "sort_key",
            "sort_dir",
            "all_tenants",
            "soft_deleted",
            "deleted",
            "status",
            "changes-since",
            "ip",
            "ip6",
            "created_at",
            "block_device_mapping",
            "services",
            "metadata",
            "system_metadata",
            "info_cache",
            "security_groups",
            "pci_devices",
            "limit",
            "marker",
            "tags",
            "tags-any",
            "not-tags",
            "not-tags-any",
            "changes-before",
            "locked",
        ];
        if ctx.at_least(90) {
            allowed.push("hostname");
        }
        ctx.check_query_keys(&allowed)?;
    }
    for key in ctx.query.keys() {
        if [
            "block_device_mapping",
            "services",
            "metadata",
            "system_metadata",
            "info_cache",
            "security_groups",
            "pci_devices",
        ]
        .contains(&key)
            || key.starts_with('_')
        {
            return Err(NovaError::bad_request(format!(
                "Invalid filter field: {key}."
            )));
        }
    }
    Ok(())
}

/// The query options in effect: all of them for admins; for others, those
/// Nova lets users filter by at this microversion (the rest are ignored).
struct Options<'a> {
    ctx: &'a Ctx,
    user_options: Vec<&'static str>,
}

impl<'a> Options<'a> {
    fn new(ctx: &'a Ctx) -> Self {
        let mut allowed_opts: Vec<&str> = vec![
            "reservation_id",
            "name",
            "status",
            "image",
            "flavor",
            "ip",
            "changes-since",
            "all_tenants",
        ];
        if ctx.at_least(5) {
            allowed_opts.push("ip6");
        }
        if ctx.at_least(26) {
            allowed_opts.extend(["tags", "tags-any", "not-tags", "not-tags-any"]);
        }
        if ctx.at_least(66) {
            allowed_opts.push("changes-before");
        }
        if ctx.at_least(73) {
            allowed_opts.push("locked");
        }
        if ctx.at_least(83) {
            allowed_opts.extend([
                "availability_zone",
                "config_drive",
                "key_name",
                "created_at",
                "launched_at",
                "terminated_at",
                "power_state",
                "task_state",
                "vm_state",
                "progress",
                "user_id",
            ]);
        }
        if ctx.at_least(90) {
            allowed_opts.push("hostname");
        }
        Options {
            ctx,
            user_options: allowed_opts,
        }
    }

    fn get(&self, k: &str) -> Option<&'a str> {
        if self.ctx.is_admin() || self.user_options.contains(&k) {
            self.ctx.query.get(k)
        } else {
            None
        }
    }

    /// A comma-separated tag list (2.26).
    fn tag_list(&self, k: &str) -> Option<Vec<String>> {
        if self.ctx.at_least(26) {
            self.get(k)
                .map(|v| v.split(',').map(str::to_string).collect())
        } else {
            None
        }
    }

    /// A date-time option.
    fn time(&self, k: &str) -> NResult<Option<DateTime<Utc>>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                NovaError::bad_request(format!(
                    "Invalid input for query parameters {k}. Value: {v}. {} is not a 'date-time'",
                    py_str(v)
                ))
            }),
        }
    }
}

/// The `status` filter; `None` when a status no server can have is asked
/// for before 2.38 (an empty list, not an error).
fn statuses(ctx: &Ctx) -> NResult<Option<Vec<String>>> {
    let q = &ctx.query;
    let statuses: Vec<String> = if q.has("status") {
        q.all("status").into_iter().map(str::to_string).collect()
    } else {
        Vec::new()
    };
    if !statuses.is_empty()
        && !statuses.iter().any(|s| {
            KNOWN_STATUSES
                .iter()
                .any(|k| k.eq_ignore_ascii_case(s) && *k != "UNKNOWN")
        })
    {
        if ctx.at_least(38) {
            return Err(NovaError::bad_request("Invalid status value"));
        }
        return Ok(None);
    }
    if statuses.len() == 1 && statuses[0].eq_ignore_ascii_case("deleted") && !ctx.is_admin() {
        return Err(NovaError::forbidden(
            "Only administrators may list deleted instances",
        ));
    }
    Ok(Some(statuses))
}

/// `changes-since` and `changes-before`.
type ChangeWindow = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `changes-since` and `changes-before`, in order.
fn change_window(opts: &Options) -> NResult<ChangeWindow> {
    let changes_since = opts.time("changes-since")?;
    let changes_before = opts.time("changes-before")?;
    if let (Some(a), Some(b)) = (changes_since, changes_before) {
        if b < a {
            return Err(NovaError::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    Ok((changes_since, changes_before))
}

fn unrecognized_bool(v: &str) -> NovaError {
    NovaError::bad_request(format!(
        "Invalid input received: Unrecognized value '{v}', acceptable values are: \
         '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
    ))
}

/// The project whose servers are listed: the caller's, or with
/// `all_tenants` (admins) any, or the one named.
fn project_filter(ctx: &Ctx, opts: &Options, detail: bool) -> NResult<Option<String>> {
    let all_tenants = match ctx.query.get("all_tenants") {
        None => false,
        Some("") => true,
        Some(v) => parse_bool(v).ok_or_else(|| unrecognized_bool(v))?,
    };
    if all_tenants && !ctx.is_admin() {
        return Err(NovaError::policy(if detail {
            "os_compute_api:servers:detail:get_all_tenants"
        } else {
            "os_compute_api:servers:index:get_all_tenants"
        }));
    }
    Ok(if all_tenants {
        opts.get("project_id")
            .or_else(|| opts.get("tenant_id"))
            .map(str::to_string)
    } else {
        Some(ctx.project().to_string())
    })
}

/// The filters of a list request.
struct ServerFilter {
    project: Option<String>,
    statuses: Vec<String>,
    // Nova applies these with Python's `re.search`: `is_match` searches the
    // same way, and a pattern that does not compile matches no server.
    // (Python-only syntax such as look-around or backreferences counts as
    // not compiling; `$` before a final newline cannot matter, as names and
    // addresses hold no control characters.)
    name_re: Option<Option<Regex>>,
    ip_re: Option<Option<Regex>>,
    ip6_re: Option<Option<Regex>>,
    image: Option<String>,
    flavor: Option<String>,
    tags: Option<Vec<String>>,
    tags_any: Option<Vec<String>>,
    not_tags: Option<Vec<String>>,
    not_tags_any: Option<Vec<String>>,
    locked: Option<bool>,
    changes_since: Option<DateTime<Utc>>,
    changes_before: Option<DateTime<Utc>>,
    az: Option<String>,
    key_name: Option<String>,
    user_id: Option<String>,
    vm_state: Option<String>,
    task_state: Option<String>,
    power_state: Option<String>,
    reservation_id: Option<String>,
    hostname: Option<String>,
    host: Option<String>,
    uuid: Option<String>,
}

impl ServerFilter {
    fn new(
        opts: &Options,
        project: Option<String>,
        statuses: Vec<String>,
        changes_since: Option<DateTime<Utc>>,
        changes_before: Option<DateTime<Utc>>,
    ) -> NResult<Self> {
        let last_segment = |v: &str| v.rsplit('/').next().unwrap_or(v).to_string();
        let exact = |k: &str| opts.get(k).map(str::to_string);
        let locked = match opts.get("locked") {
            None => None,
            Some(v) => Some(parse_bool(v).ok_or_else(|| unrecognized_bool(v))?),
        };
        Ok(ServerFilter {
            project,
            statuses,
            name_re: opts.get("name").map(|n| Regex::new(n).ok()),
            ip_re: opts.get("ip").map(|v| Regex::new(v).ok()),
            ip6_re: opts.get("ip6").map(|v| Regex::new(v).ok()),
            image: opts.get("image").map(last_segment),
            flavor: opts.get("flavor").map(last_segment),
            tags: opts.tag_list("tags"),
            tags_any: opts.tag_list("tags-any"),
            not_tags: opts.tag_list("not-tags"),
            not_tags_any: opts.tag_list("not-tags-any"),
            locked,
            changes_since,
            changes_before,
            az: exact("availability_zone"),
            key_name: exact("key_name"),
            user_id: exact("user_id"),
            vm_state: exact("vm_state"),
            task_state: exact("task_state"),
            power_state: exact("power_state"),
            reservation_id: exact("reservation_id"),
            hostname: exact("hostname"),
            host: exact("host"),
            uuid: exact("uuid"),
        })
    }

    fn matches(&self, s: &Server) -> bool {
        if self.project.as_ref().is_some_and(|p| &s.project_id != p) {
            return false;
        }
        if !self.statuses.is_empty() && !status_matches(s, &self.statuses) {
            return false;
        }
        if let Some(re) = &self.name_re {
            match re {
                Some(re) if re.is_match(&s.name) => {}
                _ => return false,
            }
        }
        if !address_matches(s, &self.ip_re, 4) || !address_matches(s, &self.ip6_re, 6) {
            return false;
        }
        if self.image.as_ref().is_some_and(|i| &s.image_ref != i) {
            return false;
        }
        if self.flavor.as_ref().is_some_and(|f| &s.flavor.id != f) {
            return false;
        }
        if !self.tags_match(s) {
            return false;
        }
        if self.locked.is_some_and(|l| l != s.is_locked()) {
            return false;
        }
        if let Some(t) = self.changes_since {
            if s.updated_at < t && s.deleted_at.is_none_or(|d| d < t) {
                return false;
            }
        }
        if let Some(t) = self.changes_before {
            if s.updated_at > t {
                return false;
            }
        }
        self.fields_match(s)
    }

    /// `tags`, `tags-any`, `not-tags`, `not-tags-any`.
    fn tags_match(&self, s: &Server) -> bool {
        if let Some(t) = &self.tags {
            if !t.iter().all(|t| s.tags.contains(t)) {
                return false;
            }
        }
        if let Some(t) = &self.tags_any {
            if !t.iter().any(|t| s.tags.contains(t)) {
                return false;
            }
        }
        if let Some(t) = &self.not_tags {
            if t.iter().all(|t| s.tags.contains(t)) {
                return false;
            }
        }
        if let Some(t) = &self.not_tags_any {
            if t.iter().any(|t| s.tags.contains(t)) {
                return false;
            }
        }
        true
    }

    /// The exact-match filters.
    fn fields_match(&self, s: &Server) -> bool {
        let ne = |want: &Option<String>, have: &str| want.as_ref().is_some_and(|w| w != have);
        if ne(&self.az, &s.availability_zone)
            || ne(&self.user_id, &s.user_id)
            || ne(&self.vm_state, s.vm_state)
            || ne(&self.task_state, s.task_state.unwrap_or(""))
            || ne(&self.power_state, &s.power_state.to_string())
            || ne(&self.reservation_id, &s.reservation_id)
            || ne(&self.hostname, &s.hostname)
            || ne(&self.host, &s.host)
            || ne(&self.uuid, &s.id)
        {
            return false;
        }
        if self
            .key_name
            .as_ref()
            .is_some_and(|k| s.key_name.as_deref() != Some(k.as_str()))
        {
            return false;
        }
        true
    }
}

/// An `ip` / `ip6` filter: some address of that version matches.
fn address_matches(s: &Server, re: &Option<Option<Regex>>, ip_version: u8) -> bool {
    let Some(re) = re else {
        return true;
    };
    re.as_ref().is_some_and(|re| {
        s.nics
            .iter()
            .flat_map(|n| n.addresses())
            .any(|(addr, version)| version == ip_version && re.is_match(addr))
    })
}
