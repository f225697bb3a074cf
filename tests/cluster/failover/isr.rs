//! The ISR under pressure: min.insync.replicas refusing acks=all, a paused follower
//! dropped and taken back, a silent follower with the whole log kept until fenced, an isolated
//! leader replaced.

use std::time::Duration;

use super::*;
use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn min_insync_replicas_refuses_acks_all_but_not_acks_1() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("minisr");
        create_topic(&cluster, &topic, 1, 3, &[("min.insync.replicas", "2")]).await;
        let leader = cluster.snapshot().topic(&topic).unwrap().partitions[0].leader_id();
        let others: Vec<i32> = (1..=3).filter(|b| *b != leader).collect();
        send(&producer(&cluster, "all"), &topic, "k", "with three")
            .await
            .expect("three in sync");
        cluster.kill_broker(others[0]).await.unwrap();
        cluster.kill_broker(others[1]).await.unwrap();
        cluster
            .wait_until(
                "the ISR to shrink to the leader alone",
                Duration::from_secs(10),
                |s| s.topic(&topic).unwrap().partitions[0].isr_ids() == vec![leader],
            )
            .await;
        // librdkafka retries NOT_ENOUGH_REPLICAS until the message times out; with retries off
        // the broker's own error code reaches the application.
        let strict: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap())
            .set("acks", "all")
            .set("retries", "0")
            .create()
            .unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            strict.send(
                rdkafka::producer::FutureRecord::to(&topic)
                    .key("k")
                    .payload("refused"),
                Duration::from_secs(0),
            ),
        )
        .await
        .expect("answered")
        .expect_err("acks=all must fail");
        assert_eq!(
            err.0.rdkafka_error_code(),
            Some(rdkafka::types::RDKafkaErrorCode::NotEnoughReplicas),
            "got {}",
            err.0
        );
        send(&producer(&cluster, "1"), &topic, "k", "accepted")
            .await
            .expect("acks=1 succeeds");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pausing_a_broker_shrinks_the_isr_and_resuming_lets_it_back() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("pause");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let victim = 2;
        cluster.pause_broker(victim).unwrap();
        // Keep data flowing so the lag is real.
        let acked = produce_through(&cluster, &topic, "paused", 30).await;
        cluster
            .wait_until(
                "the paused broker to leave every ISR like a crashed one",
                Duration::from_secs(10),
                |s| {
                    s.topic(&topic)
                        .unwrap()
                        .partitions
                        .iter()
                        .all(|p| !p.isr_ids().contains(&victim) && p.leader_id() != victim)
                },
            )
            .await;
        cluster.resume_broker(victim).unwrap();
        rejoins_and_nothing_lost(&cluster, &topic, &acked, "it to rejoin after resuming").await;
    })
    .await;
}

/// Kafka's caught-up rule: a follower whose log ends where the leader's does is in sync however
/// long it has been silent, so on a partition taking no writes a paused follower outlives the
/// replica lag time in the ISR and leaves it when the controller fences its broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_follower_with_the_whole_log_stays_in_the_isr_until_fenced() {
    bounded(async {
        let mut config = test_config(3);
        config.timings.replica_lag_time_max = Duration::from_millis(500);
        config.timings.broker_session_timeout = Duration::from_secs(4);
        let cluster = TestCluster::start_with(config).await;
        let topic = unique("idle");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        send(&producer(&cluster, "all"), &topic, "k", "the only record")
            .await
            .expect("acknowledged by all three");
        let leader = cluster.snapshot().topic(&topic).unwrap().partitions[0].leader_id();
        let follower = (1..=3).find(|b| *b != leader).unwrap();
        cluster
            .wait_until(
                "every replica to hold the record",
                Duration::from_secs(10),
                |s| fully_in_sync(s, &topic),
            )
            .await;
        cluster.pause_broker(follower).unwrap();
        holds_for(
            "the paused follower to stay in the ISR past the 500 ms lag time",
            Duration::from_millis(2500),
            || cluster.snapshot().topic(&topic).unwrap().partitions[0].isr_ids(),
            |isr| isr.contains(&follower),
        )
        .await;
        cluster
            .wait_until(
                "the controller to fence the silent broker and take it out of the ISR",
                Duration::from_secs(10),
                |s| {
                    !s.topic(&topic).unwrap().partitions[0]
                        .isr_ids()
                        .contains(&follower)
                },
            )
            .await;
        cluster.resume_broker(follower).unwrap();
        cluster
            .wait_until("the follower to rejoin", Duration::from_secs(15), |s| {
                fully_in_sync(s, &topic)
            })
            .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_isolated_leader_is_replaced_and_rejoins_after_healing() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("isolate");
        create_topic(&cluster, &topic, 8, 3, &[]).await;
        let victim = busiest_leader(&cluster, &topic);
        cluster.isolate_broker(victim).unwrap();
        cluster
            .wait_until(
                "the controller to fence the isolated broker and move its leadership",
                Duration::from_secs(10),
                |s| {
                    s.broker(victim).unwrap().fenced
                        && s.topic(&topic)
                            .unwrap()
                            .partitions
                            .iter()
                            .all(|p| p.leader_id() != victim)
                },
            )
            .await;
        // Clients that still reach the isolated broker may be told stale metadata by it, as
        // with a real partitioned broker; this producer asks the healthy side.
        let healthy: Vec<String> = cluster
            .broker_ids()
            .into_iter()
            .filter(|b| *b != victim)
            .map(|b| cluster.broker_addr(b).unwrap().to_string())
            .collect();
        let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", healthy.join(","))
            .set("acks", "all")
            .set("message.timeout.ms", "15000")
            .create()
            .unwrap();
        let mut acked = Vec::new();
        for i in 0..20 {
            let v = format!("split-{i}");
            send(&producer, &topic, &v, &v)
                .await
                .unwrap_or_else(|e| panic!("acks=all send of {v} failed: {e}"));
            acked.push(v);
        }
        cluster.heal_broker(victim).unwrap();
        rejoins_and_nothing_lost(&cluster, &topic, &acked, "the healed broker to rejoin").await;
    })
    .await;
}
