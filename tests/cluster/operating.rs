//! What an operator sets up or loses: brokers in racks (seen by an outside client, replicas
//! spread over them) and a controller that stops answering for a while.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::util::*;

/// Racks from `--racks`-style settings reach clients in Metadata (kafka-python reads them),
/// and a topic that client creates has each partition's replicas in three different racks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racks_reach_clients_and_spread_every_partitions_replicas() {
    bounded(async {
        let mut config = test_config(6);
        config.racks = vec!["a".into(), "b".into(), "c".into()];
        let cluster = TestCluster::start_with(config).await;
        let topic = unique("racked");
        let script = r#"
import sys
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
bootstrap, topic = sys.argv[1], sys.argv[2]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(topic, num_partitions=12, replication_factor=3)])
consumer = KafkaConsumer(bootstrap_servers=bootstrap)
consumer.topics()
for b in sorted(consumer._client.cluster.brokers(), key=lambda b: b.nodeId):
    print(b.nodeId, b.rack)
"#;
        let stdout = kafka_python(script, vec![cluster.bootstrap(), topic.clone()]).await;
        assert_eq!(stdout.trim(), "1 a\n2 b\n3 c\n4 a\n5 b\n6 c");
        let snapshot = cluster
            .wait_until("the topic exists", Duration::from_secs(10), |s| {
                s.topic(&topic).is_some_and(|t| t.partitions.len() == 12)
            })
            .await;
        let rack = |id: i32| ["a", "b", "c"][((id - 1) % 3) as usize];
        let view = snapshot.topic(&topic).unwrap();
        for p in &view.partitions {
            let racks: BTreeSet<&str> = p.replicas.iter().map(|b| rack(b.0)).collect();
            assert_eq!(
                racks.len(),
                3,
                "partition {}: {:?}",
                p.partition,
                p.replicas
            );
        }
        let leaders: BTreeSet<i32> = view
            .partitions
            .iter()
            .filter_map(|p| p.leader.map(|l| l.0))
            .collect();
        assert_eq!(leaders.len(), 6, "every broker leads some partitions");
    })
    .await;
}

/// While the controller is paused, a dead broker keeps its leaderships (nobody fences it) but
/// the live leaders keep taking writes; once it resumes it fences only the dead broker, not
/// the live ones whose heartbeats it could not hear meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_controller_elects_nobody_and_fences_only_the_dead_once_back() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let control = cluster.control();
        let topic = unique("headless");
        create_topic(&cluster, &topic, 6, 3, &[]).await;
        let p = producer(&cluster, "1");
        let before = cluster.snapshot();
        let led_by_2: Vec<i32> = before
            .topic(&topic)
            .unwrap()
            .partitions
            .iter()
            .filter(|p| p.leader.map(|l| l.0) == Some(2))
            .map(|p| p.partition)
            .collect();
        assert!(!led_by_2.is_empty());

        control.set_controller_paused(true).await.unwrap();
        control.kill(2).await.unwrap();
        holds_for(
            "broker 2 to keep its leaderships while the controller is paused",
            Duration::from_secs(3),
            || cluster.snapshot(),
            |s| {
                s.topic(&topic)
                    .unwrap()
                    .partitions
                    .iter()
                    .all(|p| !led_by_2.contains(&p.partition) || p.leader.map(|l| l.0) == Some(2))
            },
        )
        .await;
        // A partition led by a live broker still takes writes.
        let live = before
            .topic(&topic)
            .unwrap()
            .partitions
            .iter()
            .find(|p| p.leader.map(|l| l.0) != Some(2))
            .unwrap()
            .partition;
        let record = rdkafka::producer::FutureRecord::to(&topic)
            .partition(live)
            .key("k")
            .payload("while the controller is paused");
        p.send(record, Duration::from_secs(5))
            .await
            .expect("a live leader takes writes without the controller");

        control.set_controller_paused(false).await.unwrap();
        cluster
            .wait_until(
                "new leaders for broker 2's partitions",
                Duration::from_secs(10),
                |s| {
                    s.topic(&topic)
                        .unwrap()
                        .partitions
                        .iter()
                        .all(|p| p.leader.is_some_and(|l| l.0 != 2))
                },
            )
            .await;
        holds_for(
            "brokers 1 and 3 to stay in the cluster",
            Duration::from_secs(2),
            || cluster.snapshot(),
            |s| s.brokers.iter().filter(|b| b.id.0 != 2).all(|b| !b.fenced),
        )
        .await;
    })
    .await;
}

/// A lesson that declares the cluster it needs is refused, with the command that works, on a
/// cluster that does not fit, and `kafka-sandbox lesson` starts the one it needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_runs_on_the_cluster_it_declares_and_is_refused_elsewhere() {
    bounded(async {
        let out = run(
            "needs-racks",
            "lesson(\"racks\", #{auto: true});\n",
        )
        .await;
        let (_, stderr) = text(&out);
        assert!(!out.status.success());
        assert!(
            stderr.contains("lesson racks needs a cluster with 6 brokers (this cluster has 3), brokers in racks a, b, c; run `kafka-sandbox lesson racks`"),
            "{stderr}"
        );
        let out = sandbox(&["lesson", "racks", "--auto", "--no-web"]).await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}\n{stdout}");
        assert!(stdout.contains("6 brokers ready"), "{stdout}");
        assert!(stdout.contains("rack a: brokers 1 and 4"), "{stdout}");
    })
    .await;
}
