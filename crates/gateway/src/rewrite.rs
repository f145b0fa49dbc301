//! A pod's answers speak of the pod: links point at its endpoints and AZs
//! are its own names. Users must see Tricircle's: links to the gateway and
//! the top AZ names.

use serde_json::Value;

/// Rewrites URLs under a pod endpoint to the same place under ours.
#[derive(Debug, Clone)]
pub struct LinkRewriter {
    /// `scheme://host:port/prefix` of the pod's service, without the API
    /// version segment (`http://10.0.0.1/compute` for `.../compute/v2.1`).
    pod_root: String,
    /// The same for the gateway, e.g. `http://gw:19998`.
    our_root: String,
}

/// Splits a service URL into its root and the rest from the first version
/// segment (`v2.1`, `v3`, ...): `http://h/compute/v2.1` → `http://h/compute`.
pub fn service_root(url: &str) -> String {
    let (origin, path) = match url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
    {
        Some(k) => (&url[..k], &url[k..]),
        None => (url, ""),
    };
    let mut root = String::from(origin);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if is_version_segment(seg) {
            break;
        }
        root.push('/');
        root.push_str(seg);
    }
    root
}

fn is_version_segment(seg: &str) -> bool {
    let Some(rest) = seg.strip_prefix('v') else {
        return false;
    };
    !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

impl LinkRewriter {
    pub fn new(pod_service_url: &str, our_root: &str) -> LinkRewriter {
        LinkRewriter {
            pod_root: service_root(pod_service_url),
            our_root: our_root.trim_end_matches('/').to_string(),
        }
    }

    pub fn rewrite(&self, url: &str) -> Option<String> {
        let rest = url.strip_prefix(&self.pod_root)?;
        if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
            return None;
        }
        Some(format!("{}{rest}", self.our_root))
    }

    /// Every `href` in the document.
    pub fn rewrite_json(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    if k == "href" {
                        if let Value::String(s) = val {
                            if let Some(new) = self.rewrite(s) {
                                *s = new;
                            }
                        }
                    } else {
                        self.rewrite_json(val);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.rewrite_json(i)),
            _ => {}
        }
    }
}

/// Replaces a pod's internal AZ name by the top AZ in `field` of `item`.
pub fn az_to_top(item: &mut Value, field: &str, pod_az: &str, top_az: &str) {
    if let Some(Value::String(az)) = item.get_mut(field) {
        if az == pod_az || pod_az.is_empty() {
            *az = top_az.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roots() {
        assert_eq!(
            service_root("http://h:1/compute/v2.1"),
            "http://h:1/compute"
        );
        assert_eq!(service_root("http://h:1/volume/v3/p1"), "http://h:1/volume");
        assert_eq!(service_root("http://h:8774/v2.1/p1"), "http://h:8774");
        assert_eq!(service_root("http://h:9696"), "http://h:9696");
        assert_eq!(service_root("http://h/network"), "http://h/network");
    }

    #[test]
    fn links() {
        let r = LinkRewriter::new("http://p:1/compute/v2.1", "http://gw:19998");
        let mut doc = json!({"server": {"links": [
            {"rel": "self", "href": "http://p:1/compute/v2.1/servers/x"},
            {"rel": "bookmark", "href": "http://p:1/compute/servers/x"},
            {"rel": "other", "href": "http://elsewhere/compute/servers/x"},
            {"rel": "prefix-trap", "href": "http://p:1/computers/x"}
        ]}});
        r.rewrite_json(&mut doc);
        let hrefs: Vec<&str> = doc["server"]["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["href"].as_str().unwrap())
            .collect();
        assert_eq!(
            hrefs,
            [
                "http://gw:19998/v2.1/servers/x",
                "http://gw:19998/servers/x",
                "http://elsewhere/compute/servers/x",
                "http://p:1/computers/x"
            ]
        );
    }

    #[test]
    fn azs() {
        let mut s = json!({"OS-EXT-AZ:availability_zone": "nova"});
        az_to_top(&mut s, "OS-EXT-AZ:availability_zone", "nova", "az1");
        assert_eq!(s["OS-EXT-AZ:availability_zone"], "az1");
        let mut s = json!({"availability_zone": "other"});
        az_to_top(&mut s, "availability_zone", "nova", "az1");
        assert_eq!(s["availability_zone"], "other");
    }
}
