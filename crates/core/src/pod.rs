//! Pods: one bottom OpenStack region each, plus the single top pod.
//!
//! The rules here are the ones every caller must apply before a pod is
//! written: trimmed names, the top pod has no AZ, bottom pods must have one.

use serde::Deserialize;

/// Longest name we accept for pod, AZ and data centre names (the column
/// width of the original schema).
pub const MAX_NAME_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodValidationError {
    #[error("pod_name must be a non-empty string")]
    EmptyPodName,
    #[error("{field} is longer than {max} characters", max = MAX_NAME_LEN)]
    TooLong { field: &'static str },
    #[error("{field} must not contain control characters")]
    ControlCharacters { field: &'static str },
    #[error("pod_az_name must be empty for the top pod (a pod without az_name)")]
    TopPodWithPodAz,
}

/// A pod as the admin API receives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    pub pod_name: String,
    #[serde(default)]
    pub az_name: Option<String>,
    #[serde(default)]
    pub pod_az_name: Option<String>,
    #[serde(default)]
    pub dc_name: Option<String>,
}

/// A validated pod, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPod {
    pub pod_name: String,
    pub az_name: String,
    pub pod_az_name: String,
    pub dc_name: String,
}

impl ValidPod {
    pub fn is_top(&self) -> bool {
        self.az_name.is_empty()
    }
}

fn clean(field: &'static str, value: Option<&str>) -> Result<String, PodValidationError> {
    let v = value.unwrap_or("").trim();
    if v.chars().count() > MAX_NAME_LEN {
        return Err(PodValidationError::TooLong { field });
    }
    if v.chars().any(char::is_control) {
        return Err(PodValidationError::ControlCharacters { field });
    }
    Ok(v.to_string())
}

impl PodSpec {
    pub fn validate(&self) -> Result<ValidPod, PodValidationError> {
        let pod_name = clean("pod_name", Some(&self.pod_name))?;
        if pod_name.is_empty() {
            return Err(PodValidationError::EmptyPodName);
        }
        let az_name = clean("az_name", self.az_name.as_deref())?;
        let pod_az_name = clean("pod_az_name", self.pod_az_name.as_deref())?;
        let dc_name = clean("dc_name", self.dc_name.as_deref())?;
        if az_name.is_empty() && !pod_az_name.is_empty() {
            return Err(PodValidationError::TopPodWithPodAz);
        }
        Ok(ValidPod {
            pod_name,
            az_name,
            pod_az_name,
            dc_name,
        })
    }
}

/// The fields an operator may change on an existing pod. `pod_name` is the
/// Keystone region and `az_name` decides the pod's role (top or bottom), so
/// neither changes in place: delete and re-create instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodUpdate {
    #[serde(default)]
    pub pod_az_name: Option<String>,
    #[serde(default)]
    pub dc_name: Option<String>,
    #[serde(default)]
    pub maintenance: Option<bool>,
}

impl PodUpdate {
    /// Trims and checks the new values. `is_top` is whether the pod being
    /// updated is the top pod.
    pub fn validate(&self, is_top: bool) -> Result<PodUpdate, PodValidationError> {
        let pod_az_name = match &self.pod_az_name {
            Some(v) => Some(clean("pod_az_name", Some(v))?),
            None => None,
        };
        if is_top && pod_az_name.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(PodValidationError::TopPodWithPodAz);
        }
        let dc_name = match &self.dc_name {
            Some(v) => Some(clean("dc_name", Some(v))?),
            None => None,
        };
        Ok(PodUpdate {
            pod_az_name,
            dc_name,
            maintenance: self.maintenance,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.pod_az_name.is_none() && self.dc_name.is_none() && self.maintenance.is_none()
    }
}

/// Name of the compute aggregate that stands for a bottom pod.
pub fn aggregate_name(pod_name: &str) -> String {
    format!("ag_{pod_name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(name: &str, az: Option<&str>, paz: Option<&str>) -> PodSpec {
        PodSpec {
            pod_name: name.into(),
            az_name: az.map(Into::into),
            pod_az_name: paz.map(Into::into),
            dc_name: None,
        }
    }

    #[test]
    fn trims_and_classifies() {
        let p = spec("  Pod1 ", Some(" az1"), Some("nova ")).validate();
        assert_eq!(
            p,
            Ok(ValidPod {
                pod_name: "Pod1".into(),
                az_name: "az1".into(),
                pod_az_name: "nova".into(),
                dc_name: String::new()
            })
        );
        let top = spec("RegionOne", None, None).validate().map(|p| p.is_top());
        assert_eq!(top, Ok(true));
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(
            spec("   ", None, None).validate(),
            Err(PodValidationError::EmptyPodName)
        );
        assert_eq!(
            spec("RegionOne", Some(""), Some("az")).validate(),
            Err(PodValidationError::TopPodWithPodAz)
        );
        assert_eq!(
            spec(&"x".repeat(256), None, None).validate(),
            Err(PodValidationError::TooLong { field: "pod_name" })
        );
        assert_eq!(
            spec("Pod\n1", None, None).validate(),
            Err(PodValidationError::ControlCharacters { field: "pod_name" })
        );
    }

    #[test]
    fn update_rules() {
        let u = PodUpdate {
            pod_az_name: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(u.validate(true), Err(PodValidationError::TopPodWithPodAz));
        assert!(u.validate(false).is_ok());
        assert!(PodUpdate::default().is_empty());
    }

    proptest! {
        #[test]
        fn valid_pods_are_trimmed_and_top_iff_no_az(
            name in "[ ]{0,2}[A-Za-z0-9_-]{1,20}[ ]{0,2}",
            az in proptest::option::of("[ ]{0,2}[a-z0-9]{0,8}[ ]{0,2}"),
        ) {
            let p = spec(&name, az.as_deref(), None).validate();
            let p = p.expect("valid input");
            prop_assert_eq!(&p.pod_name, name.trim());
            prop_assert_eq!(p.is_top(), az.as_deref().map(str::trim).unwrap_or("").is_empty());
            prop_assert!(p.pod_az_name.is_empty());
        }
    }
}
