//! The same figures for each backend: start-to-ready, idle memory of the nodes, and failover.

use std::time::{Duration, Instant};

use kafka_sandbox::backend::{Backend, ClusterControl};
use kafka_sandbox::config::ClusterConfig;

use crate::create;
use crate::memory::{container_pids, node_child_pids, rss_mb};

/// Start-to-ready, idle memory of the nodes, and kill → every partition led by a live broker,
/// for one backend.
async fn backend_figures(backend: &Backend) -> (f64, Option<f64>, f64) {
    let t0 = Instant::now();
    let cluster = backend
        .start(ClusterConfig::default())
        .await
        .expect("start");
    let ready = t0.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = match backend {
        Backend::Processes { .. } => Some(rss_mb(&node_child_pids())),
        Backend::Docker(_) => Some(rss_mb(&container_pids().await)),
        _ => None,
    };
    assert!(create(&cluster.bootstrap(), "backend-failover", 8).await);
    let settled = |c: &dyn ClusterControl| {
        c.snapshot()
            .topic("backend-failover")
            .is_some_and(|t| t.partitions.iter().all(|p| p.isr.len() == 3))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !settled(cluster.as_ref()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    cluster.kill(1).await.expect("kill");
    loop {
        let led = cluster
            .snapshot()
            .topic("backend-failover")
            .is_some_and(|t| {
                t.partitions
                    .iter()
                    .all(|p| p.leader.is_some() && !p.led_by(1))
            });
        if led || t0.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failover = t0.elapsed().as_secs_f64() * 1000.0;
    cluster.shutdown().await;
    (ready, rss, failover)
}

pub async fn backends() {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_kafka-sandbox"));
    let mut all = vec![
        ("embedded", Backend::Embedded),
        ("processes", Backend::Processes { exe: exe.clone() }),
    ];
    match kafka_sandbox::backend::docker::containers::Engine::connect().await {
        Ok(engine) => {
            use kafka_sandbox::backend::docker::image::{build, Tagging};
            let built = build(engine.docker(), &exe, Tagging::ContentOnly, &mut |_| {})
                .await
                .expect("node image builds");
            all.push((
                "docker (sandbox node image)",
                Backend::Docker(kafka_sandbox::backend::docker::DockerOptions {
                    image: built.tags[0].clone(),
                    keep_on_failure: false,
                }),
            ));
        }
        Err(e) => println!("backends: docker skipped: {e}"),
    }
    for (name, backend) in all {
        let (ready, rss, failover) = backend_figures(&backend).await;
        let rss = rss.map_or("in this process (see memory)".to_string(), |mb| {
            format!("{mb:.1} MB for the controller and 3 brokers")
        });
        println!("backend {name}: ready {ready:.0} ms; idle nodes {rss}; kill → new leaders {failover:.0} ms");
    }
}
