//! Committed offsets: they survive the loss of the group's coordinator, a group may start from
//! the end instead, an outsider may not commit for a group with members, and OffsetDelete
//! removes only offsets of topics the group no longer reads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_sandbox::backend::snapshot::ClusterSnapshot;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{batch, produce_keyed, sorted_values};
use crate::members::Member;
use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_group_survives_the_loss_of_its_coordinator_with_committed_offsets_intact() {
    use kafka_sandbox::cluster::group::{partition_for, OFFSETS_TOPIC};
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("coord");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 4, 3, &[]).await;
        let first = batch("first", 40);
        produce_keyed(&cluster, &topic, &first).await;
        let member = Member::start(&cluster.bootstrap(), &topic, &group, &[], true);
        wait_for(
            "the member to read the first 40",
            Duration::from_secs(20),
            || member.received().len(),
            |n| *n >= 40,
        )
        .await;
        let coordinator = |snap: &ClusterSnapshot| {
            let t = snap.topic(OFFSETS_TOPIC).expect("offsets topic exists");
            t.partitions[partition_for(&group, t.partitions.len() as i32) as usize].leader_id()
        };
        let old = coordinator(&cluster.snapshot());
        cluster.kill_broker(old).await.unwrap();
        cluster
            .wait_until(
                "the offsets partition to get a new leader",
                Duration::from_secs(10),
                |s| {
                    let c = coordinator(s);
                    c > 0 && c != old
                },
            )
            .await;
        let second = batch("second", 40);
        produce_keyed(&cluster, &topic, &second).await;
        wait_for(
            "the member to keep consuming through the new coordinator",
            Duration::from_secs(30),
            || {
                let got: BTreeSet<String> = member.values().into_iter().collect();
                second
                    .iter()
                    .filter(|v| !got.contains(*v))
                    .cloned()
                    .collect::<Vec<_>>()
            },
            |missing| missing.is_empty(),
        )
        .await;
        drop(member);
        // A new member of the same group resumes from the committed offsets: nothing re-read, nothing skipped.
        let third = batch("third", 20);
        produce_keyed(&cluster, &topic, &third).await;
        let successor = Member::start(&cluster.bootstrap(), &topic, &group, &[], true);
        wait_for(
            "the successor to read 20 records",
            Duration::from_secs(30),
            || successor.received().len(),
            |n| *n >= 20,
        )
        .await;
        let mut want = third.clone();
        want.sort();
        // A window, not a wait: records re-read from before the committed offsets would arrive
        // on top of the 20.
        holds_for(
            "the successor to start exactly at the committed offsets",
            Duration::from_millis(500),
            || sorted_values(&[&successor]),
            |got| *got == want,
        )
        .await;
        drop(successor);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_started_from_the_end_sees_only_new_messages() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("from-end");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        produce_keyed(&cluster, &topic, &batch("old", 30)).await;
        let member = Member::start(
            &cluster.bootstrap(),
            &topic,
            &unique("g"),
            &[
                ("auto.offset.reset", "latest"),
                ("statistics.interval.ms", "100"),
            ],
            false,
        );
        wait_for(
            "the member to own all 8 partitions",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 8,
        )
        .await;
        // Assignment is not enough: "latest" is resolved per partition afterwards. Wait until
        // the member fetches every partition from its end (the high watermark, after the acks).
        let ends: BTreeMap<i32, i64> = cluster
            .snapshot()
            .topic(&topic)
            .unwrap()
            .partitions
            .iter()
            .map(|p| {
                let leader = p
                    .offsets
                    .iter()
                    .find(|o| o.broker.0 == p.leader_id())
                    .unwrap();
                (p.partition, leader.high_watermark)
            })
            .collect();
        wait_for(
            "the member to fetch every partition from its end",
            Duration::from_secs(20),
            || member.fetch_positions(),
            |positions| *positions == ends,
        )
        .await;
        let new = batch("new", 30);
        produce_keyed(&cluster, &topic, &new).await;
        wait_for(
            "30 records to arrive",
            Duration::from_secs(20),
            || member.received().len(),
            |n| *n >= 30,
        )
        .await;
        let mut want = new.clone();
        want.sort();
        // A window, not a wait: old records delivered late would arrive on top of the 30.
        holds_for(
            "only messages produced after the group started to arrive",
            Duration::from_millis(300),
            || sorted_values(&[&member]),
            |got| *got == want,
        )
        .await;
        drop(member);
    })
    .await;
}

/// A consumer outside group management (assign, then commit) may not commit for a group that
/// has members: Kafka answers UNKNOWN_MEMBER_ID, and so does the sandbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outsider_commit_to_a_group_with_members_is_unknown_member_id() {
    use rdkafka::consumer::CommitMode;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::{Offset, TopicPartitionList};
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("outsider");
        let group = unique("held");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let member = Member::start(&cluster.bootstrap(), &topic, &group, &[], false);
        wait_for(
            "the member owns both partitions",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 2,
        )
        .await;
        let (bootstrap, t, g) = (cluster.bootstrap(), topic.clone(), group.clone());
        let result = tokio::task::spawn_blocking(move || {
            let outsider: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", &g)
                .set("enable.auto.commit", "false")
                .create()
                .expect("consumer");
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&t, 0, Offset::Offset(0)).unwrap();
            outsider.assign(&tpl).expect("assign");
            outsider.commit(&tpl, CommitMode::Sync)
        })
        .await
        .unwrap();
        match result {
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::UnknownMemberId)) => {}
            other => panic!("expected UNKNOWN_MEMBER_ID, got {other:?}"),
        }
        member.close();
    })
    .await;
}

/// OffsetDelete on the wire (no Rust or Python client wraps it; librdkafka's
/// DeleteConsumerGroupOffsets sends this request): offsets of a topic the group no longer
/// reads are removed, those of a topic it subscribes to are refused, an unknown group is
/// reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offset_delete_removes_only_offsets_of_topics_the_group_no_longer_reads() {
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use kafka_protocol::messages::{GroupId, OffsetDeleteRequest, OffsetDeleteResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::ResponseError;
    use rdkafka::consumer::CommitMode;
    use rdkafka::{Offset, TopicPartitionList};
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let (read, old) = (unique("reading"), unique("old"));
        let group = unique("g");
        create_topic(&cluster, &read, 1, 3, &[]).await;
        create_topic(&cluster, &old, 1, 3, &[]).await;
        // While the group is empty, an outsider commits offsets of both topics.
        let (bootstrap, g, r, o) = (
            cluster.bootstrap(),
            group.clone(),
            read.clone(),
            old.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", &g)
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&r, 0, Offset::Offset(0)).unwrap();
            tpl.add_partition_offset(&o, 0, Offset::Offset(0)).unwrap();
            c.commit(&tpl, CommitMode::Sync)
                .expect("commit to an empty group");
        })
        .await
        .unwrap();
        let member = Member::start(&cluster.bootstrap(), &read, &group, &[], false);
        wait_for(
            "the member to own its partition",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 1,
        )
        .await;
        let request = |group: &str| {
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
                .with_topics(
                    [&read, &old]
                        .iter()
                        .map(|t| {
                            OffsetDeleteRequestTopic::default()
                                .with_name(TopicName(StrBytes::from_string(t.to_string())))
                                .with_partitions(vec![
                                    OffsetDeleteRequestPartition::default().with_partition_index(0)
                                ])
                        })
                        .collect(),
                )
        };
        // Ask every broker; the coordinator is the one that does not answer NOT_COORDINATOR.
        let ask = |req: OffsetDeleteRequest| {
            let cluster = &cluster;
            async move {
                for id in cluster.broker_ids() {
                    let mut conn = broker_connection(cluster, id, "offset-delete-test").await;
                    let resp: OffsetDeleteResponse =
                        conn.call(&req, 0, Duration::from_secs(5)).await.unwrap();
                    if resp.error_code != ResponseError::NotCoordinator.code() {
                        return resp;
                    }
                }
                panic!("no broker coordinates the group");
            }
        };
        let resp = ask(request(&group)).await;
        assert_eq!(resp.error_code, 0);
        let errors: Vec<i16> = resp
            .topics
            .iter()
            .map(|t| t.partitions[0].error_code)
            .collect();
        assert_eq!(
            errors,
            vec![ResponseError::GroupSubscribedToTopic.code(), 0],
            "{resp:?}"
        );
        let unknown = ask(request(&unique("nobody"))).await;
        assert_eq!(unknown.error_code, ResponseError::GroupIdNotFound.code());
        // What is committed now, as a client reads it.
        let (bootstrap, g, r, o) = (
            cluster.bootstrap(),
            group.clone(),
            read.clone(),
            old.clone(),
        );
        let committed = tokio::task::spawn_blocking(move || {
            let c: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", &g)
                .create()
                .unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&r, 0);
            tpl.add_partition(&o, 0);
            let got = c.committed_offsets(tpl, Duration::from_secs(5)).unwrap();
            (
                got.find_partition(&r, 0).unwrap().offset(),
                got.find_partition(&o, 0).unwrap().offset(),
            )
        })
        .await
        .unwrap();
        assert_eq!(
            committed.1,
            Offset::Invalid,
            "the old topic's offset is gone"
        );
        assert_ne!(
            committed.0,
            Offset::Invalid,
            "the read topic's offset stays"
        );
        member.close();
    })
    .await;
}
