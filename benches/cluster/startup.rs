//! Start-up: from starting an embedded cluster to one that accepts CreateTopics, through a
//! plain protocol client and through an rdkafka admin client.

use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::config::ClusterConfig;

use crate::{create, median};

/// Sends CreateTopics over a plain protocol connection and returns whether it succeeded.
async fn create_raw(cluster: &EmbeddedCluster, name: &str) -> bool {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let addr = cluster.broker_addr(1).unwrap();
    let mut conn = kafka_sandbox::protocol::client::Connection::connect(
        &addr.to_string(),
        "bench",
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(8)
            .with_replication_factor(3)]);
    let response = conn
        .call(&request, 7, Duration::from_secs(5))
        .await
        .unwrap();
    response.topics.iter().all(|t| t.error_code == 0)
}

pub async fn startup(runs: usize) -> (f64, f64, f64) {
    let (mut ready, mut raw, mut rdkafka) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let t0 = Instant::now();
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .expect("start");
        ready.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert!(create_raw(&cluster, &format!("raw-{i}")).await);
        raw.push(t0.elapsed().as_secs_f64() * 1000.0);
        cluster.shutdown().await;

        let t0 = Instant::now();
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .expect("start");
        assert!(create(&cluster.bootstrap(), &format!("startup-{i}"), 8).await);
        rdkafka.push(t0.elapsed().as_secs_f64() * 1000.0);
        cluster.shutdown().await;
    }
    (median(ready), median(raw), median(rdkafka))
}
