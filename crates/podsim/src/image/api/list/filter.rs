//! Which images a list shows: the caller's view (Glance's union of
//! public, community, own and shared images), then the query's filters.

use serde_json::Value;

use crate::compute::query::{py_dict, Query};
use crate::image::error::{GResult, GlanceError};
use crate::image::schema::VISIBILITIES;
use crate::image::Image;

/// Query parameters that are not filters.
const NOT_FILTERS: [&str; 7] = [
    "limit",
    "marker",
    "member_status",
    "tag",
    "sort",
    "sort_key",
    "sort_dir",
];

/// The checked filters of a list request.
pub(super) struct ImageFilter<'q> {
    project: &'q str,
    admin: bool,
    /// Shared images are shown for memberships in this status.
    member_status: &'q str,
    /// Every one must be on the image.
    tags: Vec<&'q str>,
    /// Everything else in the query, last value wins.
    filters: Vec<(String, String)>,
    /// `None`: all but other projects' community images.
    visibility: Option<String>,
    os_hidden: bool,
    protected: Option<bool>,
    size_min: Option<u64>,
    size_max: Option<u64>,
}

fn in_filter(wanted: &str, actual: Option<&str>) -> bool {
    match wanted.strip_prefix("in:") {
        Some(list) => list
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .any(|w| Some(w) == actual),
        None => Some(wanted) == actual,
    }
}

fn parse_bool_filter(key: &str, v: &str) -> GResult<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(GlanceError::bad_request(format!(
            "Invalid value '{v}' for '{key}' filter. Valid values are 'true' or 'false'."
        ))),
    }
}

/// Whether the image passes one `key=value` filter of the query.
fn matches_filter(i: &Image, k: &str, v: &str) -> bool {
    match k {
        // Checked on their own (see `ImageFilter::matches`).
        "visibility" | "os_hidden" | "protected" | "size_min" | "size_max" | "changes-since" => {
            true
        }
        "name" => in_filter(v, i.name.as_deref()),
        "id" => in_filter(v, Some(&i.id)),
        "status" => in_filter(v, Some(&i.status)),
        "owner" => in_filter(v, i.owner.as_deref()),
        "disk_format" => in_filter(v, i.disk_format.as_deref()),
        "container_format" => in_filter(v, i.container_format.as_deref()),
        "checksum" => in_filter(v, i.checksum.as_deref()),
        "os_hash_value" => in_filter(v, i.os_hash_value.as_deref()),
        "min_ram" => v.parse::<u64>().ok() == Some(i.min_ram),
        "min_disk" => v.parse::<u64>().ok() == Some(i.min_disk),
        _ => match i.properties.get(k) {
            Some(Value::String(s)) => s == v,
            // Other JSON values compare as their text (`5` matches "5").
            Some(other) => other.to_string().as_str() == v,
            None => false,
        },
    }
}

impl<'q> ImageFilter<'q> {
    pub(super) fn parse(
        q: &'q Query,
        project: &'q str,
        admin: bool,
        member_status: &'q str,
    ) -> GResult<Self> {
        let tags: Vec<&str> = q.all("tag").into_iter().map(str::trim).collect();
        let filters: Vec<(String, String)> = py_dict(q.pairs())
            .into_iter()
            .filter(|(k, _)| !NOT_FILTERS.contains(&k.as_str()))
            .collect();
        let filter = |k: &str| {
            filters
                .iter()
                .find(|(fk, _)| fk == k)
                .map(|(_, v)| v.as_str())
        };
        let visibility = filter("visibility").filter(|v| !v.is_empty());
        if let Some(v) = visibility {
            if !VISIBILITIES.contains(&v) && v != "all" {
                return Err(GlanceError::bad_request(format!(
                    "Invalid visibility value: {v}"
                )));
            }
        }
        if filter("changes-since").is_some_and(|v| !v.is_empty()) {
            return Err(GlanceError::bad_request(
                "The \"changes-since\" filter is no longer available on v2.",
            ));
        }
        let os_hidden = parse_bool_filter("os_hidden", filter("os_hidden").unwrap_or("false"))?;
        let protected = filter("protected")
            .map(|v| parse_bool_filter("protected", v))
            .transpose()?;
        let size_min = filter("size_min")
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| GlanceError::bad_request("Invalid value for size_min filter."))
            })
            .transpose()?;
        let size_max = filter("size_max")
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| GlanceError::bad_request("Invalid value for size_max filter."))
            })
            .transpose()?;
        let visibility = visibility.map(str::to_string);
        Ok(ImageFilter {
            project,
            admin,
            member_status,
            tags,
            filters,
            visibility,
            os_hidden,
            protected,
            size_min,
            size_max,
        })
    }

    /// Glance's union: public and community images, the caller's own, and
    /// the shared ones it is a member of with `member_status`.
    fn visible_to_caller(&self, i: &Image) -> bool {
        self.admin
            || matches!(i.visibility.as_str(), "public" | "community")
            || i.owner.as_deref() == Some(self.project)
            || i.is_listed_member(self.project, self.member_status)
    }

    fn matches_visibility(&self, i: &Image) -> bool {
        match self.visibility.as_deref() {
            Some("all") => true,
            Some(v) => i.visibility == v,
            None => !(i.visibility == "community" && i.owner.as_deref() != Some(self.project)),
        }
    }

    pub(super) fn matches(&self, i: &Image) -> bool {
        self.visible_to_caller(i)
            && self.matches_visibility(i)
            && i.os_hidden == self.os_hidden
            && self.protected.is_none_or(|p| p == i.protected)
            && self.size_min.is_none_or(|m| i.size.unwrap_or(0) >= m)
            && self.size_max.is_none_or(|m| i.size.unwrap_or(0) <= m)
            && self.tags.iter().all(|t| i.tags.iter().any(|x| x == t))
            && self.filters.iter().all(|(k, v)| matches_filter(i, k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_filters() {
        assert!(in_filter("in:a,b", Some("b")));
        assert!(!in_filter("in:a,b", Some("c")));
        assert!(in_filter("x", Some("x")));
    }
}
