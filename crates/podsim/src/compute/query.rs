//! Query strings as WebOb sees them: an ordered multi-dict (repeatable keys
//! such as `sort_key` or `tag`), and `urllib.parse.urlencode` for `next`
//! links.

use std::borrow::Borrow;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Decoded `key=value` pairs in request order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Self { pairs }
    }

    /// The last value of `key` (WebOb's `params[key]`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` (`getall(key)[0]`).
    pub fn first(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Distinct keys in first-seen order.
    pub fn keys(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (k, _) in &self.pairs {
            if !out.contains(&k.as_str()) {
                out.push(k);
            }
        }
        out
    }
}

/// What Python's `quote_plus` escapes: all but letters, digits, `_.-~`,
/// and the space, which it writes as `+`.
const QUOTE_PLUS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b' ');

/// Python's `quote_plus`.
fn quote_plus(s: &str) -> String {
    utf8_percent_encode(s, QUOTE_PLUS)
        .to_string()
        .replace(' ', "+")
}

/// Python's `urlencode` of `(key, value)` pairs.
pub(crate) fn urlencode<I, K, V>(pairs: I) -> String
where
    I: IntoIterator,
    I::Item: Borrow<(K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    pairs
        .into_iter()
        .map(|p| {
            let (k, v) = p.borrow();
            format!("{}={}", quote_plus(k.as_ref()), quote_plus(v.as_ref()))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Python's `dict` built from pairs: one entry per key, at the position of
/// its first occurrence, holding its last value.
pub(crate) fn py_dict(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        match out.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_multi_and_decode() {
        let q = Query::parse(Some(
            "sort_key=a&sort_key=b&name=x+y%21&flag&bad=%zz&end=%4",
        ));
        assert_eq!(q.all("sort_key"), vec!["a", "b"]);
        assert_eq!(q.get("sort_key"), Some("b"));
        assert_eq!(q.first("sort_key"), Some("a"));
        assert_eq!(q.get("name"), Some("x y!"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("bad"), Some("%zz"));
        assert_eq!(q.get("end"), Some("%4"));
        assert_eq!(q.keys(), vec!["sort_key", "name", "flag", "bad", "end"]);
    }

    #[test]
    fn encode_like_python() {
        assert_eq!(
            urlencode([("limit", "2"), ("name", "a b/c")]),
            "limit=2&name=a+b%2Fc"
        );
        assert_eq!(
            urlencode([("sort", "name:asc,id"), ("a b", "é")]),
            "sort=name%3Aasc%2Cid&a+b=%C3%A9"
        );
        // quote_plus keeps `~` and escapes `*`, unlike form encoding.
        assert_eq!(
            urlencode(&[("k~*".to_string(), "é".to_string())]),
            "k~%2A=%C3%A9"
        );
        let d = py_dict(&[
            ("a".into(), "1".into()),
            ("b".into(), "2".into()),
            ("a".into(), "3".into()),
        ]);
        assert_eq!(d, vec![("a".into(), "3".into()), ("b".into(), "2".into())]);
    }
}
