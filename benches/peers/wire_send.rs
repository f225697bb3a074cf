//! The cluster's own cost of a synchronous acks=all send, without librdkafka: the sandbox's
//! protocol client sends one-record Produce requests (acks=all), one at a time, each to its
//! partition's leader, against an embedded 3-broker cluster with one topic of N partitions
//! (RF 3). librdkafka's producer scans every partition a broker leads on each pass of that
//! broker's thread, so through it (the script's `send`) a send also costs the client
//! O(partitions); this figure leaves that out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::config::ClusterConfig;
use kafka_sandbox::protocol::client::Connection;
use kafka_sandbox::protocol::records::{encode_batch, plain_record};

const TOPIC: &str = "wire-send";
const CALL: Duration = Duration::from_secs(15);
/// Sends timed, after as many untimed.
const SENDS: usize = 400;

/// Mean milliseconds per send at `partitions` partitions.
pub fn mean_ms(partitions: usize) -> Result<f64, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        let outcome = measure(&cluster, partitions).await;
        cluster.shutdown().await;
        outcome
    })
}

async fn connect(cluster: &EmbeddedCluster, id: i32) -> Result<Connection, String> {
    let addr = cluster.broker_addr(id).map_err(|e| e.to_string())?;
    Connection::connect(&addr.to_string(), "wire-send", CALL)
        .await
        .map_err(|e| e.to_string())
}

async fn measure(cluster: &EmbeddedCluster, partitions: usize) -> Result<f64, String> {
    let ids = cluster.broker_ids();
    let mut admin = connect(cluster, ids[0]).await?;
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(60_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_num_partitions(partitions as i32)
            .with_replication_factor(3)]);
    let created = admin
        .call(&create, 5, CALL)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(t) = created.topics.first().filter(|t| t.error_code != 0) {
        return Err(format!("CreateTopics failed with code {}", t.error_code));
    }
    wait_in_sync(cluster, TOPIC, partitions).await?;
    let snapshot = cluster.snapshot();
    let leaders: Vec<i32> = snapshot
        .topic(TOPIC)
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| p.leader.map_or(-1, |b| b.0))
                .collect()
        })
        .unwrap_or_default();
    let mut conns: HashMap<i32, Connection> = HashMap::new();
    for id in ids {
        conns.insert(id, connect(cluster, id).await?);
    }
    let mut timed = Duration::ZERO;
    for i in 0..2 * SENDS {
        // Spread over the partitions, as keyed sends are.
        let partition = (i * 7919) % partitions;
        let conn = conns
            .get_mut(&leaders[partition])
            .ok_or("a partition's leader is not a known broker")?;
        let request = produce(partition as i32, i);
        let start = Instant::now();
        let response = conn
            .call(&request, 9, CALL)
            .await
            .map_err(|e| e.to_string())?;
        let code = response
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .map_or(-1, |p| p.error_code);
        if code != 0 {
            return Err(format!(
                "Produce to partition {partition} failed with code {code}"
            ));
        }
        if i >= SENDS {
            timed += start.elapsed();
        }
    }
    Ok(timed.as_secs_f64() * 1000.0 / SENDS as f64)
}

/// Waits until every partition of `topic` is led with all three replicas in its ISR: acks=all
/// with a short ISR would be cheaper than the figure means to measure.
pub async fn wait_in_sync(
    cluster: &EmbeddedCluster,
    topic: &str,
    partitions: usize,
) -> Result<(), String> {
    let full = cluster
        .wait_for(Duration::from_secs(120), |s| {
            s.topic(topic).is_some_and(|t| {
                t.partitions.len() == partitions
                    && t.partitions
                        .iter()
                        .all(|p| p.leader.is_some() && p.isr.len() == 3)
            })
        })
        .await;
    if full {
        Ok(())
    } else {
        Err(format!("the ISRs of {topic} did not fill within 120 s"))
    }
}

fn produce(partition: i32, i: usize) -> ProduceRequest {
    let key = Some(bytes::Bytes::from(format!("key-{i}")));
    let value = Some(bytes::Bytes::from(format!("value-{i}")));
    let batch = encode_batch(&[plain_record(0, 1_700_000_000_000, key, value)]);
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])])
}
