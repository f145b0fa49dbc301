//! Nova and Cinder accept URLs with and without the project id
//! (`/v2.1/{project_id}/servers` and `/v2.1/servers`). The gateways route on
//! the short form: this layer takes the project id out of the path before
//! routing and leaves it in the request for the authentication step, which
//! checks it against the token's project.

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;

/// The project id a URL carried, checked after authentication.
#[derive(Debug, Clone)]
pub struct UrlProject(pub String);

/// Removes `/{project_id}` after the version segment when the segment is
/// not one of the API's own collection names and can be a Keystone id
/// (letters, digits, `-` and `_`): `/v3/volumes.xml` is an unknown path,
/// not the version document of project `volumes.xml`.
pub fn split_project(
    path: &str,
    version_prefixes: &[&str],
    collections: &[&str],
) -> Option<(String, String)> {
    for prefix in version_prefixes {
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('/') else {
            continue;
        };
        let (seg, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let id_like = seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if seg.is_empty() || !id_like || collections.contains(&seg) {
            return None;
        }
        return Some((seg.to_string(), format!("{prefix}{tail}")));
    }
    None
}

pub async fn strip_project(
    version_prefixes: &'static [&'static str],
    collections: &'static [&'static str],
    mut req: Request,
    next: Next,
) -> Response {
    if let Some((project, path)) = split_project(req.uri().path(), version_prefixes, collections) {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
            req.extensions_mut().insert(UrlProject(project));
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &[&str] = &["servers", "flavors"];

    #[test]
    fn splits_only_project_segments() {
        assert_eq!(
            split_project("/v2.1/abc123/servers/x", &["/v2.1"], C),
            Some(("abc123".into(), "/v2.1/servers/x".into()))
        );
        assert_eq!(split_project("/v2.1/servers/x", &["/v2.1"], C), None);
        assert_eq!(split_project("/v2.1", &["/v2.1"], C), None);
        assert_eq!(split_project("/v2.1/", &["/v2.1"], C), None);
        assert_eq!(
            split_project("/v2.1/abc123", &["/v2.1"], C),
            Some(("abc123".into(), "/v2.1".into()))
        );
        assert_eq!(split_project("/v3/p/volumes", &["/v2.1"], C), None);
        // Not a Keystone id: left for the router (404).
        assert_eq!(split_project("/v3/volumes.xml", &["/v3"], C), None);
        assert_eq!(split_project("/v2.1/servers.json/x", &["/v2.1"], C), None);
        assert_eq!(split_project("/v2.1/%2E%2E/servers", &["/v2.1"], C), None);
        assert_eq!(
            split_project("/v3/p/volumes", &["/v2", "/v3"], &["volumes"]),
            Some(("p".into(), "/v3/volumes".into()))
        );
    }
}
