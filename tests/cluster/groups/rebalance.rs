//! Rebalances: a clean leave hands partitions over at once, a crash after the session timeout,
//! a member that stops polling after `max.poll.interval.ms`; cooperative-sticky survivors keep
//! what they had; a topic that grows is taken up by its group.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{all_partitions_owned_once, assignments, batch, produce_keyed, sizes};
use crate::members::{Member, SESSION_TIMEOUT_MS};
use crate::util::*;

/// Waits until `members` together have received every one of `values`; a timeout lists the
/// ones still missing.
async fn assert_all_arrive(members: &[&Member], values: &[String], what: &str) {
    wait_for(
        what,
        Duration::from_secs(20),
        || {
            let got: BTreeSet<String> = members.iter().flat_map(|m| m.values()).collect();
            values
                .iter()
                .filter(|v| !got.contains(*v))
                .cloned()
                .collect::<Vec<_>>()
        },
        |missing| missing.is_empty(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_close_hands_its_partitions_over_within_a_second() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("leave");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let mut members: Vec<Member> = (0..3)
            .map(|_| Member::start(&cluster.bootstrap(), &topic, &group, &[], false))
            .collect();
        wait_for(
            "the partitions to split 3/3/2",
            Duration::from_secs(20),
            || assignments(&members.iter().collect::<Vec<_>>()),
            |a| sizes(a) == vec![2, 3, 3],
        )
        .await;
        let leaving = members.pop().unwrap();
        let closed_at = Instant::now();
        leaving.close();
        let survivors: Vec<&Member> = members.iter().collect();
        wait_for(
            "the survivors to own every partition",
            Duration::from_secs(5),
            || assignments(&survivors),
            |a| all_partitions_owned_once(a, 8),
        )
        .await;
        let took = closed_at.elapsed();
        assert!(
            took < Duration::from_millis(1500),
            "took {took:?} after a clean leave"
        );
        let values = batch("after-leave", 40);
        produce_keyed(&cluster, &topic, &values).await;
        assert_all_arrive(
            &survivors,
            &values,
            "every message produced after the leave arrives",
        )
        .await;
        drop(members);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_member_is_replaced_after_its_session_timeout_and_nothing_committed_is_lost() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("crash");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let members: Vec<Member> = (0..2)
            .map(|_| Member::start(&cluster.bootstrap(), &topic, &group, &[], true))
            .collect();
        // The third member is a kcat process, so it can really crash (SIGKILL: no LeaveGroup).
        let mut crasher = tokio::process::Command::new("kcat")
            .args([
                "-b",
                &cluster.bootstrap(),
                "-G",
                &group,
                "-X",
                &format!("session.timeout.ms={SESSION_TIMEOUT_MS}"),
            ])
            .args(["-X", "heartbeat.interval.ms=300", "-q", &topic])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("kcat is installed");
        let refs: Vec<&Member> = members.iter().collect();
        wait_for(
            "kcat to join and take its share (the other two own 5 or 6 of 8)",
            Duration::from_secs(20),
            || assignments(&refs),
            |a| matches!(a.iter().map(BTreeSet::len).sum::<usize>(), 5 | 6),
        )
        .await;
        let before = batch("before-crash", 40);
        produce_keyed(&cluster, &topic, &before).await;
        crasher.kill().await.unwrap();
        let crashed_at = Instant::now();
        wait_for(
            "the survivors to own every partition",
            Duration::from_secs(15),
            || assignments(&refs),
            |a| all_partitions_owned_once(a, 8),
        )
        .await;
        let took = crashed_at.elapsed();
        assert!(
            took >= Duration::from_millis(SESSION_TIMEOUT_MS / 2),
            "a crash is noticed by the session timeout, took {took:?}"
        );
        assert!(
            took < Duration::from_millis(SESSION_TIMEOUT_MS + 3000),
            "took {took:?}"
        );
        let after = batch("after-crash", 40);
        produce_keyed(&cluster, &topic, &after).await;
        assert_all_arrive(&refs, &after, "messages after the crash arrive").await;
        drop(members);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cooperative_sticky_survivors_keep_their_partitions() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("sticky");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let opts = [("partition.assignment.strategy", "cooperative-sticky")];
        let mut members: Vec<Member> = (0..3)
            .map(|_| Member::start(&cluster.bootstrap(), &topic, &group, &opts, false))
            .collect();
        wait_for(
            "the partitions to split 3/3/2",
            Duration::from_secs(20),
            || assignments(&members.iter().collect::<Vec<_>>()),
            |a| sizes(a) == vec![2, 3, 3] && all_partitions_owned_once(a, 8),
        )
        .await;
        let leaving = members.pop().unwrap();
        let departed = leaving.assignment();
        let kept: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        leaving.close();
        let refs: Vec<&Member> = members.iter().collect();
        wait_for(
            "the survivors to own every partition",
            Duration::from_secs(10),
            || assignments(&refs),
            |a| all_partitions_owned_once(a, 8),
        )
        .await;
        for (m, before) in refs.iter().zip(&kept) {
            assert!(
                m.assignment().is_superset(before),
                "a survivor lost a partition: {before:?} -> {:?}",
                m.assignment()
            );
        }
        let moved: BTreeSet<i32> = refs
            .iter()
            .zip(&kept)
            .flat_map(|(m, b)| m.assignment().difference(b).copied().collect::<Vec<_>>())
            .collect();
        assert_eq!(
            moved, departed,
            "only the departed member's partitions moved"
        );
        drop(members);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_that_stops_polling_is_removed_after_max_poll_interval() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("stuck");
        let group = unique("g");
        create_topic(&cluster, &topic, 4, 3, &[]).await;
        let opts = [("max.poll.interval.ms", "4000")];
        let members: Vec<Member> = (0..2)
            .map(|_| Member::start(&cluster.bootstrap(), &topic, &group, &opts, false))
            .collect();
        wait_for(
            "the partitions to split 2/2",
            Duration::from_secs(20),
            || assignments(&members.iter().collect::<Vec<_>>()),
            |a| sizes(a) == vec![2, 2],
        )
        .await;
        members[1].stall();
        let stalled_at = Instant::now();
        wait_for(
            "the polling member to take over every partition",
            Duration::from_secs(15),
            || members[0].assignment(),
            |a| a.len() == 4,
        )
        .await;
        assert!(
            stalled_at.elapsed() >= Duration::from_millis(3000),
            "not before max.poll.interval.ms"
        );
        drop(members);
    })
    .await;
}

/// CreatePartitions through rdkafka's admin API: the topic grows with its replication factor,
/// a shrink is refused with INVALID_PARTITIONS, and a subscribed group rebalances onto the new
/// partitions once its members refresh their metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_partitions_grows_a_topic_and_its_group_takes_the_new_ones() {
    use rdkafka::admin::{AdminOptions, NewPartitions};
    use rdkafka::types::RDKafkaErrorCode;
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("grow");
        let group = unique("g");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let member = Member::start(
            &cluster.bootstrap(),
            &topic,
            &group,
            &[("topic.metadata.refresh.interval.ms", "300")],
            false,
        );
        wait_for(
            "the member to own both partitions",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 2,
        )
        .await;
        let admin = admin(&cluster);
        let grown = admin
            .create_partitions(&[NewPartitions::new(&topic, 5)], &AdminOptions::new())
            .await
            .expect("CreatePartitions answered");
        assert_eq!(grown, vec![Ok(topic.clone())]);
        let shrink = admin
            .create_partitions(&[NewPartitions::new(&topic, 3)], &AdminOptions::new())
            .await
            .expect("CreatePartitions answered");
        assert_eq!(
            shrink,
            vec![Err((topic.clone(), RDKafkaErrorCode::InvalidPartitions))]
        );
        let layout = client_metadata(&cluster, &topic);
        assert_eq!(layout.len(), 5, "{layout:?}");
        for (p, (leader, replicas, isr)) in &layout {
            assert_eq!(replicas.len(), 3, "partition {p}: {replicas:?}");
            assert!(replicas.contains(leader) && isr.len() == 3, "partition {p}");
        }
        wait_for(
            "the member to take the new partitions too",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 5,
        )
        .await;
        produce_keyed(&cluster, &topic, &["k".to_string()]).await;
        member.close();
    })
    .await;
}
