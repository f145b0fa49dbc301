//! Path segments taken from clients and passed on to pods.

/// Longest segment passed on (Nova's and Cinder's keys and ids are at most
/// 255 characters).
pub const MAX_SEGMENT: usize = 255;

/// Whether a decoded segment names one thing and nothing else.
pub fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SEGMENT
        && !s.starts_with("..")
        && s != "."
        && !s
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '%' | ';') || c.is_control())
}
