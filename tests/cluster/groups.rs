//! Consumer groups with real clients: load sharing, publish/subscribe, rebalances on clean
//! leave and on crash, coordinator failover with committed offsets intact, kcat -G, and
//! DescribeGroups/ListGroups through kafka-python.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::members::{Member, SESSION_TIMEOUT_MS};
use kafka_sandbox::backend::snapshot::ClusterSnapshot;

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
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut all: Vec<String> = refs.iter().flat_map(|m| m.values()).collect();
    all.sort();
    let mut want = values.clone();
    want.sort();
    assert_eq!(
        all, want,
        "{strategy}: every message delivered to exactly one member"
    );
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
            t.partitions[partition_for(&group, t.partitions.len() as i32) as usize].leader
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
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut got = successor.values();
        got.sort();
        let mut want = third.clone();
        want.sort();
        assert_eq!(
            got, want,
            "the successor starts exactly at the committed offsets"
        );
        drop(successor);
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
async fn kcat_members_share_partitions_and_print_their_rebalances() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("kcatg");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let mut children = Vec::new();
        for _ in 0..3 {
            children.push(
                tokio::process::Command::new("kcat")
                    .args([
                        "-u",
                        "-b",
                        &cluster.bootstrap(),
                        "-G",
                        &group,
                        "-X",
                        "heartbeat.interval.ms=300",
                    ])
                    .args(["-X", "auto.offset.reset=earliest", &topic])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("kcat is installed"),
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let values = batch("k", 24);
        produce_keyed(&cluster, &topic, &values).await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let mut outputs = Vec::new();
        for mut child in children {
            let _ = child.start_kill();
            let out = child.wait_with_output().await.unwrap();
            outputs.push((
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        let mut final_assignment: BTreeMap<usize, String> = BTreeMap::new();
        for (i, (_, err)) in outputs.iter().enumerate() {
            assert!(
                err.contains("rebalanced") && err.contains("assigned:"),
                "member {i} printed no rebalance: {err}"
            );
            if let Some(line) = err.lines().rfind(|l| l.contains("assigned:")) {
                final_assignment.insert(i, line.to_string());
            }
        }
        let owned: usize = final_assignment
            .values()
            .map(|l| l.matches(&format!("{topic} [")).count())
            .sum();
        assert_eq!(
            owned, 8,
            "the last assignments cover all 8 partitions: {final_assignment:?}"
        );
        let mut got: Vec<String> = outputs
            .iter()
            .flat_map(|(out, _)| out.lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        got.sort();
        let mut want = values.clone();
        want.sort();
        assert_eq!(got, want, "each message printed by exactly one kcat");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn describe_and_list_groups_through_kafka_python() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("described");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let members: Vec<Member> = (0..2)
            .map(|i| Member::start(&cluster.bootstrap(), &topic, &group, &[("client.id", if i == 0 { "alpha" } else { "beta" })], false))
            .collect();
        wait_for(
            "the two members to own every partition",
            Duration::from_secs(20),
            || assignments(&members.iter().collect::<Vec<_>>()),
            |a| all_partitions_owned_once(a, 8),
        )
        .await;
        let script = r#"
import sys
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
g = a.describe_consumer_groups([sys.argv[2]])[0]
listed = [x[0] for x in a.list_consumer_groups()]
parts = sorted(p for m in g.members for t in m.member_assignment.assignment for p in t[1])
print(g.state, sorted(m.client_id for m in g.members), sorted(set(m.client_host for m in g.members)), parts, sys.argv[2] in listed)
"#;
        let (b, g) = (cluster.bootstrap(), group.clone());
        let out = tokio::task::spawn_blocking(move || std::process::Command::new("/usr/bin/python3").args(["-c", script, &b, &g]).output())
            .await
            .unwrap()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.trim(), "Stable ['alpha', 'beta'] ['/127.0.0.1'] [0, 1, 2, 3, 4, 5, 6, 7] True");
        drop(members);
        // Once empty, the group can be deleted and disappears from ListGroups.
        let delete = r#"
import sys
from kafka.admin import KafkaAdminClient
a = KafkaAdminClient(bootstrap_servers=sys.argv[1])
print(a.describe_consumer_groups([sys.argv[2]])[0].state, [str(e[1].__name__) for e in a.delete_consumer_groups([sys.argv[2]])], sys.argv[2] in [x[0] for x in a.list_consumer_groups()])
"#;
        let (b, g) = (cluster.bootstrap(), group.clone());
        let out = tokio::task::spawn_blocking(move || std::process::Command::new("/usr/bin/python3").args(["-c", delete, &b, &g]).output())
            .await
            .unwrap()
            .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(stdout.trim(), "Empty ['NoError'] False");
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
            &[("auto.offset.reset", "latest")],
            false,
        );
        wait_for(
            "the member to own all 8 partitions",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 8,
        )
        .await;
        // Assignment is not enough: wait until every partition's position is resolved to the end.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let new = batch("new", 30);
        produce_keyed(&cluster, &topic, &new).await;
        wait_for(
            "30 records to arrive",
            Duration::from_secs(20),
            || member.received().len(),
            |n| *n >= 30,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut got = member.values();
        got.sort();
        let mut want = new.clone();
        want.sort();
        assert_eq!(got, want, "only messages produced after the group started");
        drop(member);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_static_member_that_restarts_quickly_gets_its_partitions_back_without_a_rebalance() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("static");
        let group = unique("g");
        create_topic(&cluster, &topic, 4, 3, &[]).await;
        let a = Member::start(
            &cluster.bootstrap(),
            &topic,
            &group,
            &[("group.instance.id", "a")],
            false,
        );
        let b = Member::start(
            &cluster.bootstrap(),
            &topic,
            &group,
            &[("group.instance.id", "b")],
            false,
        );
        wait_for(
            "the partitions to split 2/2",
            Duration::from_secs(20),
            || (a.assignment(), b.assignment()),
            |(a, b)| a.len() == 2 && b.len() == 2,
        )
        .await;
        let (kept_a, kept_b) = (a.assignment(), b.assignment());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rebalances_of_a = a.rebalances();
        b.close(); // a static member does not send LeaveGroup on close
        let b = Member::start(
            &cluster.bootstrap(),
            &topic,
            &group,
            &[("group.instance.id", "b")],
            false,
        );
        wait_for(
            "the restarted member to get the same partitions back",
            Duration::from_secs(10),
            || b.assignment(),
            |got| *got == kept_b,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            a.assignment(),
            kept_a,
            "the other member kept its partitions"
        );
        assert_eq!(
            a.rebalances(),
            rebalances_of_a,
            "and saw no rebalance at all"
        );
        drop((a, b));
    })
    .await;
}
