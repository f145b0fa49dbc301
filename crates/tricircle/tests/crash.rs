//! `tricircle serve` killed (SIGKILL) in the middle of a burst of boots and
//! network creates, then started again on the same database: no
//! acknowledged create is lost, nothing is made twice, nothing is left in a
//! pod that the top does not know, and quota usage equals what exists.
//!
//! Real `tricircle serve` processes, simulated pods whose answers to boots
//! are held back (so the kill lands while pods have made servers whose
//! answers never arrive), one SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serving;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serving::{keystone_section, serve, start_gateway, wait_for};

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tricircle_core::ResourceType;
use tricircle_podsim::{Identity, IdentityConfig, Pod, PodConfig};
use tricircle_store::{ConnectOptions, JobFilter, JobStatus, Store};

/// What one create request came back with.
#[derive(Debug)]
enum Outcome {
    /// Acknowledged: the id the client was given.
    Made(String),
    /// Refused, failed, or cut off by the kill: the client knows nothing.
    Unknown,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_loses_duplicates_and_leaks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let id_cfg = IdentityConfig {
        public_url: format!("http://{}", l.local_addr().unwrap()),
        ..Default::default()
    };
    let identity = Identity::new(id_cfg.clone());
    let router = identity.router();
    tokio::spawn(async move { tricircle_podsim::serve(l, router, std::future::pending()).await });
    let images = tricircle_podsim::image::ImageService::default();
    let image = "6e1b0f9a-9a7c-4c55-b4bb-6f7a1a8a0001";
    images.add_image(image, "cirros");
    let mut pods = Vec::new();
    for name in ["Pod1", "Pod2"] {
        let pod = Pod::new(
            PodConfig::new(name)
                .with_identity(identity.clone())
                .with_images(images.clone()),
        );
        let url = serve(pod.router()).await;
        identity.register_pod(name, &url);
        if pods.is_empty() {
            identity.add_endpoint("RegionOne", "image", "public", &format!("{url}/image"));
        }
        // Boots are made at once but answered late: a kill in between
        // leaves servers no client was told about.
        pod.set_answer_delay("/compute/v2.1/servers", Duration::from_millis(400));
        pods.push(pod);
    }

    let db = dir.path().join("tricircle.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    for (name, az) in [("RegionOne", ""), ("Pod1", "az1"), ("Pod2", "az2")] {
        let spec = tricircle_core::PodSpec {
            pod_name: name.into(),
            az_name: Some(az.into()),
            pod_az_name: Some(String::new()),
            dc_name: None,
        };
        store.create_pod(&spec.validate().unwrap()).await.unwrap();
    }
    let config = dir.path().join("tricircle.conf");
    std::fs::write(
        &config,
        format!(
            "[DEFAULT]\nauth_strategy = keystone\nlog_format = json\nbind_host = 127.0.0.1\n\
             admin_port = 0\ncompute_port = 0\nvolume_port = 0\nnetwork_port = 0\n\
             [database]\nconnection = {url}\n{}\
             [client]\npod_timeout = 2\nlist_deadline = 2000\n\
             [quota]\ninstances = 1000\ncores = 1000\nram = 1000000\n\
             [jobs]\nworkers = 2\nlease_seconds = 5\npoll_interval_seconds = 1\n",
            keystone_section(&id_cfg)
        ),
    )
    .unwrap();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let admin = identity.issue_token("admin", "admin").unwrap();
    let demo = identity.issue_token("demo", "demo").unwrap();
    let project = identity.validate(&demo).unwrap()["token"]["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut gw = start_gateway(&config, &dir.path().join("first.log"));
    let r = http
        .post(format!("{}/v2.1/flavors", gw.compute))
        .header("x-auth-token", &admin)
        .json(&json!({"flavor": {"id": "f1", "name": "tiny", "vcpus": 1, "ram": 64, "disk": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The burst: boots in both AZs and network creates, four at a time,
    // each with a name of its own. The kill comes once eight were answered.
    let answered = Arc::new(AtomicUsize::new(0));
    let acked_servers_so_far = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(tokio::sync::Notify::new());
    let mut streams = Vec::new();
    for stream in 0..4 {
        let (http, demo, compute, network) = (
            http.clone(),
            demo.clone(),
            gw.compute.clone(),
            gw.network.clone(),
        );
        let (answered, kill_now, acked_servers) = (
            answered.clone(),
            kill_now.clone(),
            acked_servers_so_far.clone(),
        );
        streams.push(tokio::spawn(async move {
            let mut out: Vec<(String, bool, Outcome)> = Vec::new();
            for i in 0..6 {
                let name = format!("s{stream}-{i}");
                let is_server = i % 3 != 2;
                let sent =
                    if is_server {
                        let az = if (stream + i) % 2 == 0 { "az1" } else { "az2" };
                        http.post(format!("{compute}/v2.1/servers"))
                        .header("x-auth-token", &demo)
                        .json(&json!({"server": {"name": name, "imageRef": image, "flavorRef": "f1",
                            "availability_zone": az, "networks": "none"}}))
                        .header("openstack-api-version", "compute 2.47")
                        .send()
                        .await
                    } else {
                        http.post(format!("{network}/v2.0/networks"))
                            .header("x-auth-token", &demo)
                            .json(&json!({"network": {"name": name}}))
                            .send()
                            .await
                    };
                let outcome = match sent {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await.unwrap_or_default();
                        let key = if is_server { "server" } else { "network" };
                        match v[key]["id"].as_str() {
                            Some(id) => Outcome::Made(id.to_string()),
                            None => Outcome::Unknown,
                        }
                    }
                    _ => Outcome::Unknown,
                };
                let made = matches!(outcome, Outcome::Made(_));
                if made && is_server {
                    acked_servers.fetch_add(1, Ordering::SeqCst);
                }
                out.push((name, is_server, outcome));
                if made && answered.fetch_add(1, Ordering::SeqCst) + 1 == 8 {
                    kill_now.notify_one();
                }
            }
            out
        }));
    }
    kill_now.notified().await;
    // Kill while a pod holds a server whose answer has not come back.
    let in_pods = || {
        pods.iter()
            .map(|p| p.compute().servers().len())
            .sum::<usize>()
    };
    wait_for("a boot in flight", Duration::from_secs(10), || {
        let n = in_pods();
        let acked = acked_servers_so_far.load(Ordering::SeqCst);
        async move { (n > acked).then_some(()) }
    })
    .await;
    gw.kill();
    let mut outcomes = Vec::new();
    for s in streams {
        outcomes.extend(s.await.unwrap());
    }
    let acknowledged = |servers: bool| -> HashMap<String, String> {
        outcomes
            .iter()
            .filter(|(_, is_server, _)| *is_server == servers)
            .filter_map(|(name, _, o)| match o {
                Outcome::Made(id) => Some((name.clone(), id.clone())),
                Outcome::Unknown => None,
            })
            .collect()
    };
    let acked_servers = acknowledged(true);
    let acked_networks = acknowledged(false);
    assert!(acked_servers.len() + acked_networks.len() >= 8);
    let cut_off = outcomes
        .iter()
        .filter(|(_, _, o)| matches!(o, Outcome::Unknown))
        .count();
    assert!(cut_off > 0, "the kill landed after the burst: {outcomes:?}");
    let orphans_at_kill = in_pods() - acked_servers.len();
    eprintln!(
        "killed with {} servers and {} networks acknowledged, {cut_off} requests cut off, \
         {orphans_at_kill} servers in pods that no client was told about",
        acked_servers.len(),
        acked_networks.len()
    );

    // Started again on the same database: its workers settle what the
    // dead one left (create checks after 2 x pod_timeout).
    let gw = start_gateway(&config, &dir.path().join("second.log"));
    let pods_servers = || -> Vec<Value> {
        pods.iter()
            .flat_map(|p| p.compute().servers())
            .filter(|s| s["tenant_id"] == json!(project) || s["project_id"] == json!(project))
            .collect()
    };
    wait_for(
        "the create checks to finish",
        Duration::from_secs(90),
        || {
            let store = store.clone();
            async move {
                let page = store
                    .list_jobs(
                        &JobFilter {
                            job_type: Some("server_create_check".into()),
                            ..Default::default()
                        },
                        None,
                        1000,
                    )
                    .await
                    .unwrap();
                page.jobs
                    .iter()
                    .all(|j| j.status == JobStatus::Success)
                    .then_some(())
            }
        },
    )
    .await;
    // Nova deletes in the background: wait until every server left in a
    // pod is one the top knows.
    let routed: HashSet<String> =
        wait_for("no orphans in the pods", Duration::from_secs(30), || {
            let store = store.clone();
            let servers = pods_servers();
            async move {
                let page = store
                    .list_routings(
                        &tricircle_store::RoutingFilter {
                            resource_type: Some(ResourceType::Server),
                            ..Default::default()
                        },
                        None,
                        1000,
                    )
                    .await
                    .unwrap();
                let routed: HashSet<String> = page.routings.into_iter().map(|r| r.top_id).collect();
                servers
                    .iter()
                    .all(|s| routed.contains(s["id"].as_str().unwrap_or("")))
                    .then_some(routed)
            }
        })
        .await;
    let servers = pods_servers();
    // 0 lost: every acknowledged server is in a pod and routed.
    for (name, id) in &acked_servers {
        assert!(
            servers.iter().any(|s| s["id"] == json!(id)),
            "acknowledged server {name} {id} is lost"
        );
        assert!(
            routed.contains(id),
            "acknowledged server {name} {id} has no routing"
        );
    }
    // 0 duplicated: one server per name.
    let mut names = HashSet::new();
    for s in &servers {
        assert!(
            names.insert(s["name"].as_str().unwrap().to_string()),
            "server {} exists twice",
            s["name"]
        );
    }
    // Networks: every acknowledged one exists once at the top.
    let r = http
        .get(format!("{}/v2.0/networks", gw.network))
        .header("x-auth-token", &demo)
        .send()
        .await
        .unwrap();
    let nets: Value = r.json().await.unwrap();
    let nets = nets["networks"].as_array().unwrap();
    for (name, id) in &acked_networks {
        assert_eq!(
            nets.iter().filter(|n| n["name"] == json!(name)).count(),
            1,
            "network {name} {id}"
        );
        assert!(nets.iter().any(|n| n["id"] == json!(id)));
    }
    // Quota usage equals what exists, once the dead gateway's reservations
    // expired (4 x pod_timeout).
    wait_for(
        "usage to equal the servers",
        Duration::from_secs(60),
        || {
            let (store, project) = (store.clone(), project.clone());
            let n = servers.len() as i64;
            async move { (store.usage(&project).await.unwrap().instances == n).then_some(()) }
        },
    )
    .await;
    let r = http
        .get(format!("{}/v2.1/limits", gw.compute))
        .header("x-auth-token", &demo)
        .send()
        .await
        .unwrap();
    let limits: Value = r.json().await.unwrap();
    assert_eq!(
        limits["limits"]["absolute"]["totalInstancesUsed"],
        json!(servers.len()),
        "{limits}"
    );
    let mut gw = gw;
    gw.kill();
}
