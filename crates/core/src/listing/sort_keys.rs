//! Sort-key parsing: the keys and directions a list request names, checked
//! by Nova's or Cinder's rules, with the id appended as the tie-break.

use super::ID_FIELD;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    pub fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }

    /// `asc` or `desc`, exactly (after trimming blanks), as Nova's API schema
    /// accepts them.
    pub fn parse(s: &str) -> Result<SortDir, ListError> {
        match s.trim() {
            "asc" => Ok(SortDir::Asc),
            "desc" => Ok(SortDir::Desc),
            other => Err(ListError::InvalidSortDir {
                dir: other.to_string(),
            }),
        }
    }
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The key as the pod's API spells it (sent down as `sort_key`/`sort`).
    pub key: String,
    /// The JSON field of a listed resource that holds the key's value (what
    /// [`compare`](super::compare) reads).
    pub field: String,
    pub dir: SortDir,
}

impl SortKey {
    /// A key whose API name is also its JSON field.
    pub fn new(key: &str, dir: SortDir) -> SortKey {
        SortKey {
            key: key.to_string(),
            field: key.to_string(),
            dir,
        }
    }
}

/// An allowed sort key and the JSON field that carries its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortField<'a> {
    pub key: &'a str,
    pub field: &'a str,
}

const fn sf(key: &'static str, field: &'static str) -> SortField<'static> {
    SortField { key, field }
}

/// Nova server sort keys whose value is shown, unchanged, in the detail view
/// of a server (Nova sorts by database columns; these are the columns the
/// response shows as they are stored). `uuid` is the id; Nova's `id` sort key
/// is an internal integer, meaningless across pods, so it is not allowed.
pub const NOVA_SERVER_SORT_FIELDS: &[SortField<'static>] = &[
    sf("created_at", "created"),
    sf("updated_at", "updated"),
    sf("display_name", "name"),
    sf("uuid", "id"),
    sf("key_name", "key_name"),
    sf("user_id", "user_id"),
    sf("project_id", "tenant_id"),
    sf("vm_state", "OS-EXT-STS:vm_state"),
    sf("task_state", "OS-EXT-STS:task_state"),
    sf("power_state", "OS-EXT-STS:power_state"),
    sf("launched_at", "OS-SRV-USG:launched_at"),
    sf("terminated_at", "OS-SRV-USG:terminated_at"),
];

/// The key Nova needs for the server id tie-break.
pub const NOVA_SERVER_ID_KEY: SortField<'static> = sf("uuid", ID_FIELD);

/// Cinder volume sort keys (Cinder maps `name` to `display_name` itself).
/// The model's own column names are sort keys too (`display_name`...).
pub const CINDER_VOLUME_SORT_FIELDS: &[SortField<'static>] = &[
    sf("created_at", "created_at"),
    sf("updated_at", "updated_at"),
    sf("id", "id"),
    sf("name", "name"),
    sf("display_name", "name"),
    sf("display_description", "description"),
    sf("size", "size"),
    sf("status", "status"),
    sf("bootable", "bootable"),
    sf("availability_zone", "availability_zone"),
];

/// Cinder snapshot sort keys.
pub const CINDER_SNAPSHOT_SORT_FIELDS: &[SortField<'static>] = &[
    sf("created_at", "created_at"),
    sf("updated_at", "updated_at"),
    sf("id", "id"),
    sf("name", "name"),
    sf("display_name", "name"),
    sf("display_description", "description"),
    sf("status", "status"),
    sf("volume_id", "volume_id"),
    sf("volume_size", "size"),
];

/// The key Cinder needs for the id tie-break.
pub const CINDER_ID_KEY: SortField<'static> = sf("id", ID_FIELD);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("Invalid sort key '{key}'; allowed sort keys: {allowed}")]
    InvalidSortKey { key: String, allowed: String },
    #[error("Invalid sort direction '{dir}'; expected 'asc' or 'desc'")]
    InvalidSortDir { dir: String },
    #[error("Sort direction size exceeds sort key size")]
    TooManySortDirs,
    #[error(
        "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter."
    )]
    SortWithLegacySort,
}

const DEFAULT_KEY: &str = "created_at";
const DEFAULT_DIR: SortDir = SortDir::Desc;

fn lookup(key: &str, allowed: &[SortField<'_>]) -> Result<SortKey, ListError> {
    let key = key.trim();
    allowed
        .iter()
        .find(|f| f.key == key)
        .map(|f| SortKey {
            key: f.key.to_string(),
            field: f.field.to_string(),
            dir: DEFAULT_DIR,
        })
        .ok_or_else(|| ListError::InvalidSortKey {
            key: key.to_string(),
            allowed: allowed.iter().map(|f| f.key).collect::<Vec<_>>().join(", "),
        })
}

/// The default key (`created_at`), with its field from `allowed` when listed
/// there, else the key itself.
fn default_key(allowed: &[SortField<'_>], dir: SortDir) -> SortKey {
    let field = allowed
        .iter()
        .find(|f| f.key == DEFAULT_KEY)
        .map_or(DEFAULT_KEY, |f| f.field);
    SortKey {
        key: DEFAULT_KEY.to_string(),
        field: field.to_string(),
        dir,
    }
}

/// Appends the id tie-break in the direction of the last key, unless a key
/// already sorts by the id field.
fn with_tie_break(mut keys: Vec<SortKey>, id_key: SortField<'_>) -> Vec<SortKey> {
    if keys.iter().any(|k| k.field == id_key.field) {
        return keys;
    }
    let dir = keys.last().map_or(DEFAULT_DIR, |k| k.dir);
    keys.push(SortKey {
        key: id_key.key.to_string(),
        field: id_key.field.to_string(),
        dir,
    });
    keys
}

/// Nova's `sort_key`/`sort_dir` query parameters (each may repeat).
///
/// Nova's rules: directions pair with keys in order; keys without a direction
/// take the first given direction, or `desc` when none is given; more
/// directions than keys is an error; no keys at all means `created_at` (with
/// the first direction, default `desc`). Keys must be in `allowed`;
/// directions are `asc` or `desc`. `id_key` (for servers
/// [`NOVA_SERVER_ID_KEY`]) is appended as the final tie-break in the
/// direction of the last key.
pub fn parse_nova_sort(
    sort_keys: &[String],
    sort_dirs: &[String],
    allowed: &[SortField<'_>],
    id_key: SortField<'_>,
) -> Result<Vec<SortKey>, ListError> {
    let dirs = sort_dirs
        .iter()
        .map(|d| SortDir::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    let default_dir = dirs.first().copied().unwrap_or(DEFAULT_DIR);
    let mut keys = if sort_keys.is_empty() {
        vec![default_key(allowed, default_dir)]
    } else {
        sort_keys
            .iter()
            .map(|k| lookup(k, allowed))
            .collect::<Result<Vec<_>, _>>()?
    };
    if dirs.len() > keys.len() {
        return Err(ListError::TooManySortDirs);
    }
    for (i, key) in keys.iter_mut().enumerate() {
        key.dir = dirs.get(i).copied().unwrap_or(default_dir);
    }
    Ok(with_tie_break(keys, id_key))
}

/// Cinder's `sort=key1:asc,key2` parameter or the deprecated
/// `sort_key`/`sort_dir` pair (not both: an error, as in Cinder).
///
/// A key without a direction is `desc`; no key is `created_at`. Keys must be
/// in `allowed`. `id_key` ([`CINDER_ID_KEY`]) is appended as the final
/// tie-break in the direction of the last key.
pub fn parse_cinder_sort(
    sort: Option<&str>,
    sort_key: Option<&str>,
    sort_dir: Option<&str>,
    allowed: &[SortField<'_>],
    id_key: SortField<'_>,
) -> Result<Vec<SortKey>, ListError> {
    let keys = match sort {
        Some(_) if sort_key.is_some() || sort_dir.is_some() => {
            return Err(ListError::SortWithLegacySort)
        }
        Some(sort) => sort
            .trim()
            .split(',')
            .map(|part| {
                let (key, dir) = part.split_once(':').unwrap_or((part, ""));
                let mut key = lookup(key, allowed)?;
                if !dir.trim().is_empty() {
                    key.dir = SortDir::parse(dir)?;
                }
                Ok(key)
            })
            .collect::<Result<Vec<_>, ListError>>()?,
        None => {
            let dir = sort_dir.map(SortDir::parse).transpose()?;
            let mut key = match sort_key {
                Some(k) => lookup(k, allowed)?,
                None => default_key(allowed, DEFAULT_DIR),
            };
            key.dir = dir.unwrap_or(DEFAULT_DIR);
            vec![key]
        }
    };
    Ok(with_tie_break(keys, id_key))
}
