//! Paths below a pod service's catalog URL, kept as segments.
//!
//! A path is never a string joined from pieces: each piece is one segment,
//! sent percent-encoded (a `/` inside a piece becomes `%2F`), so nothing a
//! caller passes in a piece — an id, a name, a key — can climb out of the
//! resource it names. URLs are built with the `url` crate's segment API.

use std::fmt;

/// A path relative to a service's catalog URL, e.g. `servers/{id}/action`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodPath {
    segments: Vec<String>,
}

impl PodPath {
    /// A path written in the code, `/`-separated: `"/servers/detail"`.
    /// A trailing `/` is kept (an empty last segment); `"/"` is the
    /// service's root with a trailing slash.
    pub fn fixed(path: &'static str) -> PodPath {
        PodPath {
            segments: path
                .strip_prefix('/')
                .unwrap_or(path)
                .split('/')
                .map(str::to_string)
                .collect(),
        }
    }

    /// The path made of exactly these segments, each sent as one segment.
    pub fn of<I, S>(segments: I) -> PodPath
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PodPath {
            segments: segments.into_iter().map(Into::into).collect(),
        }
    }

    /// This path with one more segment.
    pub fn push(mut self, segment: impl Into<String>) -> PodPath {
        self.segments.push(segment.into());
        self
    }

    /// This path followed by `more`'s segments.
    pub fn join(mut self, more: &PodPath) -> PodPath {
        self.segments.extend(more.segments.iter().cloned());
        self
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// `base` (a catalog URL) with this path below it and `query`.
    pub fn under(&self, base: &str, query: Option<&str>) -> Result<url::Url, url::ParseError> {
        let mut url = url::Url::parse(base)?;
        if !self.segments.is_empty() {
            let mut segs = url
                .path_segments_mut()
                .map_err(|()| url::ParseError::RelativeUrlWithCannotBeABaseBase)?;
            segs.pop_if_empty();
            segs.extend(&self.segments);
        }
        url.set_query(query.filter(|q| !q.is_empty()));
        Ok(url)
    }
}

impl fmt::Display for PodPath {
    /// For logs and messages: `/servers/abc/action`, segments encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segments {
            write!(
                f,
                "/{}",
                percent_encoding::utf8_percent_encode(s, SEGMENT_ENCODE)
            )?;
        }
        Ok(())
    }
}

const SEGMENT_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b'%')
    .add(b'?')
    .add(b'#');

#[cfg(test)]
mod tests {
    use super::*;

    fn url(p: &PodPath, base: &str) -> String {
        p.under(base, None).unwrap().to_string()
    }

    #[test]
    fn fixed_paths() {
        let base = "http://pod:1/compute/v2.1";
        assert_eq!(
            url(&PodPath::fixed("/servers/detail"), base),
            "http://pod:1/compute/v2.1/servers/detail"
        );
        assert_eq!(
            url(&PodPath::fixed("/"), base),
            "http://pod:1/compute/v2.1/"
        );
        assert_eq!(
            url(&PodPath::fixed("/servers"), "http://pod:1/compute/v2.1/"),
            "http://pod:1/compute/v2.1/servers"
        );
        assert_eq!(url(&PodPath::default(), base), base);
    }

    #[test]
    fn pieces_cannot_leave_their_segment() {
        let base = "http://pod:1/volume/v3/p1";
        for (piece, sent) in [
            ("../../network", "..%2F..%2Fnetwork"),
            ("a/b", "a%2Fb"),
            ("a%2Fb", "a%252Fb"),
            ("a?b#c", "a%3Fb%23c"),
            ("..\\..\\x", "..%5C..%5Cx"),
        ] {
            let p = PodPath::fixed("/volumes").push(piece).push("action");
            assert_eq!(
                url(&p, base),
                format!("http://pod:1/volume/v3/p1/volumes/{sent}/action"),
                "{piece}"
            );
        }
        let u = PodPath::of(["volumes", ".."]).under(base, None).unwrap();
        assert!(u.path().starts_with("/volume/v3/p1/volumes"), "{u}");
    }

    #[test]
    fn queries() {
        let p = PodPath::fixed("/servers");
        assert_eq!(
            p.under("http://pod:1/c", Some("limit=2&marker=x"))
                .unwrap()
                .to_string(),
            "http://pod:1/c/servers?limit=2&marker=x"
        );
        assert_eq!(
            p.under("http://pod:1/c", Some("")).unwrap().to_string(),
            "http://pod:1/c/servers"
        );
        assert_eq!(
            PodPath::fixed("/servers").push("a b").to_string(),
            "/servers/a%20b"
        );
    }
}
