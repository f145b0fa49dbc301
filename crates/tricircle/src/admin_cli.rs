//! `tricircle pod|binding|routing ...`: the admin API from the shell. The
//! token comes from `--os-token`/`OS_TOKEN`, or from a password
//! authentication with the usual `OS_*` variables.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Map, Value};

#[derive(Args, Clone)]
pub struct Connection {
    /// Admin API root.
    #[arg(
        long,
        env = "TRICIRCLE_ADMIN_URL",
        default_value = "http://127.0.0.1:19999/v1.0",
        global = true
    )]
    admin_url: String,
    /// A Keystone token to use as is.
    #[arg(long, env = "OS_TOKEN", hide_env_values = true, global = true)]
    os_token: Option<String>,
    #[arg(long, env = "OS_AUTH_URL", global = true)]
    os_auth_url: Option<String>,
    #[arg(long, env = "OS_USERNAME", global = true)]
    os_username: Option<String>,
    #[arg(long, env = "OS_PASSWORD", hide_env_values = true, global = true)]
    os_password: Option<String>,
    #[arg(long, env = "OS_PROJECT_NAME", global = true)]
    os_project_name: Option<String>,
    #[arg(
        long,
        env = "OS_USER_DOMAIN_NAME",
        default_value = "Default",
        global = true
    )]
    os_user_domain_name: String,
    #[arg(
        long,
        env = "OS_PROJECT_DOMAIN_NAME",
        default_value = "Default",
        global = true
    )]
    os_project_domain_name: String,
}

#[derive(Args)]
pub struct PodArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: PodCommand,
}

#[derive(Subcommand)]
enum PodCommand {
    /// Register a pod (a Keystone region). Without --az-name it is the top pod.
    Create {
        #[arg(long)]
        pod_name: String,
        #[arg(long)]
        az_name: Option<String>,
        #[arg(long)]
        pod_az_name: Option<String>,
        #[arg(long)]
        dc_name: Option<String>,
    },
    /// The pods as a table with their health (state, since when, free
    /// capacity); `--json` for the admin API's answer as is.
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        pod_id: String,
    },
    /// Change a pod's data centre, its AZ name inside the pod, or its
    /// maintenance flag (a pod in maintenance gets no new resources).
    Update {
        pod_id: String,
        #[arg(long)]
        pod_az_name: Option<String>,
        #[arg(long)]
        dc_name: Option<String>,
        #[arg(long)]
        maintenance: Option<bool>,
    },
    Delete {
        pod_id: String,
        /// Also remove the routings and bindings that point at the pod.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
pub struct BindingArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: BindingCommand,
}

#[derive(Subcommand)]
enum BindingCommand {
    Create {
        #[arg(long)]
        tenant_id: String,
        #[arg(long)]
        pod_id: String,
    },
    List {
        #[arg(long)]
        tenant_id: Option<String>,
        #[arg(long)]
        pod_id: Option<String>,
    },
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Args)]
pub struct RoutingArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: RoutingCommand,
}

#[derive(Subcommand)]
enum RoutingCommand {
    List {
        #[arg(long)]
        top_id: Option<String>,
        #[arg(long)]
        bottom_id: Option<String>,
        #[arg(long)]
        pod_id: Option<String>,
        #[arg(long)]
        project_id: Option<String>,
        #[arg(long)]
        resource_type: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        marker: Option<i64>,
    },
    Show {
        id: i64,
    },
}

struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Connection {
    async fn client(&self) -> anyhow::Result<AdminClient> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let token = match &self.os_token {
            Some(t) => t.clone(),
            None => self.password_token(&http).await?,
        };
        Ok(AdminClient {
            http,
            base: self.admin_url.trim_end_matches('/').to_string(),
            token,
        })
    }

    async fn password_token(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        let (Some(auth_url), Some(user), Some(password), Some(project)) = (
            &self.os_auth_url,
            &self.os_username,
            &self.os_password,
            &self.os_project_name,
        ) else {
            anyhow::bail!(
                "no credentials: set OS_TOKEN, or OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME"
            );
        };
        let url = format!(
            "{}/auth/tokens?nocatalog",
            tricircle_pods::keystone::v3_base(auth_url)
        );
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": self.os_user_domain_name}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": self.os_project_domain_name}}}
        }});
        let resp = http
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach Keystone at {auth_url}"))?;
        anyhow::ensure!(
            resp.status().is_success(),
            "Keystone refused the credentials (HTTP {})",
            resp.status()
        );
        resp.headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .context("Keystone returned no X-Subject-Token")
    }
}

impl AdminClient {
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token)
            .query(query);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|f| f.get("message"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| body.to_string());
            anyhow::bail!("HTTP {status}: {message}");
        }
        Ok(body)
    }
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(map)
}

fn some_str(v: &Option<String>) -> Option<Value> {
    v.as_ref().map(|s| Value::String(s.clone()))
}

pub async fn pod(args: &PodArgs) -> anyhow::Result<()> {
    let c = args.conn.client().await?;
    let out = match &args.command {
        PodCommand::Create {
            pod_name,
            az_name,
            pod_az_name,
            dc_name,
        } => {
            let pod = object(vec![
                ("pod_name", Some(json!(pod_name))),
                ("az_name", some_str(az_name)),
                ("pod_az_name", some_str(pod_az_name)),
                ("dc_name", some_str(dc_name)),
            ]);
            c.call(Method::POST, "/pods", &[], Some(json!({ "pod": pod })))
                .await?
        }
        PodCommand::List { json } => {
            let out = c.call(Method::GET, "/pods", &[], None).await?;
            if !json {
                print!("{}", pod_table(&out));
                return Ok(());
            }
            out
        }
        PodCommand::Show { pod_id } => {
            c.call(Method::GET, &format!("/pods/{pod_id}"), &[], None)
                .await?
        }
        PodCommand::Update {
            pod_id,
            pod_az_name,
            dc_name,
            maintenance,
        } => {
            let pod = object(vec![
                ("pod_az_name", some_str(pod_az_name)),
                ("dc_name", some_str(dc_name)),
                ("maintenance", maintenance.map(Value::Bool)),
            ]);
            c.call(
                Method::PUT,
                &format!("/pods/{pod_id}"),
                &[],
                Some(json!({ "pod": pod })),
            )
            .await?
        }
        PodCommand::Delete { pod_id, force } => {
            let q = if *force {
                vec![("force", "true".to_string())]
            } else {
                vec![]
            };
            c.call(Method::DELETE, &format!("/pods/{pod_id}"), &q, None)
                .await?
        }
    };
    print(&out)
}

/// `GET /v1.0/pods` as a table: one line per pod, health included.
fn pod_table(list: &Value) -> String {
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) if s.is_empty() => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let header = [
        "POD_ID",
        "POD_NAME",
        "AZ_NAME",
        "MAINTENANCE",
        "HEALTH",
        "SINCE",
        "FREE_VCPUS",
        "FREE_RAM_MB",
        "LAST_ERROR",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for p in list["pods"].as_array().into_iter().flatten() {
        let h = &p["health"];
        rows.push(vec![
            text(&p["pod_id"]),
            text(&p["pod_name"]),
            text(&p["az_name"]),
            text(&p["maintenance"]),
            text(&h["state"]),
            text(&h["since"]),
            text(&h["free_capacity"]["vcpus"]),
            text(&h["free_capacity"]["ram_mb"]),
            text(&h["last_error"]),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub async fn binding(args: &BindingArgs) -> anyhow::Result<()> {
    let c = args.conn.client().await?;
    let out = match &args.command {
        BindingCommand::Create { tenant_id, pod_id } => {
            let b = json!({"pod_binding": {"tenant_id": tenant_id, "pod_id": pod_id}});
            c.call(Method::POST, "/bindings", &[], Some(b)).await?
        }
        BindingCommand::List { tenant_id, pod_id } => {
            let mut q = Vec::new();
            if let Some(t) = tenant_id {
                q.push(("tenant_id", t.clone()));
            }
            if let Some(p) = pod_id {
                q.push(("pod_id", p.clone()));
            }
            c.call(Method::GET, "/bindings", &q, None).await?
        }
        BindingCommand::Show { id } => {
            c.call(Method::GET, &format!("/bindings/{id}"), &[], None)
                .await?
        }
        BindingCommand::Delete { id } => {
            c.call(Method::DELETE, &format!("/bindings/{id}"), &[], None)
                .await?
        }
    };
    print(&out)
}

pub async fn routing(args: &RoutingArgs) -> anyhow::Result<()> {
    let c = args.conn.client().await?;
    let out = match &args.command {
        RoutingCommand::List {
            top_id,
            bottom_id,
            pod_id,
            project_id,
            resource_type,
            limit,
            marker,
        } => {
            let mut q = Vec::new();
            for (k, v) in [
                ("top_id", top_id),
                ("bottom_id", bottom_id),
                ("pod_id", pod_id),
                ("project_id", project_id),
                ("resource_type", resource_type),
            ] {
                if let Some(v) = v {
                    q.push((k, v.clone()));
                }
            }
            if let Some(l) = limit {
                q.push(("limit", l.to_string()));
            }
            if let Some(m) = marker {
                q.push(("marker", m.to_string()));
            }
            c.call(Method::GET, "/routings", &q, None).await?
        }
        RoutingCommand::Show { id } => {
            c.call(Method::GET, &format!("/routings/{id}"), &[], None)
                .await?
        }
    };
    print(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_table_shows_health() {
        let list = json!({"pods": [
            {"pod_id": "p-top", "pod_name": "RegionOne", "az_name": "", "maintenance": false,
             "health": {"state": "unknown", "since": null, "free_capacity": null, "last_error": null}},
            {"pod_id": "p-1", "pod_name": "Pod1", "az_name": "az1", "maintenance": false,
             "health": {"state": "down", "since": "2026-01-01T00:00:00Z",
                        "free_capacity": {"vcpus": 60, "ram_mb": 1024}, "last_error": "HTTP 503 from compute"}},
        ]});
        let t = pod_table(&list);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("POD_ID"));
        let pod1: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            &pod1[..8],
            [
                "p-1",
                "Pod1",
                "az1",
                "false",
                "down",
                "2026-01-01T00:00:00Z",
                "60",
                "1024"
            ]
        );
        assert!(lines[2].ends_with("HTTP 503 from compute"));
        let top: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(&top[..5], ["p-top", "RegionOne", "-", "false", "unknown"]);
    }
}
