//! Real clients against a test cluster: rdkafka admin, producer and consumer with the tests'
//! settings, and a plain protocol connection for requests no client library wraps.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::unique;

pub fn client_config(cluster: &EmbeddedCluster) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", cluster.bootstrap())
        .set("topic.metadata.refresh.interval.ms", "500")
        .set("socket.timeout.ms", "5000");
    c
}

/// An admin client.
pub fn admin(cluster: &EmbeddedCluster) -> AdminClient<DefaultClientContext> {
    client_config(cluster).create().expect("admin client")
}

/// Creates a topic through the Kafka admin API and checks the result.
pub async fn create_topic(
    cluster: &EmbeddedCluster,
    name: &str,
    partitions: i32,
    rf: i32,
    configs: &[(&str, &str)],
) {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin(cluster)
        .create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(5))),
        )
        .await
        .expect("CreateTopics answered");
    for r in results {
        r.expect("topic created");
    }
}

/// A producer with the given acks.
pub fn producer(cluster: &EmbeddedCluster, acks: &str) -> FutureProducer {
    client_config(cluster)
        .set("acks", acks)
        .set("message.timeout.ms", "15000")
        .set("request.timeout.ms", "5000")
        .set("linger.ms", "2")
        .set("retry.backoff.ms", "50")
        .create()
        .expect("producer")
}

/// Sends `value` and returns (partition, offset) as acknowledged.
pub async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    value: &str,
) -> Result<(i32, i64), String> {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(15),
        )
        .await
        .map(|d| (d.partition, d.offset))
        .map_err(|(e, _)| e.to_string())
}

/// One consumed record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub value: String,
}

/// Reads every partition of `topic` from the beginning until `expected` records arrived or
/// the deadline passed (blocking; run it with spawn_blocking).
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(Consumed {
                partition: m.partition(),
                offset: m.offset(),
                value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            });
        }
    }
    out
}

/// Consumes on a blocking thread.
pub async fn consume_async(
    cluster: &EmbeddedCluster,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<Consumed> {
    let (bootstrap, topic) = (cluster.bootstrap(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        consume(
            &bootstrap,
            &topic,
            partitions,
            expected,
            Duration::from_secs(30),
        )
    })
    .await
    .expect("consumer thread")
}

/// Partition layout as a client sees it in Metadata: partition -> (leader, replicas, isr).
pub fn client_metadata(
    cluster: &EmbeddedCluster,
    topic: &str,
) -> BTreeMap<i32, (i32, Vec<i32>, Vec<i32>)> {
    let client: BaseConsumer = client_config(cluster).create().expect("client");
    let md = client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("metadata");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic in metadata");
    t.partitions()
        .iter()
        .map(|p| {
            (
                p.id(),
                (p.leader(), p.replicas().to_vec(), p.isr().to_vec()),
            )
        })
        .collect()
}

/// A protocol connection to broker `id` of `cluster`, as client `client_id`, for tests that
/// send requests no client library wraps.
pub async fn broker_connection(
    cluster: &EmbeddedCluster,
    id: i32,
    client_id: &str,
) -> kafka_sandbox::protocol::client::Connection {
    let addr = cluster.broker_addr(id).expect("a broker of the cluster");
    kafka_sandbox::protocol::client::Connection::connect(
        &addr.to_string(),
        client_id,
        Duration::from_secs(2),
    )
    .await
    .expect("the broker accepts a connection")
}
