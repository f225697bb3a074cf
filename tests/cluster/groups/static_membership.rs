//! Static membership (`group.instance.id`): a quick restart gets its partitions back without a
//! rebalance, and a member that went away expires on its session timeout.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::members::{Member, SESSION_TIMEOUT_MS};
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
