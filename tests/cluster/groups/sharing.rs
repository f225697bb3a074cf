//! How a group shares a topic: one group's members split the partitions between them (range
//! and roundrobin), while separate groups each receive every message.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{all_partitions_owned_once, assignments, batch, produce_keyed, sizes, sorted_values};
use crate::members::Member;
use crate::util::*;

/// How many records `members` received in all.
fn received_count(members: &[&Member]) -> usize {
    members.iter().map(|m| m.received().len()).sum()
}

async fn load_sharing_with(strategy: &str) {
    let cluster = TestCluster::start(3).await;
    let topic = unique("share");
    let group = unique("test-group");
    create_topic(&cluster, &topic, 8, 3, &[]).await;
    let opts = [("partition.assignment.strategy", strategy)];
    let members: Vec<Member> = (0..3)
        .map(|_| Member::start(&cluster.bootstrap(), &topic, &group, &opts, false))
        .collect();
    let refs: Vec<&Member> = members.iter().collect();
    wait_for(
        &format!("{strategy}: the partitions to split 3/3/2"),
        Duration::from_secs(20),
        || assignments(&refs),
        |a| sizes(a) == vec![2, 3, 3] && all_partitions_owned_once(a, 8),
    )
    .await;
    let values = batch("msg", 120);
    produce_keyed(&cluster, &topic, &values).await;
    wait_for(
        &format!("{strategy}: 120 records to arrive"),
        Duration::from_secs(20),
        || received_count(&refs),
        |n| *n >= 120,
    )
    .await;
    let mut want = values.clone();
    want.sort();
    // A window, not a wait: a duplicate delivery would show up after the count was reached.
    holds_for(
        &format!("{strategy}: every message to be delivered to exactly one member"),
        Duration::from_millis(300),
        || sorted_values(&refs),
        |all| *all == want,
    )
    .await;
    assert!(
        refs.iter().all(|m| !m.received().is_empty()),
        "{strategy}: every member got a share"
    );
    drop(members);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_group_shares_the_partitions_with_range_and_roundrobin() {
    bounded(async {
        load_sharing_with("range").await;
        load_sharing_with("roundrobin").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_groups_each_receive_every_message() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("pubsub");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let members: Vec<Member> = (0..3)
            .map(|i| {
                Member::start(
                    &cluster.bootstrap(),
                    &topic,
                    &unique(&format!("group{i}")),
                    &[],
                    false,
                )
            })
            .collect();
        let refs: Vec<&Member> = members.iter().collect();
        wait_for(
            "each group's only member to own all 8 partitions",
            Duration::from_secs(20),
            || sizes(&assignments(&refs)),
            |s| *s == vec![8, 8, 8],
        )
        .await;
        let values = batch("hello", 30);
        produce_keyed(&cluster, &topic, &values).await;
        let want: BTreeSet<String> = values.into_iter().collect();
        wait_for(
            "each group to get every message",
            Duration::from_secs(20),
            || {
                refs.iter()
                    .map(|m| m.values().into_iter().collect::<BTreeSet<_>>())
                    .collect::<Vec<_>>()
            },
            |got| got.iter().all(|g| *g == want),
        )
        .await;
        drop(members);
    })
    .await;
}
