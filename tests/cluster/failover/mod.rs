//! Broker failures and what clients see: crash, controlled stop, restart, pause, isolation,
//! min.insync.replicas, and unclean leader election losing data for real. One file per
//! concern; this one holds what they share.

mod crash;
mod elections;
mod isr;

use std::collections::BTreeSet;
use std::time::Duration;

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::backend::snapshot::TopicView;

use crate::util::*;

/// Broker that leads the most partitions of `topic`.
pub(super) fn busiest_leader(cluster: &EmbeddedCluster, topic: &str) -> i32 {
    let t = cluster.snapshot().topic(topic).unwrap().clone();
    (1..=3)
        .max_by_key(|b| t.partitions.iter().filter(|p| p.leader_id() == *b).count())
        .unwrap()
}

pub(super) fn led_by_others_from_old_isr(before: &TopicView, after: &TopicView, dead: i32) -> bool {
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
pub(super) async fn produce_through(
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
pub(super) async fn rejoins_and_nothing_lost(
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

pub(super) async fn assert_nothing_lost(cluster: &EmbeddedCluster, topic: &str, acked: &[String]) {
    let got = consume_async(cluster, topic, 8, acked.len()).await;
    let values: BTreeSet<&str> = got.iter().map(|c| c.value.as_str()).collect();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|v| !values.contains(v.as_str()))
        .collect();
    assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
}
