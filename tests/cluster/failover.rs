//! Broker failures and what clients see: crash, controlled stop, restart, pause, isolation,
//! min.insync.replicas, and unclean leader election losing data for real.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::backend::snapshot::{ClusterSnapshot, TopicView};

use crate::util::*;

/// Broker that leads the most partitions of `topic`.
fn busiest_leader(cluster: &EmbeddedCluster, topic: &str) -> i32 {
    let t = cluster.snapshot().topic(topic).unwrap().clone();
    (1..=3)
        .max_by_key(|b| t.partitions.iter().filter(|p| p.leader_id() == *b).count())
        .unwrap()
}

fn led_by_others_from_old_isr(before: &TopicView, after: &TopicView, dead: i32) -> bool {
    after
        .partitions
        .iter()
        .zip(&before.partitions)
        .all(|(now, was)| {
            now.leader_id() >= 0
                && now.leader_id() != dead
                && was.isr_ids().contains(&now.leader_id())
                && !now.isr_ids().contains(&dead)
        })
}

/// Produces `count` messages with acks=all while something happens; returns the acknowledged values.
async fn produce_through(
    cluster: &EmbeddedCluster,
    topic: &str,
    tag: &str,
    count: usize,
) -> Vec<String> {
    let producer = producer(cluster, "all");
    let mut acked = Vec::new();
    for i in 0..count {
        let value = format!("{tag}-{i}");
        send(&producer, topic, &value, &value)
            .await
            .unwrap_or_else(|e| panic!("acks=all send of {value} failed: {e}"));
        acked.push(value);
    }
    acked
}

/// Waits until every replica of `topic` is back in sync, then checks nothing acknowledged is lost.
async fn rejoins_and_nothing_lost(
    cluster: &TestCluster,
    topic: &str,
    acked: &[String],
    what: &str,
) {
    cluster
        .wait_until(what, Duration::from_secs(10), |s| fully_in_sync(s, topic))
        .await;
    assert_nothing_lost(cluster, topic, acked).await;
}

async fn assert_nothing_lost(cluster: &EmbeddedCluster, topic: &str, acked: &[String]) {
    let got = consume_async(cluster, topic, 8, acked.len()).await;
    let values: BTreeSet<&str> = got.iter().map(|c| c.value.as_str()).collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|v| !values.contains(v.as_str()))
        .collect();
    assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_leader_elects_from_the_isr_and_loses_nothing() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("kill");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let mut acked = produce_through(&cluster, &topic, "before", 50).await;
        let victim = busiest_leader(&cluster, &topic);
        let before = cluster.snapshot().topic(&topic).unwrap().clone();
        let killed_at = Instant::now();
        cluster.kill_broker(victim).await.unwrap();
        // Produce while the controller is still waiting for the session timeout.
        let writer = {
            let (bootstrap_cluster_topic, producer) = (topic.clone(), producer(&cluster, "all"));
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..40 {
                    let v = format!("during-{i}");
                    send(&producer, &bootstrap_cluster_topic, &v, &v)
                        .await
                        .expect("acks=all keeps succeeding");
                    acked.push(v);
                }
                acked
            })
        };
        let session = cluster.config().timings.broker_session_timeout;
        cluster
            .wait_until(
                "every partition to get a live leader from the old ISR",
                session + Duration::from_millis(1500),
                |s| led_by_others_from_old_isr(&before, s.topic(&topic).unwrap(), victim),
            )
            .await;
        let elapsed = killed_at.elapsed();
        assert!(
            elapsed >= session / 2,
            "a crash is only noticed by missed heartbeats ({elapsed:?})"
        );
        let md = client_metadata(&cluster, &topic);
        for (p, (leader, _, isr)) in &md {
            assert_ne!(
                *leader, victim,
                "metadata: partition {p} still led by the dead broker"
            );
            assert!(
                !isr.contains(&victim),
                "metadata: dead broker in ISR of {p}"
            );
        }
        acked.extend(writer.await.unwrap());
        acked.extend(produce_through(&cluster, &topic, "after", 20).await);
        assert_nothing_lost(&cluster, &topic, &acked).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_controlled_stop_moves_leaders_without_waiting_for_a_timeout() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("stop");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let mut acked = produce_through(&cluster, &topic, "before", 30).await;
        let victim = busiest_leader(&cluster, &topic);
        let before = cluster.snapshot().topic(&topic).unwrap().clone();
        let started = Instant::now();
        cluster.stop_broker(victim).await.unwrap();
        let session = cluster.config().timings.broker_session_timeout;
        assert!(
            started.elapsed() < session,
            "stop took {:?}",
            started.elapsed()
        );
        assert!(
            led_by_others_from_old_isr(&before, cluster.snapshot().topic(&topic).unwrap(), victim),
            "leadership moved before the broker stopped: {}",
            cluster.snapshot()
        );
        // Whichever broker a client asks next already answers with the new leaders.
        let after = cluster.snapshot();
        for b in after.brokers.iter().filter(|b| b.id.0 != victim) {
            assert!(
                b.metadata_offset >= Some(after.metadata_offset),
                "broker {} has not applied the shutdown yet: {after}",
                b.id.0
            );
        }
        acked.extend(produce_through(&cluster, &topic, "after", 30).await);
        assert_nothing_lost(&cluster, &topic, &acked).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_broker_rejoins_every_isr_and_gets_its_preferred_leadership_back() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("restart");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let victim = busiest_leader(&cluster, &topic);
        let preferred: Vec<i32> = cluster
            .snapshot()
            .topic(&topic)
            .unwrap()
            .partitions
            .iter()
            .map(|p| p.replica_ids()[0])
            .collect();
        cluster.kill_broker(victim).await.unwrap();
        let session = cluster.config().timings.broker_session_timeout;
        cluster
            .wait_until(
                "leadership to move off the killed broker",
                session * 3,
                |s| {
                    s.topic(&topic)
                        .unwrap()
                        .partitions
                        .iter()
                        .all(|p| p.leader_id() != victim)
                },
            )
            .await;
        // Data written while it was away must be copied when it returns.
        let acked = produce_through(&cluster, &topic, "while-down", 40).await;
        cluster.start_broker(victim).await.unwrap();
        cluster
            .wait_until(
                "the broker to rejoin every ISR",
                Duration::from_secs(10),
                |s| fully_in_sync(s, &topic),
            )
            .await;
        cluster
            .wait_until(
                "the preferred leaders to be back",
                Duration::from_secs(10),
                |s| {
                    s.topic(&topic)
                        .unwrap()
                        .partitions
                        .iter()
                        .zip(&preferred)
                        .all(|(p, pref)| p.leader_id() == *pref)
                },
            )
            .await;
        let snap = cluster.snapshot();
        for p in &snap.topic(&topic).unwrap().partitions {
            let ends: BTreeSet<i64> = p.offsets.iter().map(|o| o.log_end_offset).collect();
            assert_eq!(ends.len(), 1, "all replicas hold the same log: {p:?}");
        }
        assert_nothing_lost(&cluster, &topic, &acked).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn min_insync_replicas_refuses_acks_all_but_not_acks_1() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("minisr");
        create_topic(&cluster, &topic, 1, 3, &[("min.insync.replicas", "2")]).await;
        let leader = cluster.snapshot().topic(&topic).unwrap().partitions[0].leader_id();
        let others: Vec<i32> = (1..=3).filter(|b| *b != leader).collect();
        send(&producer(&cluster, "all"), &topic, "k", "with three")
            .await
            .expect("three in sync");
        cluster.kill_broker(others[0]).await.unwrap();
        cluster.kill_broker(others[1]).await.unwrap();
        cluster
            .wait_until(
                "the ISR to shrink to the leader alone",
                Duration::from_secs(10),
                |s| s.topic(&topic).unwrap().partitions[0].isr_ids() == vec![leader],
            )
            .await;
        // librdkafka retries NOT_ENOUGH_REPLICAS until the message times out; with retries off
        // the broker's own error code reaches the application.
        let strict: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap())
            .set("acks", "all")
            .set("retries", "0")
            .create()
            .unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            strict.send(
                rdkafka::producer::FutureRecord::to(&topic)
                    .key("k")
                    .payload("refused"),
                Duration::from_secs(0),
            ),
        )
        .await
        .expect("answered")
        .expect_err("acks=all must fail");
        assert_eq!(
            err.0.rdkafka_error_code(),
            Some(rdkafka::types::RDKafkaErrorCode::NotEnoughReplicas),
            "got {}",
            err.0
        );
        send(&producer(&cluster, "1"), &topic, "k", "accepted")
            .await
            .expect("acks=1 succeeds");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pausing_a_broker_shrinks_the_isr_and_resuming_lets_it_back() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("pause");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let victim = 2;
        cluster.pause_broker(victim).unwrap();
        // Keep data flowing so the lag is real.
        let acked = produce_through(&cluster, &topic, "paused", 30).await;
        cluster
            .wait_until(
                "the paused broker to leave every ISR like a crashed one",
                Duration::from_secs(10),
                |s| {
                    s.topic(&topic)
                        .unwrap()
                        .partitions
                        .iter()
                        .all(|p| !p.isr_ids().contains(&victim) && p.leader_id() != victim)
                },
            )
            .await;
        cluster.resume_broker(victim).unwrap();
        rejoins_and_nothing_lost(&cluster, &topic, &acked, "it to rejoin after resuming").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isolated_leader_is_replaced_and_rejoins_after_healing() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("isolate");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let victim = busiest_leader(&cluster, &topic);
        cluster.isolate_broker(victim).unwrap();
        cluster
            .wait_until(
                "the controller to fence the isolated broker and move its leadership",
                Duration::from_secs(10),
                |s| {
                    s.broker(victim).unwrap().fenced
                        && s.topic(&topic)
                            .unwrap()
                            .partitions
                            .iter()
                            .all(|p| p.leader_id() != victim)
                },
            )
            .await;
        // Clients that still reach the isolated broker may be told stale metadata by it, as
        // with a real partitioned broker; this producer asks the healthy side.
        let healthy: Vec<String> = cluster
            .broker_ids()
            .into_iter()
            .filter(|b| *b != victim)
            .map(|b| cluster.broker_addr(b).unwrap().to_string())
            .collect();
        let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", healthy.join(","))
            .set("acks", "all")
            .set("message.timeout.ms", "15000")
            .create()
            .unwrap();
        let mut acked = Vec::new();
        for i in 0..20 {
            let v = format!("split-{i}");
            send(&producer, &topic, &v, &v)
                .await
                .unwrap_or_else(|e| panic!("acks=all send of {v} failed: {e}"));
            acked.push(v);
        }
        cluster.heal_broker(victim).unwrap();
        rejoins_and_nothing_lost(&cluster, &topic, &acked, "the healed broker to rejoin").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unclean_leader_election_really_loses_acknowledged_messages() {
    bounded(async {
        let cluster = TestCluster::start(2).await;
        let topic = unique("unclean");
        create_topic(
            &cluster,
            &topic,
            1,
            2,
            &[("unclean.leader.election.enable", "true")],
        )
        .await;
        let p0 = cluster.snapshot().topic(&topic).unwrap().partitions[0].clone();
        let (leader, follower) = (
            p0.leader_id(),
            *p0.replica_ids()
                .iter()
                .find(|r| **r != p0.leader_id())
                .unwrap(),
        );
        let safe = produce_through(&cluster, &topic, "replicated", 10).await;
        // The follower dies; the leader carries on alone and acknowledges more.
        cluster.kill_broker(follower).await.unwrap();
        cluster
            .wait_until(
                "the ISR to shrink to the leader alone",
                Duration::from_secs(10),
                |s| s.topic(&topic).unwrap().partitions[0].isr_ids() == vec![leader],
            )
            .await;
        let doomed = produce_through(&cluster, &topic, "leader-only", 10).await;
        // Now the leader dies and the stale follower comes back: with unclean election it leads.
        cluster.kill_broker(leader).await.unwrap();
        cluster.start_broker(follower).await.unwrap();
        cluster
            .wait_until(
                "the out-of-sync replica to become leader",
                Duration::from_secs(10),
                |s| s.topic(&topic).unwrap().partitions[0].leader_id() == follower,
            )
            .await;
        let after = produce_through(&cluster, &topic, "new-history", 5).await;
        cluster.start_broker(leader).await.unwrap();
        cluster
            .wait_until(
                "every replica to be back in sync",
                Duration::from_secs(10),
                |s| fully_in_sync(s, &topic),
            )
            .await;
        let got = consume_async(&cluster, &topic, 1, safe.len() + after.len() + doomed.len()).await;
        let values: Vec<&str> = got.iter().map(|c| c.value.as_str()).collect();
        let expected: Vec<&str> = safe.iter().chain(&after).map(String::as_str).collect();
        assert_eq!(
            values, expected,
            "the leader-only writes are gone, on every replica"
        );
        let snap = cluster.snapshot();
        let ends: BTreeSet<i64> = snap.topic(&topic).unwrap().partitions[0]
            .offsets
            .iter()
            .map(|o| o.log_end_offset)
            .collect();
        assert_eq!(
            ends,
            BTreeSet::from([15]),
            "the old leader truncated its extra records"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preferred_leaders_come_back_on_demand_when_automatic_rebalance_is_off() {
    bounded(async {
        let mut config = test_config(3);
        config.topic_defaults.auto_leader_rebalance = false;
        let cluster = TestCluster::start_with(config).await;
        let topic = unique("elect");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let victim = busiest_leader(&cluster, &topic);
        cluster.stop_broker(victim).await.unwrap();
        cluster.start_broker(victim).await.unwrap();
        cluster
            .wait_until(
                "every replica to be back in sync",
                Duration::from_secs(10),
                |s| fully_in_sync(s, &topic),
            )
            .await;
        // (partition, leader, preferred leader) of each partition not led by its preferred one.
        let preferred_elsewhere = |s: &ClusterSnapshot| -> Vec<(i32, i32, i32)> {
            s.topic(&topic)
                .unwrap()
                .partitions
                .iter()
                .filter(|p| p.leader_id() != p.replica_ids()[0])
                .map(|p| (p.partition, p.leader_id(), p.replica_ids()[0]))
                .collect()
        };
        // A window, not a wait: with automatic rebalance on, the controller would move
        // leadership back at its next check (every 1 s in test_config); this spans one and a half.
        let window = cluster.config().timings.leader_imbalance_check_interval * 3 / 2;
        holds_for(
            "leadership to stay moved with automatic rebalance off",
            window,
            || preferred_elsewhere(&cluster.snapshot()),
            |moved| !moved.is_empty(),
        )
        .await;
        let moved = cluster.elect_preferred_leaders();
        assert!(!moved.is_empty());
        cluster
            .wait_until(
                "every partition to be led by its preferred replica",
                Duration::from_secs(5),
                |s| preferred_elsewhere(s).is_empty(),
            )
            .await;
    })
    .await;
}

/// An idempotent producer whose acknowledgement was lost retries its batch, and by then the
/// leader that wrote it has crashed: the new leader recognises the batch from replication and
/// answers success with the original base offset, writing nothing twice. (No broker answer
/// here succeeds without an offset; librdkafka's offset-less delivery reports are its own
/// implicit acknowledgements, see docs/architecture.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retried_idempotent_batch_gets_its_original_offset_from_a_new_leader() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    const CALL: Duration = Duration::from_secs(10);
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("idem-retry");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        // Something before the batch, so its offset is not 0 by accident.
        produce_through(&cluster, &topic, "before", 3).await;
        let leader_of = |cluster: &TestCluster| {
            cluster.snapshot().topic(&topic).unwrap().partitions[0].leader_id()
        };
        let first_leader = leader_of(&cluster);
        let mut conn = broker_connection(&cluster, first_leader, "idem").await;
        let init: InitProducerIdResponse = conn
            .call(
                &InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(-1),
                4,
                CALL,
            )
            .await
            .expect("InitProducerId");
        assert_eq!(init.error_code, 0);
        let records: Vec<Record> = (0..2)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: init.producer_id.0,
                producer_epoch: init.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i as i32,
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(bytes::Bytes::from(format!("idem-{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut batch = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut batch,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.clone())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.freeze()))])]);
        let produce = |response: ProduceResponse| {
            let p = &response.responses[0].partition_responses[0];
            (p.error_code, p.base_offset)
        };
        let first: ProduceResponse = conn.call(&request, 9, CALL).await.expect("Produce");
        assert_eq!(produce(first), (0, 3), "written after the 3 records before");

        cluster.kill_broker(first_leader).await.unwrap();
        let after = cluster
            .wait_until("a new leader", Duration::from_secs(10), |s| {
                let l = s.topic(&topic).unwrap().partitions[0].leader_id();
                l >= 0 && l != first_leader
            })
            .await;
        let new_leader = after.topic(&topic).unwrap().partitions[0].leader_id();
        let mut conn = broker_connection(&cluster, new_leader, "idem").await;
        let retry: ProduceResponse = conn.call(&request, 9, CALL).await.expect("Produce");
        assert_eq!(
            produce(retry),
            (0, 3),
            "the retry is answered with the original offset"
        );
        let now = cluster.snapshot();
        let p = &now.topic(&topic).unwrap().partitions[0];
        let ends: BTreeSet<i64> = p
            .offsets
            .iter()
            .filter(|o| o.broker.0 != first_leader)
            .map(|o| o.log_end_offset)
            .collect();
        assert_eq!(ends, BTreeSet::from([5]), "nothing written twice: {p:?}");
    })
    .await;
}
