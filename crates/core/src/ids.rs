//! Identifier helpers.

/// Parses a UUID in any of the spellings OpenStack accepts (hyphenated or
/// 32 hex digits) and returns its canonical hyphenated lowercase form.
pub fn canonical_uuid(s: &str) -> Option<String> {
    uuid::Uuid::try_parse(s.trim())
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// A new random id, hyphenated, as OpenStack services mint them.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Keystone project and user ids are 32 hex digits (no hyphens) but other
/// identity backends use other forms; accept any printable, non-empty id of
/// sane length without spaces.
pub fn is_plausible_project_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let u = "0B2F6A1E-3C34-4F57-9E0A-3A9B0E9E7C11";
        assert_eq!(
            canonical_uuid(u).as_deref(),
            Some("0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11")
        );
        assert_eq!(
            canonical_uuid("0b2f6a1e3c344f579e0a3a9b0e9e7c11").as_deref(),
            Some("0b2f6a1e-3c34-4f57-9e0a-3a9b0e9e7c11")
        );
        assert_eq!(canonical_uuid("not-a-uuid"), None);
        assert_eq!(canonical_uuid(""), None);
    }

    #[test]
    fn project_ids() {
        assert!(is_plausible_project_id("8e2c5d0f4c1b4c5f9a0b1c2d3e4f5a6b"));
        assert!(!is_plausible_project_id(""));
        assert!(!is_plausible_project_id("a b"));
        assert!(!is_plausible_project_id(&"a".repeat(65)));
    }
}
