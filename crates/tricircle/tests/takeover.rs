//! A worker process killed (SIGKILL) in the middle of a propagation job:
//! another worker process takes the job over once its lease expires and
//! finishes it. Real `tricircle serve --role worker` processes, a simulated
//! pod made slow so the kill lands mid-job, one SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serving;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use serving::{keystone_section, serve, wait_for};
use tokio::net::TcpListener;
use tricircle_jobs::JobPayload;
use tricircle_network::bottom::Bottom;
use tricircle_network::jobs_types::NetworkUpdate;
use tricircle_network::model::{Network, Resource};
use tricircle_network::{NetworkConfig, Neutron, Scope};
use tricircle_pods::{EndpointResolver, Interface, KeystoneClient, PodClient, ServiceCredentials};
use tricircle_podsim::{Credentials, Identity, IdentityConfig, Pod, PodConfig};
use tricircle_store::{ConnectOptions, Job, JobFilter, JobStatus, Store};

fn worker(config: &std::path::Path, log: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tricircle"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--role",
            "worker",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

async fn the_job(store: &Store) -> Option<Job> {
    let page = store
        .list_jobs(
            &JobFilter {
                job_type: Some(NetworkUpdate::JOB_TYPE.to_string()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    page.jobs.into_iter().next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_is_finished_by_another_worker() {
    let dir = tempfile::tempdir().unwrap();
    // A pod and its identity service.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let id_cfg = IdentityConfig {
        public_url: format!("http://{}", l.local_addr().unwrap()),
        ..Default::default()
    };
    let identity = Identity::new(id_cfg.clone());
    let router = identity.router();
    tokio::spawn(async move { tricircle_podsim::serve(l, router, std::future::pending()).await });
    let pod = Pod::new(PodConfig::new("Pod1").with_identity(identity.clone()));
    let pod_url = serve(pod.router()).await;
    identity.register_pod("Pod1", &pod_url);

    // The database the workers share, with the pods.
    let db = dir.path().join("tricircle.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    for (name, az) in [("RegionOne", ""), ("Pod1", "az1")] {
        let spec = tricircle_core::PodSpec {
            pod_name: name.into(),
            az_name: Some(az.into()),
            pod_az_name: Some(String::new()),
            dc_name: None,
        };
        store.create_pod(&spec.validate().unwrap()).await.unwrap();
    }
    let pod1 = store.find_pod_by_name("Pod1").await.unwrap().unwrap();

    // A top network with a copy in Pod1.
    let s = Credentials::service(&id_cfg);
    let keystone = Arc::new(
        KeystoneClient::new(
            ServiceCredentials {
                auth_url: format!("{}/v3", id_cfg.public_url),
                username: s.username.clone(),
                password: s.password.clone(),
                project_name: s.project_name.clone(),
                user_domain_name: s.user_domain_name.clone(),
                project_domain_name: s.project_domain_name.clone(),
            },
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    let resolver = Arc::new(EndpointResolver::new(
        keystone.clone(),
        Some(store.clone()),
        Interface::Public,
    ));
    let pods = PodClient::new(resolver, Duration::from_secs(30)).unwrap();
    let neutron = Neutron::new(store.clone(), NetworkConfig::default());
    let bottom = Bottom::new(neutron.clone(), pods, keystone, Duration::from_secs(30));
    let admin = Scope {
        project_id: "p-1".into(),
        user_id: "u-1".into(),
        is_admin: true,
    };
    let net = neutron
        .create_network(&admin, json!({"name": "before"}))
        .await
        .unwrap();
    let net_id = net["id"].as_str().unwrap().to_string();
    let full = neutron.get_network(&admin, &net_id).await.unwrap();
    let full = Network::from_doc(&full).unwrap();
    bottom.ensure_network(&pod1, &full).await.unwrap();
    let bottom_name = |pod: &Pod| -> Vec<String> {
        pod.network()
            .networks()
            .iter()
            .filter_map(|n| n["name"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(bottom_name(&pod), vec![format!("{net_id}#before")]);

    // The pod becomes slow: a propagation job now waits far longer than
    // the test takes to kill its worker, however busy the machine.
    pod.set_latency(Duration::from_secs(60));
    neutron
        .update_network(&admin, &net_id, json!({"name": "after"}))
        .await
        .unwrap();
    let queued = the_job(&store).await.expect("an update job is queued");
    assert_eq!(queued.status, JobStatus::New);

    let config = dir.path().join("tricircle.conf");
    std::fs::write(
        &config,
        format!(
            "[DEFAULT]\nauth_strategy = keystone\n\
             [database]\nconnection = {url}\n{}\
             [client]\npod_timeout = 30\n\
             [jobs]\nworkers = 1\nlease_seconds = 2\npoll_interval_seconds = 1\n",
            keystone_section(&id_cfg)
        ),
    )
    .unwrap();

    // Worker A takes the job and is killed while it waits for the pod.
    let mut a = worker(&config, &dir.path().join("a.log"));
    let running = wait_for(
        "worker A to lease the job",
        Duration::from_secs(30),
        || async {
            the_job(&store)
                .await
                .filter(|j| j.status == JobStatus::Running && j.lease_owner.is_some())
        },
    )
    .await;
    a.kill().unwrap();
    a.wait().unwrap();
    let after_kill = the_job(&store).await.expect("the job survives its worker");
    assert_eq!(after_kill.id, running.id);
    assert_eq!(after_kill.status, JobStatus::Running, "{after_kill:?}");
    assert_eq!(bottom_name(&pod), vec![format!("{net_id}#before")]);

    // Worker B takes it over after the lease and finishes it.
    pod.set_latency(Duration::from_millis(200));
    let mut b = worker(&config, &dir.path().join("b.log"));
    let done = wait_for(
        "worker B to finish the job",
        Duration::from_secs(60),
        || async {
            store
                .get_job(&running.id)
                .await
                .ok()
                .filter(|j| j.status == JobStatus::Success)
        },
    )
    .await;
    // The killed run counts as an attempt; B's run is the one that succeeded.
    assert!(done.attempts >= 2, "{done:?}");
    assert_eq!(bottom_name(&pod), vec![format!("{net_id}#after")]);
    assert!(the_job(&store).await.is_none(), "nothing left to run");

    let _ = Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status();
    let stopped = Instant::now();
    while b.try_wait().unwrap().is_none() {
        if stopped.elapsed() > Duration::from_secs(30) {
            b.kill().unwrap();
            panic!("worker B did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
