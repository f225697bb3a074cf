//! Consumer groups with real clients: load sharing, publish/subscribe, rebalances on clean
//! leave and on crash, coordinator failover with committed offsets intact, kcat -G, and
//! DescribeGroups/ListGroups through kafka-python.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::members::{Member, SESSION_TIMEOUT_MS};
use kafka_sandbox::backend::snapshot::ClusterSnapshot;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::util::*;

/// The group's state as its coordinator reports it (ListGroups + DescribeGroups), e.g.
/// "Stable", or what went wrong asking.
fn group_state(cluster: &TestCluster, group: &str) -> String {
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap())
        .create()
        .expect("client");
    match client.fetch_group_list(Some(group), Duration::from_secs(5)) {
        Ok(list) => list
            .groups()
            .iter()
            .find(|g| g.name() == group)
            .map_or_else(|| "not listed".to_string(), |g| g.state().to_string()),
        Err(e) => format!("DescribeGroups failed: {e}"),
    }
}

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

/// Every value `members` received, sorted, duplicates kept.
fn sorted_values(members: &[&Member]) -> Vec<String> {
    let mut all: Vec<String> = members.iter().flat_map(|m| m.values()).collect();
    all.sort();
    all
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

/// A kcat group member (`kcat -G`) whose output is collected line by line as it prints:
/// messages on stdout, rebalances on stderr.
struct KcatMember {
    child: tokio::process::Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl KcatMember {
    fn start(bootstrap: &str, group: &str, topic: &str) -> Self {
        let mut child = tokio::process::Command::new("kcat")
            .args(["-u", "-b", bootstrap, "-G", group])
            .args(["-X", "heartbeat.interval.ms=300"])
            .args(["-X", "auto.offset.reset=earliest", topic])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kcat is installed");
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let readers = vec![
            collect_lines(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect_lines(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Self {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The messages printed so far.
    fn messages(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The latest rebalance it reported ("... rebalanced ...: assigned: t [0], t [3]" or
    /// "...: revoked: ...").
    fn last_rebalance(&self) -> Option<String> {
        let stderr = self.stderr.lock().unwrap();
        stderr.iter().rfind(|l| l.contains("rebalanced")).cloned()
    }

    /// How many partitions of `topic` its latest rebalance report gave it.
    fn owned(&self, topic: &str) -> usize {
        self.last_rebalance()
            .filter(|l| l.contains("assigned:"))
            .map_or(0, |l| l.matches(&format!("{topic} [")).count())
    }

    /// Kills kcat and returns all it printed: (stdout lines, stderr lines).
    async fn kill(mut self) -> (Vec<String>, Vec<String>) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        for reader in self.readers.drain(..) {
            reader.await.expect("reader");
        }
        let out = std::mem::take(&mut *self.stdout.lock().unwrap());
        let err = std::mem::take(&mut *self.stderr.lock().unwrap());
        (out, err)
    }
}

/// Appends each line read from `pipe` to `lines` until the pipe closes.
fn collect_lines(
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            lines.lock().unwrap().push(line);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kcat_members_share_partitions_and_print_their_rebalances() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("kcatg");
        let group = unique("test-group");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let mut kcats = Vec::new();
        for i in 0..3 {
            let kcat = KcatMember::start(&cluster.bootstrap(), &group, &topic);
            // One at a time: each join is a rebalance of its own, printed by every member.
            wait_for(
                &format!("kcat {i} to join and print its assignment"),
                Duration::from_secs(20),
                || kcat.last_rebalance(),
                |last| last.as_deref().is_some_and(|l| l.contains("assigned:")),
            )
            .await;
            kcats.push(kcat);
        }
        let owned = |kcats: &[KcatMember]| -> Vec<usize> {
            kcats.iter().map(|k| k.owned(&topic)).collect()
        };
        wait_for(
            "the group to settle with the 8 partitions split 3/3/2",
            Duration::from_secs(20),
            || owned(&kcats),
            |n| n.iter().sum::<usize>() == 8 && n.iter().all(|n| *n >= 2),
        )
        .await;
        let values = batch("k", 24);
        produce_keyed(&cluster, &topic, &values).await;
        let mut want = values.clone();
        want.sort();
        let printed = |kcats: &[KcatMember]| -> Vec<String> {
            let mut all: Vec<String> = kcats.iter().flat_map(KcatMember::messages).collect();
            all.sort();
            all
        };
        wait_for(
            "the kcats to print 24 messages",
            Duration::from_secs(20),
            || printed(&kcats),
            |got| got.len() >= 24,
        )
        .await;
        // A window, not a wait: a duplicate print, or a rebalance that could cause one, would
        // show within it (members heartbeat every 300 ms).
        holds_for(
            "each message to be printed once and the assignment to stay put",
            Duration::from_secs(1),
            || (printed(&kcats), owned(&kcats)),
            |(got, n)| *got == want && n.iter().sum::<usize>() == 8,
        )
        .await;
        let mut outputs = Vec::new();
        for kcat in kcats {
            outputs.push(kcat.kill().await);
        }
        let mut final_assignment: BTreeMap<usize, String> = BTreeMap::new();
        for (i, (_, err)) in outputs.iter().enumerate() {
            let err = err.join("\n");
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
        let mut got: Vec<String> = outputs.into_iter().flat_map(|(out, _)| out).collect();
        got.sort();
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
        // Both must own some: the first member alone owns all 8 until the second has joined.
        wait_for(
            "the two members to share every partition",
            Duration::from_secs(20),
            || assignments(&members.iter().collect::<Vec<_>>()),
            |a| all_partitions_owned_once(a, 8) && a.iter().all(|m| !m.is_empty()),
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
        // Stable at the coordinator with both assignments seen: no rebalance is under way, so
        // a's count of rebalances is final.
        let (kept_a, kept_b, _) = wait_for(
            "the partitions to split 2/2 in a stable group",
            Duration::from_secs(20),
            || {
                (
                    a.assignment(),
                    b.assignment(),
                    group_state(&cluster, &group),
                )
            },
            |(a, b, state)| a.len() == 2 && b.len() == 2 && state == "Stable",
        )
        .await;
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
        // A window, not a wait: a rebalance the restart caused late would show here.
        holds_for(
            "the other member to keep its partitions and see no rebalance at all",
            Duration::from_millis(1000),
            || (a.assignment(), a.rebalances()),
            |(assignment, rebalances)| *assignment == kept_a && *rebalances == rebalances_of_a,
        )
        .await;
        drop((a, b));
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

/// A static member that goes away (no LeaveGroup) is removed when its session timeout has
/// passed since its last heartbeat — on time, so that DeleteGroups right after succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_departed_static_member_expires_on_its_session_timeout() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("static-expiry");
        let group = unique("g");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let m = Member::start(
            &cluster.bootstrap(),
            &topic,
            &group,
            &[("group.instance.id", "only")],
            false,
        );
        wait_for(
            "the member to be assigned in a stable group",
            Duration::from_secs(20),
            || (m.assignment(), group_state(&cluster, &group)),
            |(a, state)| a.len() == 2 && state == "Stable",
        )
        .await;
        let gone = Instant::now();
        m.close();
        let session = Duration::from_millis(SESSION_TIMEOUT_MS);
        wait_for(
            "the group to be empty",
            session + Duration::from_secs(3),
            || group_state(&cluster, &group),
            |state| state == "Empty",
        )
        .await;
        let took = gone.elapsed();
        // Its last heartbeat was at most one heartbeat interval (300 ms) before the close; the
        // rest is this test's own polling (a client per look) on a busy machine. A second late,
        // as once reported, would fail.
        assert!(
            took <= session + Duration::from_millis(800),
            "removed {took:?} after it went; session timeout {session:?}"
        );
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

/// What Kafka 4 clients ask of groups and metadata: ListGroups v5 filters by group type (every
/// group here is classic), and authorized operations, when asked for, are all of Kafka's
/// operations on the resource (there is no authorizer: allow-all).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_groups_filters_by_type_and_authorized_operations_are_reported_when_asked() {
    use kafka_protocol::messages::{
        DescribeClusterRequest, DescribeClusterResponse, DescribeGroupsRequest,
        DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse, MetadataRequest,
        MetadataResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("ops");
        let group = unique("g");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        let member = Member::start(&cluster.bootstrap(), &topic, &group, &[], false);
        wait_for(
            "the member to be assigned",
            Duration::from_secs(20),
            || member.assignment(),
            |a| a.len() == 1,
        )
        .await;
        let s = |v: &str| StrBytes::from_string(v.to_string());
        let mut listed = Vec::new();
        let mut described = None;
        for id in cluster.broker_ids() {
            let mut conn = broker_connection(&cluster, id, "ops-test").await;
            for (filter, into) in [(vec![s("Classic")], true), (vec![s("consumer")], false)] {
                let r: ListGroupsResponse = conn
                    .call(
                        &ListGroupsRequest::default().with_types_filter(filter),
                        5,
                        Duration::from_secs(5),
                    )
                    .await
                    .unwrap();
                for g in r.groups.iter().filter(|g| g.group_id.as_str() == group) {
                    listed.push((into, g.group_type.to_string()));
                }
            }
            let d: DescribeGroupsResponse = conn
                .call(
                    &DescribeGroupsRequest::default()
                        .with_groups(vec![GroupId(s(&group))])
                        .with_include_authorized_operations(true),
                    5,
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            if d.groups[0].error_code == 0 && d.groups[0].group_state.as_str() != "Dead" {
                described = Some(d.groups[0].authorized_operations);
            }
        }
        assert_eq!(listed, vec![(true, "classic".to_string())]);
        // READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
        assert_eq!(described, Some(0b1101_0100_1000));
        let mut conn = broker_connection(&cluster, 1, "ops-test").await;
        let m: MetadataResponse = conn
            .call(
                &MetadataRequest::default()
                    .with_topics(None)
                    .with_include_topic_authorized_operations(true),
                12,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        let t = m
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
            .unwrap();
        assert_eq!(t.topic_authorized_operations, 0b1101_1111_1000);
        let not_asked: MetadataResponse = conn
            .call(
                &MetadataRequest::default().with_topics(None),
                12,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert!(not_asked
            .topics
            .iter()
            .all(|t| t.topic_authorized_operations == i32::MIN));
        let c: DescribeClusterResponse = conn
            .call(
                &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
                1,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_ne!(
            c.cluster_authorized_operations & (1 << 9),
            0,
            "CLUSTER_ACTION"
        );
        member.close();
    })
    .await;
}
