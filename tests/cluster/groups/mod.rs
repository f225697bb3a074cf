//! Consumer groups with real clients: load sharing, publish/subscribe, rebalances on clean
//! leave and on crash, static membership, committed offsets (through a coordinator failover
//! too), kcat -G, and DescribeGroups/ListGroups through kafka-python. One file per concern;
//! this one holds what they share.

mod describe;
mod kcat;
mod offsets;
mod rebalance;
mod sharing;
mod static_membership;

use std::collections::BTreeSet;

use crate::members::Member;
use crate::util::*;

/// Produces `values` keyed by themselves (so they spread over partitions) and waits for acks.
async fn produce_keyed(
    cluster: &kafka_sandbox::backend::embedded::EmbeddedCluster,
    topic: &str,
    values: &[String],
) {
    let p = producer(cluster, "all");
    for v in values {
        send(&p, topic, v, v).await.expect("acked");
    }
}

fn batch(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

/// The partitions each member owns now.
fn assignments(members: &[&Member]) -> Vec<BTreeSet<i32>> {
    members.iter().map(|m| m.assignment()).collect()
}

/// How many partitions each member owns, ascending.
fn sizes(assignments: &[BTreeSet<i32>]) -> Vec<usize> {
    let mut s: Vec<usize> = assignments.iter().map(BTreeSet::len).collect();
    s.sort();
    s
}

/// True if partitions `0..partitions` are each owned by exactly one member.
fn all_partitions_owned_once(assignments: &[BTreeSet<i32>], partitions: i32) -> bool {
    let mut owned: Vec<i32> = assignments.iter().flatten().copied().collect();
    owned.sort();
    owned == (0..partitions).collect::<Vec<_>>()
}

/// Every value `members` received, sorted, duplicates kept.
fn sorted_values(members: &[&Member]) -> Vec<String> {
    let mut all: Vec<String> = members.iter().flat_map(|m| m.values()).collect();
    all.sort();
    all
}
