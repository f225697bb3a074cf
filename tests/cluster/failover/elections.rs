//! Elections that teach: an unclean election losing acknowledged writes, preferred leaders
//! on demand, and an idempotent retry answered by a new leader.

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_sandbox::backend::snapshot::ClusterSnapshot;

use super::*;
use crate::util::*;

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
