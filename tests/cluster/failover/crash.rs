//! A broker crashes, stops cleanly or restarts: leaders move within the ISR and nothing
//! acknowledged is lost.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::*;
use crate::util::*;

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
