//! Who is asking, as the domain sees it: the authenticated caller of one
//! request, passed down to every call made on its behalf.

use std::sync::Arc;

use http::HeaderMap;

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub project_id: String,
    pub roles: Vec<String>,
    /// The caller's token, for calls to pods on their behalf. Never logged.
    pub token: Arc<str>,
    /// `X-Openstack-Request-Id` of the request, passed to the pods.
    pub request_id: String,
    /// `scheme://host[:port]` the client used: links in answers point here.
    pub root: String,
    /// Set on a change the caller's roles do not allow (a reader's write) to
    /// a resource looked up first: the action, refused once the resource is
    /// found to be the caller's to see (another project's stays a 404).
    pub refused_write: Option<String>,
    /// The client's request headers a pod should see as sent (content
    /// type, accept, microversions); the rest never reaches a pod.
    pub pass_headers: HeaderMap,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case("admin"))
    }

    /// Whether the caller may change its project's resources (`member`,
    /// implied by `admin`); a `reader` only reads.
    pub fn can_write(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case("member") || r.eq_ignore_ascii_case("admin"))
    }

    /// The same caller acting with other credentials (Tricircle's service
    /// user, admin in its project) for work the caller may not do itself.
    pub fn as_service(&self, token: Arc<str>, project_id: String) -> Caller {
        Caller {
            user_id: String::new(),
            project_id,
            roles: vec!["admin".to_string()],
            token,
            request_id: self.request_id.clone(),
            root: self.root.clone(),
            refused_write: None,
            pass_headers: self.pass_headers.clone(),
        }
    }
}
