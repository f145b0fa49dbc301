//! Glance errors as webob renders them: the body format follows the
//! request's `Accept` header (HTML for `*/*` and `text/html`, JSON
//! `{"message", "code", "title"}` for `application/json`, plain text
//! otherwise), with webob's templates.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A Glance (webob) HTTP error.
#[derive(Debug, Clone)]
pub(crate) struct GlanceError {
    pub status: StatusCode,
    pub explanation: String,
    /// `HTTPUnsupportedMediaType` has its own template with a detail.
    pub detail: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

impl GlanceError {
    pub fn new(status: StatusCode, explanation: impl Into<String>) -> Self {
        Self {
            status,
            explanation: explanation.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(explanation: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, explanation)
    }

    pub fn forbidden(explanation: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, explanation)
    }

    /// Glance's policy refusal: `You are not authorized to complete X action.`
    pub fn forbidden_action(action: &str) -> Self {
        Self::forbidden(format!(
            "You are not authorized to complete {action} action."
        ))
    }

    pub fn not_found(explanation: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, explanation)
    }

    /// `No image found with ID X`.
    pub fn no_image(id: &str) -> Self {
        Self::not_found(format!("No image found with ID {id}"))
    }

    pub fn conflict(explanation: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, explanation)
    }

    /// webob's `HTTPRequestEntityTooLarge`, e.g. over a per-image limit.
    pub fn too_large(explanation: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, explanation)
    }

    /// 415 for a PATCH or upload with the wrong `Content-Type`.
    pub fn unsupported_media_type(content_type: &str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            explanation: format!(
                "The request media type {content_type} is not supported by this server."
            ),
            detail: Some(detail.into()),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn status_line(&self) -> String {
        format!("{} {}", self.status.as_u16(), webob_title(self.status))
    }

    /// Renders the error for a request with these headers.
    pub fn render(&self, req_headers: &HeaderMap) -> Response {
        let accept = req_headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok());
        let status = self.status_line();
        let title = webob_title(self.status);
        let (content_type, body) = match best_offer(accept) {
            Offer::Html => {
                let inner = match &self.detail {
                    Some(d) => format!(
                        "{}\n<br /><br />\n{}",
                        html_escape(&self.explanation),
                        html_escape(d)
                    ),
                    None => format!("{}<br /><br />\n\n\n", html_escape(&self.explanation)),
                };
                (
                    "text/html; charset=UTF-8",
                    format!(
                        "<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n  \
                         <h1>{status}</h1>\n  {inner}\n </body>\n</html>"
                    ),
                )
            }
            Offer::Json => {
                let message = match &self.detail {
                    Some(d) => format!("{}\n<br /><br />\n{d}", self.explanation),
                    None => format!("{}<br /><br />\n\n\n", self.explanation),
                };
                (
                    "application/json",
                    serde_json::json!({"message": message, "code": status, "title": title})
                        .to_string(),
                )
            }
            Offer::Plain => {
                let text = match &self.detail {
                    Some(d) => format!("{} \n\n {d}", self.explanation),
                    None => format!("{}\n\n   ", self.explanation),
                };
                ("text/plain; charset=UTF-8", format!("{status}\n\n{text}"))
            }
        };
        let mut resp = (self.status, body).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                resp.headers_mut().insert(*name, v);
            }
        }
        resp
    }
}

/// Handlers return the error as a response carrying this extension; the
/// image router's layer re-renders it for the request's `Accept` header.
#[derive(Clone)]
pub(crate) struct PendingGlanceError(pub GlanceError);

impl IntoResponse for GlanceError {
    fn into_response(self) -> Response {
        let mut resp = self.render(&HeaderMap::new());
        resp.extensions_mut().insert(PendingGlanceError(self));
        resp
    }
}

pub(crate) type GResult<T> = Result<T, GlanceError>;

/// webob's title of a status: the reason phrase, but webob keeps the older
/// name of 413.
fn webob_title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        s => s.canonical_reason().unwrap_or("Error"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Offer {
    Html,
    Json,
    Plain,
}

/// webob's `acceptable_offers(['text/html', 'application/json'])`, falling
/// back to text/plain.
fn best_offer(accept: Option<&str>) -> Offer {
    let Some(accept) = accept else {
        return Offer::Plain;
    };
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let range = it.next()?.trim().to_ascii_lowercase();
            if range.is_empty() {
                return None;
            }
            let mut q = 1.0f32;
            for param in it {
                let param = param.trim();
                if let Some(v) = param.strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            Some((range, q))
        })
        .collect();
    let quality = |offer: &str| -> f32 {
        let (otype, _) = offer.split_once('/').unwrap_or((offer, ""));
        let mut best: Option<(u8, f32)> = None;
        for (range, q) in &ranges {
            let specificity = if range == offer {
                3
            } else if range == &format!("{otype}/*") {
                2
            } else if range == "*/*" {
                1
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, *q));
            }
        }
        best.map(|(_, q)| q).unwrap_or(0.0)
    };
    let html = quality("text/html");
    let json = quality("application/json");
    if html <= 0.0 && json <= 0.0 {
        Offer::Plain
    } else if json > html {
        Offer::Json
    } else {
        Offer::Html
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_follow_webob() {
        assert_eq!(best_offer(None), Offer::Plain);
        assert_eq!(best_offer(Some("*/*")), Offer::Html);
        assert_eq!(best_offer(Some("application/json")), Offer::Json);
        assert_eq!(best_offer(Some("text/plain")), Offer::Plain);
        assert_eq!(
            best_offer(Some("application/json, text/html;q=0.5")),
            Offer::Json
        );
        assert_eq!(
            best_offer(Some("text/html;q=0.9, application/*")),
            Offer::Json
        );
    }
}
