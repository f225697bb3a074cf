//! Topic creation, metadata as kcat and librdkafka see it, and exact delivery.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kcat_lists_three_brokers_and_a_replicated_topic_with_spread_leaders() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("failsafe-test-topic");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let bootstrap = cluster.bootstrap();
        let t = topic.clone();
        let output = tokio::task::spawn_blocking(move || {
            Command::new("kcat")
                .args(["-b", &bootstrap, "-L", "-J", "-t", &t, "-m", "10"])
                .output()
                .expect("kcat is installed (apt-get install kcat)")
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "kcat failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("kcat -J prints JSON");
        let brokers: BTreeSet<i64> = json["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_i64().unwrap())
            .collect();
        assert_eq!(brokers, BTreeSet::from([1, 2, 3]));
        let topic_json = json["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["topic"] == topic.as_str())
            .unwrap();
        let partitions = topic_json["partitions"].as_array().unwrap();
        assert_eq!(partitions.len(), 8);
        let mut led = BTreeMap::new();
        for p in partitions {
            let replicas: BTreeSet<i64> = p["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap())
                .collect();
            let isr: BTreeSet<i64> = p["isrs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap())
                .collect();
            assert_eq!(replicas.len(), 3, "RF 3: {p}");
            assert_eq!(isr, replicas, "every replica in sync: {p}");
            *led.entry(p["leader"].as_i64().unwrap()).or_insert(0) += 1;
        }
        assert_eq!(
            led.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3],
            "leaders spread over all brokers: {led:?}"
        );
        assert!(
            led.values().all(|n| (2..=3).contains(n)),
            "each broker leads 2-3 partitions: {led:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_acks_all_messages_come_back_exactly_once_in_order() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("exact");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let producer = producer(&cluster, "all");
        let sends: Vec<_> = (0..1000)
            .map(|i| {
                let (producer, topic) = (producer.clone(), topic.clone());
                async move { send(&producer, &topic, &format!("k{i}"), &format!("m{i}")).await }
            })
            .collect();
        let acked: Vec<(i32, i64)> = futures_join(sends)
            .await
            .into_iter()
            .map(|r| r.expect("acked"))
            .collect();
        let got = consume_async(&cluster, &topic, 8, 1000).await;
        assert_eq!(got.len(), 1000, "exactly 1000 records");
        let values: BTreeSet<&str> = got.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(values.len(), 1000, "no duplicates");
        let by_value: BTreeMap<&str, (i32, i64)> = got
            .iter()
            .map(|c| (c.value.as_str(), (c.partition, c.offset)))
            .collect();
        for (i, ack) in acked.iter().enumerate() {
            assert_eq!(
                by_value[format!("m{i}").as_str()],
                *ack,
                "m{i} is where the broker acknowledged it"
            );
        }
        for p in 0..8 {
            let offsets: Vec<i64> = got
                .iter()
                .filter(|c| c.partition == p)
                .map(|c| c.offset)
                .collect();
            assert!(
                offsets.windows(2).all(|w| w[1] == w[0] + 1),
                "partition {p} in order, no gaps"
            );
        }
    })
    .await;
}

/// Awaits all futures concurrently.
async fn futures_join<T, F: std::future::Future<Output = T> + Send + 'static>(
    futures: Vec<F>,
) -> Vec<T>
where
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_topics_reports_kafka_errors() {
    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode;
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let admin = admin(&cluster);
        let opts = AdminOptions::new();
        let name = unique("dup");
        create_topic(&cluster, &name, 2, 2, &[]).await;
        let again = admin
            .create_topics(
                &[NewTopic::new(&name, 2, TopicReplication::Fixed(2))],
                &opts,
            )
            .await
            .unwrap();
        assert_eq!(
            again[0].as_ref().unwrap_err().1,
            RDKafkaErrorCode::TopicAlreadyExists
        );
        let too_wide = admin
            .create_topics(
                &[NewTopic::new(
                    &unique("wide"),
                    1,
                    TopicReplication::Fixed(4),
                )],
                &opts,
            )
            .await
            .unwrap();
        assert_eq!(
            too_wide[0].as_ref().unwrap_err().1,
            RDKafkaErrorCode::InvalidReplicationFactor
        );
        let deleted = admin.delete_topics(&[&name], &opts).await.unwrap();
        assert!(deleted[0].is_ok());
        assert!(cluster.snapshot().topic(&name).is_none());
        // Every config Kafka documents is accepted (here some the sandbox only stores); an
        // unknown name or a bad value is INVALID_CONFIG.
        let stored = unique("stored");
        let created = admin
            .create_topics(
                &[NewTopic::new(&stored, 1, TopicReplication::Fixed(1))
                    .set("delete.retention.ms", "1000")
                    .set("segment.jitter.ms", "5")
                    .set("cleanup.policy", "delete,compact")],
                &opts,
            )
            .await
            .unwrap();
        assert!(created[0].is_ok(), "{created:?}");
        for (key, value) in [
            ("no.such.config", "1"),
            ("message.timestamp.type", "Whenever"),
        ] {
            let refused =
                admin
                    .create_topics(
                        &[NewTopic::new(&unique("bad"), 1, TopicReplication::Fixed(1))
                            .set(key, value)],
                        &opts,
                    )
                    .await
                    .unwrap();
            assert_eq!(
                refused[0].as_ref().unwrap_err().1,
                RDKafkaErrorCode::InvalidConfig,
                "{key}={value}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_python_produces_consumes_and_lists_offsets() {
    let python = "/usr/bin/python3";
    if !std::path::Path::new(python).exists() {
        panic!("{python} is missing: install python3-kafka (see .ci/run)");
    }
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("py");
        let script = r#"
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic, ConfigResource, ConfigResourceType
bootstrap, topic = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(topic, 3, 3, topic_configs={'min.insync.replicas': '2'})])
configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
entries = {e[0]: e[1] for e in configs[0].resources[0][4]}
p = KafkaProducer(bootstrap_servers=bootstrap, acks='all')
base = 1700000000000
for i in range(30):
    p.send(topic, key=b'k%d' % i, value=b'v%d' % i, partition=i % 3, timestamp_ms=base + i).get(timeout=10)
p.flush()
c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset='earliest', consumer_timeout_ms=5000)
parts = [TopicPartition(topic, i) for i in range(3)]
c.assign(parts)
c.seek_to_beginning()
values = sorted(m.value.decode() for m in c)
ends = c.end_offsets(parts)
by_time = c.offsets_for_times({parts[0]: base + 13})[parts[0]]
print(len(values), sum(ends.values()), entries['min.insync.replicas'], by_time.offset, by_time.timestamp - base)
"#;
        let (bootstrap, t) = (cluster.bootstrap(), topic.clone());
        let output = tokio::task::spawn_blocking(move || Command::new(python).args(["-c", script, &bootstrap, &t]).output())
            .await
            .unwrap()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "kafka-python failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
        // 30 read back; end offsets add up to 30; the topic config round-trips; the first
        // record at or after base+13 in partition 0 is i=15 (offset 5), stamped base+15.
        assert_eq!(stdout.trim(), "30 30 2 5 15");
        let snap = cluster.snapshot();
        assert_eq!(snap.topic(&topic).unwrap().min_insync_replicas, Some(2));
    })
    .await;
}

/// CreatePartitions through kafka-python's admin client, as a user's own tooling would call it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_python_adds_partitions_to_a_topic() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("py-grow");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let script = r#"
import sys
from kafka.admin import KafkaAdminClient, NewPartitions
from kafka.errors import InvalidPartitionsError
bootstrap, topic = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_partitions({topic: NewPartitions(total_count=6)})
try:
    admin.create_partitions({topic: NewPartitions(total_count=6)})
    print("unchanged accepted")
except InvalidPartitionsError:
    print("unchanged refused")
"#;
        let stdout = kafka_python(script, vec![cluster.bootstrap(), topic.clone()]).await;
        assert_eq!(stdout.trim(), "unchanged refused");
        let layout = client_metadata(&cluster, &topic);
        assert_eq!(layout.len(), 6, "{layout:?}");
    })
    .await;
}

/// DeleteRecords through rdkafka's admin API: the log start moves to the given offset, a
/// position past the high watermark is refused, reads below the start reset to it, and the
/// followers hold the same start, so it survives the leader's loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_records_moves_the_log_start_on_every_replica() {
    use rdkafka::admin::AdminOptions;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("trim");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        let p = producer(&cluster, "all");
        for i in 0..10 {
            send(&p, &topic, "k", &format!("v{i}")).await.unwrap();
        }
        let admin = admin(&cluster);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(4))
            .unwrap();
        let result = admin
            .delete_records(&tpl, &AdminOptions::new())
            .await
            .expect("DeleteRecords answered");
        let got = result.find_partition(&topic, 0).unwrap();
        assert_eq!(
            (got.offset(), got.error().is_ok()),
            (Offset::Offset(4), true)
        );
        let mut past = TopicPartitionList::new();
        past.add_partition_offset(&topic, 0, Offset::Offset(99))
            .unwrap();
        let refused = admin.delete_records(&past, &AdminOptions::new()).await;
        let refused_ok = refused
            .as_ref()
            .map(|r| r.find_partition(&topic, 0).unwrap().error().is_ok())
            .unwrap_or(false);
        assert!(!refused_ok, "past the high watermark: {refused:?}");
        // One more acknowledged write: the followers fetched it, and learnt the new start.
        send(&p, &topic, "k", "v10").await.unwrap();
        let (bootstrap, t) = (cluster.bootstrap(), topic.clone());
        let read = move || {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", unique("trim-reader"))
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            let marks = c.fetch_watermarks(&t, 0, Duration::from_secs(5)).unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&t, 0, Offset::Offset(1)).unwrap();
            c.assign(&tpl).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let mut first = None;
            while first.is_none() && std::time::Instant::now() < deadline {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                    first = Some(m.offset());
                }
            }
            (marks, first)
        };
        let (marks, first) = tokio::task::spawn_blocking(read.clone()).await.unwrap();
        assert_eq!(marks, (4, 11));
        assert_eq!(first, Some(4), "a read below the start resets to it");
        let leader = cluster.snapshot().topic(&topic).unwrap().partitions[0]
            .leader
            .unwrap()
            .0;
        cluster.kill_broker(leader).await.unwrap();
        wait_for(
            "a new leader",
            Duration::from_secs(10),
            || cluster.snapshot().topic(&topic).unwrap().partitions[0].leader,
            |l| l.is_some_and(|l| l.0 != leader),
        )
        .await;
        let (marks, _) = tokio::task::spawn_blocking(read).await.unwrap();
        assert_eq!(
            marks,
            (4, 11),
            "the new leader starts where the old one did"
        );
    })
    .await;
}

/// A topic with `message.timestamp.type=LogAppendTime` gets the broker's clock on every
/// record, whatever the producer said, and consumers see it as a log-append time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_append_time_topics_carry_the_brokers_clock() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Message, Timestamp};
    use rdkafka::producer::FutureRecord;
    use rdkafka::{Offset, TopicPartitionList};
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("append-time");
        create_topic(
            &cluster,
            &topic,
            1,
            3,
            &[("message.timestamp.type", "LogAppendTime")],
        )
        .await;
        let p = producer(&cluster, "all");
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        p.send(
            FutureRecord::to(&topic)
                .key("k")
                .payload("v")
                .timestamp(1_000_000_000_000),
            Duration::from_secs(15),
        )
        .await
        .map_err(|(e, _)| e.to_string())
        .unwrap();
        let (bootstrap, t) = (cluster.bootstrap(), topic.clone());
        let stamp = tokio::task::spawn_blocking(move || {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", unique("stamp-reader"))
                .create()
                .unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&t, 0, Offset::Beginning).unwrap();
            c.assign(&tpl).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                    return Some(m.timestamp());
                }
            }
            None
        })
        .await
        .unwrap();
        match stamp {
            Some(Timestamp::LogAppendTime(ms)) => assert!(ms >= before, "{ms} < {before}"),
            other => panic!("expected a log-append time, got {other:?}"),
        }
    })
    .await;
}
