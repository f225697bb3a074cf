//! Failover: from killing a broker until every partition is led by a live broker again.

use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::config::ClusterConfig;

use crate::{create, median};

pub async fn failover(runs: usize) -> (f64, f64) {
    let cluster = EmbeddedCluster::start(ClusterConfig::default())
        .await
        .expect("start");
    assert!(create(&cluster.bootstrap(), "failover", 8).await);
    let session = cluster
        .config()
        .timings
        .broker_session_timeout
        .as_secs_f64()
        * 1000.0;
    let mut times = Vec::new();
    for run in 0..runs {
        let victim = (run % 3) as i32 + 1;
        let all_in_sync = |c: &EmbeddedCluster| {
            c.snapshot()
                .topic("failover")
                .is_some_and(|t| t.partitions.iter().all(|p| p.isr.len() == 3))
        };
        assert!(
            cluster
                .wait_for(Duration::from_secs(20), |_| all_in_sync(&cluster))
                .await
        );
        let t0 = Instant::now();
        cluster.kill_broker(victim).await.unwrap();
        let led = cluster
            .wait_for(Duration::from_secs(20), |s| {
                s.topic("failover")
                    .unwrap()
                    .partitions
                    .iter()
                    .all(|p| p.leader.is_some() && !p.led_by(victim))
            })
            .await;
        assert!(led);
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        cluster.start_broker(victim).await.unwrap();
    }
    cluster.shutdown().await;
    (median(times), session)
}
