//! Quotas and limits. Quotas are Tricircle's, enforced across pods:
//! instances, cores and RAM are counted over every pod (see the store's
//! allocations), server groups at the top; the other Nova quotas are
//! reported with Nova's defaults (or the project's own setting).

use crate::error::{ComputeError, Result};
use crate::Compute;

/// Nova quotas Tricircle reports but does not count, with Nova's defaults,
/// and the newest microversion that still shows them.
const STATIC_QUOTAS: &[(&str, i64, u16)] = &[
    ("metadata_items", 128, u16::MAX),
    ("key_pairs", 100, u16::MAX),
    ("server_groups", 10, u16::MAX),
    ("server_group_members", 10, u16::MAX),
    ("injected_files", 5, 56),
    ("injected_file_content_bytes", 10240, 56),
    ("injected_file_path_bytes", 255, 56),
    ("fixed_ips", -1, 35),
    ("floating_ips", 10, 35),
    ("security_groups", 10, 35),
    ("security_group_rules", 20, 35),
];

/// One resource of a project's quota set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    pub resource: &'static str,
    pub limit: i64,
    pub in_use: i64,
    /// The newest compute microversion that shows this resource.
    pub shown_until: u16,
}

/// The resources of a quota set, in Nova's order, with the newest
/// microversion showing each.
pub fn quota_resources() -> impl Iterator<Item = (&'static str, u16)> {
    ["instances", "cores", "ram"]
        .into_iter()
        .map(|r| (r, u16::MAX))
        .chain(STATIC_QUOTAS.iter().map(|(r, _, until)| (*r, *until)))
}

impl Compute {
    /// The quota set of `project` (`defaults_only`: the defaults, nothing
    /// counted).
    pub async fn quota_set(&self, project: &str, defaults_only: bool) -> Result<Vec<QuotaRow>> {
        let limits = if defaults_only {
            self.quota_defaults
        } else {
            self.project_limits(project).await?
        };
        let usage = self.store.usage(project).await?;
        let own = if defaults_only {
            Default::default()
        } else {
            self.store.quota_limits(project).await?
        };
        let counted = |resource, limit, in_use| QuotaRow {
            resource,
            limit,
            in_use,
            shown_until: u16::MAX,
        };
        let mut rows = vec![
            counted("instances", limits.instances, usage.instances),
            counted("cores", limits.cores, usage.cores),
            counted("ram", limits.ram_mb, usage.ram_mb),
        ];
        // Server groups are kept at the top: counted here.
        let groups = if defaults_only {
            0
        } else {
            self.store.list_server_groups(Some(project)).await?.len() as i64
        };
        for (name, default, until) in STATIC_QUOTAS {
            rows.push(QuotaRow {
                resource: name,
                limit: own.get(*name).copied().unwrap_or(*default),
                in_use: if *name == "server_groups" { groups } else { 0 },
                shown_until: *until,
            });
        }
        Ok(rows)
    }

    /// Nova checks with Keystone that a project whose quotas are set
    /// exists (refused if Keystone says it does not; allowed when Keystone
    /// will not say).
    pub async fn verify_project(&self, project: &str) -> Result<()> {
        match self.keystone.project_exists(project).await {
            Ok(Some(false)) => Err(ComputeError::BadRequest(format!(
                "Project ID {project} is not a valid project."
            ))),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "could not verify a project with Keystone");
                Err(tricircle_gateway::GatewayError::unavailable(
                    "The identity service is unavailable; try again later.",
                    std::time::Duration::ZERO,
                )
                .into())
            }
        }
    }

    /// Sets a project's own limits (resources checked by the API).
    pub async fn set_quotas(&self, project: &str, updates: &[(String, i64)]) -> Result<()> {
        for (k, n) in updates {
            self.store.set_quota(project, k, *n).await?;
        }
        Ok(())
    }

    /// Forgets a project's own limits: the defaults apply again.
    pub async fn delete_quotas(&self, project: &str) -> Result<()> {
        Ok(self.store.delete_quotas(project).await?)
    }
}
