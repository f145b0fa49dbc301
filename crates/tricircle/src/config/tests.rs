#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::raw::KNOWN;
use super::*;
use std::io::Write;
use std::time::Duration;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

const MINIMAL: &str =
    "[keystone_authtoken]\nauth_url = http://127.0.0.1:5000/v3\npassword = s3cret\n";

#[test]
fn defaults_and_file_values() {
    let f = file(&format!(
        "[DEFAULT]\nadmin_port = 20000\n[database]\nconnection = postgresql://u:p@h/db\n{MINIMAL}"
    ));
    let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
    assert_eq!(c.admin_port, 20000);
    assert_eq!(c.bind_host, "127.0.0.1");
    assert_eq!(c.database.connection, "postgresql://u:p@h/db");
    assert_eq!(c.keystone.password, "s3cret");
    assert_eq!(c.keystone.www_authenticate_uri, "http://127.0.0.1:5000/v3");
    assert_eq!(c.keystone.token_cache_time, Duration::from_secs(300));
    assert_eq!(
        c.client.endpoint_interface,
        tricircle_pods::Interface::Public
    );
    assert!(!format!("{c:?}").contains("s3cret"));
}

#[test]
fn layers_defaults_file_env_flags_fixed() {
    let f = file(
        "[DEFAULT]\nadmin_port = 20000\ncompute_port = 20001\n\
         [network]\nnetwork_vlan_ranges = extern:3001:3002\ntenant_network_types = vlan\n\
         [database]\nconnection = sqlite:///elsewhere.db\n",
    );
    let defaults = [
        ("network", "network_vlan_ranges", "bridge:1:2".to_string()),
        ("DEFAULT", "volume_port", "20002".to_string()),
    ];
    let flags = [("DEFAULT", "compute_port", "0".to_string())];
    let fixed = [
        ("database", "connection", "sqlite:///demo.db".to_string()),
        (
            "keystone_authtoken",
            "auth_url",
            "http://127.0.0.1:1/v3".to_string(),
        ),
        ("keystone_authtoken", "password", "p".to_string()),
    ];
    let layers = Layers {
        defaults: &defaults,
        file: Some(f.path()),
        flags: &flags,
        fixed: &fixed,
    };
    let env = vec![(
        "TRICIRCLE__DEFAULT__NETWORK_PORT".to_string(),
        "20003".to_string(),
    )];
    let (c, replaced) = Config::load_layers(&layers, env.into_iter()).unwrap();
    assert_eq!(c.admin_port, 20000); // file over the built-in default
    assert_eq!(c.volume_port, 20002); // a default the file leaves alone
    assert_eq!(c.network_port, 20003); // environment
    assert_eq!(c.compute_port, 0); // a flag over the file
    assert_eq!(c.database.connection, "sqlite:///demo.db"); // fixed over the file
    assert_eq!(c.network.tenant_network_types, vec!["vlan".to_string()]);
    assert_eq!(c.network.network_vlan_ranges.len(), 1);
    assert_eq!(c.network.network_vlan_ranges[0].physical_network, "extern");
    assert_eq!(replaced, vec!["[database] connection".to_string()]);

    // No file: the defaults; a missing or invalid file is an error.
    let none = Layers {
        file: None,
        ..layers
    };
    let (c, replaced) = Config::load_layers(&none, std::iter::empty()).unwrap();
    assert_eq!(c.network.network_vlan_ranges[0].physical_network, "bridge");
    assert!(replaced.is_empty());
    let missing = std::path::Path::new("/nonexistent/tricircle-demo.conf");
    let e = Config::load_layers(
        &Layers {
            file: Some(missing),
            ..none
        },
        std::iter::empty(),
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().contains("/nonexistent/tricircle-demo.conf"),
        "{e}"
    );
    let bad = file("[network]\nnetwork_vlan_ranges = extern:0:1\n");
    let e = Config::load_layers(
        &Layers {
            file: Some(bad.path()),
            ..none
        },
        std::iter::empty(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("network_vlan_ranges"), "{e}");
}

#[test]
fn env_overrides_file() {
    let f = file(MINIMAL);
    let env = vec![
        (
            "TRICIRCLE__DEFAULT__ADMIN_PORT".to_string(),
            "21000".to_string(),
        ),
        (
            "TRICIRCLE__DATABASE__CONNECTION".to_string(),
            "sqlite:///tmp/x.db".to_string(),
        ),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let c = Config::load_with_env(Some(f.path()), env.into_iter()).unwrap();
    assert_eq!(c.admin_port, 21000);
    assert_eq!(c.database.connection, "sqlite:///tmp/x.db");
}

#[test]
fn errors_name_the_option() {
    let cases = [
        ("[DEFAULT]\nadmin_port = http\n", "[DEFAULT] admin_port"),
        (
            "[DEFAULT]\nauth_strategy = basic\n",
            "[DEFAULT] auth_strategy",
        ),
        ("[DEFAULT]\nadmin_prot = 1\n", "[DEFAULT] admin_prot"),
        (
            "[database]\nconnection = mysql://x\n",
            "[database] connection",
        ),
        (
            "[keystone_authtoken]\nauth_url = http://h/v3\n",
            "[keystone_authtoken] password",
        ),
        (
            "[keystone_authtoken]\npassword = x\n",
            "[keystone_authtoken] auth_url",
        ),
        (
            "[DEFAULT]\nauth_strategy = noauth\ndebug = maybe\n",
            "[DEFAULT] debug",
        ),
    ];
    for (text, needle) in cases {
        let f = file(text);
        let e = Config::load_with_env(Some(f.path()), std::iter::empty())
            .err()
            .unwrap_or_else(|| panic!("{text} accepted"));
        assert!(e.to_string().contains(needle), "{e} should name {needle}");
    }
}

#[test]
fn overload_and_client_bounds() {
    let c = Config::load_with_env(Some(file(MINIMAL).path()), std::iter::empty()).unwrap();
    assert_eq!(c.max_inflight_requests, 1024);
    assert_eq!(
        c.client_timeouts,
        ClientTimeouts {
            header: Duration::from_secs(30),
            body: Duration::from_secs(60),
            send: Duration::from_secs(60),
        }
    );
    let f = file(&format!(
        "{MINIMAL}[DEFAULT]\nmax_inflight_requests = 50\nclient_body_timeout = 5\n"
    ));
    let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
    assert_eq!(c.max_inflight_requests, 50);
    assert_eq!(c.client_timeouts.body, Duration::from_secs(5));
    for (text, option) in [
        (
            "max_inflight_requests = 0",
            "[DEFAULT] max_inflight_requests",
        ),
        (
            "client_header_timeout = 0",
            "[DEFAULT] client_header_timeout",
        ),
        (
            "client_send_timeout = forever",
            "[DEFAULT] client_send_timeout",
        ),
    ] {
        let f = file(&format!("{MINIMAL}[DEFAULT]\n{text}\n"));
        let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
        assert!(e.to_string().contains(option), "{e}");
    }
}

#[test]
fn jobs_section() {
    let f = file(MINIMAL);
    let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
    assert_eq!((c.jobs.workers, c.jobs.max_attempts), (2, 20));
    assert_eq!(c.jobs.lease, Duration::from_secs(60));
    let f = file(&format!(
        "{MINIMAL}[jobs]\nworkers = 8\nlease_seconds = 30\n"
    ));
    let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
    assert_eq!((c.jobs.workers, c.jobs.lease), (8, Duration::from_secs(30)));
    let f = file(&format!("{MINIMAL}[jobs]\nworkers = 0\n"));
    let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
    assert!(e.to_string().contains("[jobs] workers"), "{e}");
}

#[test]
fn client_section() {
    let c = Config::load_with_env(Some(file(MINIMAL).path()), std::iter::empty()).unwrap();
    assert_eq!(
        c.client.idle_connection_timeout,
        Duration::from_millis(1000)
    );
    assert_eq!(
        (
            c.client.pod_max_idle_connections,
            c.client.pod_max_concurrent_requests
        ),
        (32, 128)
    );
    assert_eq!(
        c.client.breaker,
        tricircle_pods::health::BreakerConfig::default()
    );
    // Probes wait as long as any call, by default.
    assert_eq!(
        c.client.health,
        tricircle_pods::health::monitor::MonitorConfig {
            probe_timeout: c.client.pod_timeout,
            ..Default::default()
        }
    );
    let f = file(&format!(
        "{MINIMAL}[client]\ntop_region_name = Top\nidle_connection_timeout = 0\n\
         pod_down_after_failures = 5\npod_retry_interval = 30\npod_probe_interval = 0\n\
         health_refresh_interval = 500\npod_queue_timeout = 250\n"
    ));
    let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
    assert_eq!(c.client.top_region_name, "Top");
    assert_eq!(c.client.idle_connection_timeout, Duration::ZERO);
    assert_eq!(c.client.breaker.down_after, 5);
    assert_eq!(c.client.breaker.retry_interval, Duration::from_secs(30));
    assert_eq!(c.client.health.probe_interval, None);
    assert_eq!(c.client.health.refresh_interval, Duration::from_millis(500));
    assert_eq!(c.client.pod_queue_timeout, Duration::from_millis(250));
    for (text, option) in [
        (
            "[client]\npod_degraded_after_failures = 4\npod_down_after_failures = 2\n",
            "[client] pod_down_after_failures",
        ),
        (
            "[client]\npod_max_concurrent_requests = 0\n",
            "[client] pod_max_concurrent_requests",
        ),
        (
            "[client]\npod_probe_timeout = 5\n",
            "[client] pod_probe_timeout",
        ),
    ] {
        let f = file(&format!("{MINIMAL}{text}"));
        let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
        assert!(e.to_string().contains(option), "{e}");
    }
}

#[test]
fn foreign_sections_are_left_alone() {
    let f = file(&format!("{MINIMAL}[oslo_messaging_rabbit]\nanything = 1\n"));
    assert!(Config::load_with_env(Some(f.path()), std::iter::empty()).is_ok());
}

#[test]
fn missing_file_is_an_error() {
    let e = Config::load_with_env(Some(Path::new("/nonexistent/t.conf")), std::iter::empty());
    assert!(matches!(e, Err(ConfigError::Read { .. })));
}

#[test]
fn network_section() {
    let c = Config::load_with_env(Some(file(MINIMAL).path()), std::iter::empty()).unwrap();
    assert_eq!(c.network_port, 9696);
    assert_eq!(c.network, tricircle_network::NetworkConfig::default());
    let f = file(&format!(
        "{MINIMAL}[DEFAULT]\nnetwork_port = 9797\n[network]\ntenant_network_types = vlan,local\n\
         network_vlan_ranges = physnet1:100:199,ext\nvni_ranges = 10:20\nglobal_physnet_mtu = 9000\n\
         [quota]\nquota_network = 3\nquota_port = -1\n"
    ));
    let c = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap();
    assert_eq!(c.network_port, 9797);
    assert_eq!(c.network.tenant_network_types, ["vlan", "local"]);
    assert_eq!(c.network.network_vlan_ranges.len(), 2);
    assert_eq!(c.network.network_vlan_ranges[0].range, Some((100, 199)));
    assert_eq!(c.network.vni_ranges, [(10, 20)]);
    assert_eq!(c.network.global_physnet_mtu, 9000);
    assert_eq!((c.network.quotas.network, c.network.quotas.port), (3, -1));
    for (text, option) in [
        (
            "[network]\ntenant_network_types = gre\n",
            "[network] tenant_network_types",
        ),
        (
            "[network]\nnetwork_vlan_ranges = p:0:5000\n",
            "[network] network_vlan_ranges",
        ),
        ("[network]\nvni_ranges = 5\n", "[network] vni_ranges"),
        ("[quota]\nquota_subnet = -5\n", "[quota] quota_subnet"),
    ] {
        let f = file(&format!("{MINIMAL}{text}"));
        let e = Config::load_with_env(Some(f.path()), std::iter::empty()).unwrap_err();
        assert!(e.to_string().contains(option), "{e}");
    }
}

/// The sample documents exactly the options we read.
#[test]
fn sample_documents_every_option() {
    let sample = include_str!("../../../../etc/tricircle.conf.sample");
    for (section, options) in KNOWN {
        assert!(
            sample.contains(&format!("[{section}]")),
            "sample lacks [{section}]"
        );
        for o in *options {
            assert!(
                sample.contains(&format!("#{o} =")) || sample.contains(&format!("{o} =")),
                "sample lacks [{section}] {o}"
            );
        }
    }
}
