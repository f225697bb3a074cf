//! Topic configs changed on a running cluster (AlterConfigs, IncrementalAlterConfigs) take
//! effect at once and are reported by DescribeConfigs with their source.

use std::time::Duration;

use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::protocol::StrBytes;
use rdkafka::admin::{AdminOptions, AlterConfig, ConfigSource, ResourceSpecifier};

use crate::util::*;

async fn topic_configs(
    cluster: &TestCluster,
    topic: &str,
) -> Vec<(String, Option<String>, ConfigSource)> {
    let described = admin(cluster)
        .describe_configs(&[ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .expect("DescribeConfigs answered");
    let resource = described
        .into_iter()
        .next()
        .unwrap()
        .expect("topic described");
    resource
        .entries
        .into_iter()
        .map(|e| (e.name, e.value, e.source))
        .collect()
}

fn config<'a>(
    configs: &'a [(String, Option<String>, ConfigSource)],
    name: &str,
) -> (&'a str, &'a ConfigSource) {
    let (_, value, source) = configs
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("{name} missing from {configs:?}"));
    (value.as_deref().unwrap_or_default(), source)
}

/// rdkafka's AlterConfigs raises min.insync.replicas above the ISR: the next acks=all write is
/// refused with NOT_ENOUGH_REPLICAS. A later AlterConfigs that leaves it out sets it back to
/// the default, as Kafka's whole-resource AlterConfigs does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn altering_min_insync_replicas_governs_the_next_write() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("alter-min-isr");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        let leader = cluster.snapshot().topic(&topic).unwrap().partitions[0]
            .leader
            .unwrap()
            .0;
        let follower = (1..=3).find(|b| *b != leader).unwrap();
        cluster.control().kill(follower).await.unwrap();
        cluster
            .wait_until(
                "the ISR to lose the killed follower",
                Duration::from_secs(10),
                |s| s.topic(&topic).unwrap().partitions[0].isr.len() == 2,
            )
            .await;
        let p = producer(&cluster, "all");
        send(&p, &topic, "k", "with two in sync")
            .await
            .expect("acks=all with min ISR 1");

        let admin = admin(&cluster);
        let change =
            AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("min.insync.replicas", "3");
        let results = admin
            .alter_configs(&[change], &AdminOptions::new())
            .await
            .expect("AlterConfigs answered");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let configs = topic_configs(&cluster, &topic).await;
        let (value, source) = config(&configs, "min.insync.replicas");
        assert_eq!(value, "3");
        assert!(matches!(source, ConfigSource::DynamicTopic), "{source:?}");
        // NOT_ENOUGH_REPLICAS is retriable: without retries the refusal itself comes back.
        let once: rdkafka::producer::FutureProducer = client_config(&cluster)
            .set("acks", "all")
            .set("retries", "0")
            .set("message.timeout.ms", "5000")
            .create()
            .expect("producer");
        let refused = send(&once, &topic, "k", "with two in sync, three required").await;
        let refused = refused.expect_err("three in sync required, two there");
        assert!(refused.contains("NotEnoughReplicas"), "{refused}");

        let change =
            AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("retention.ms", "60000");
        let results = admin
            .alter_configs(&[change], &AdminOptions::new())
            .await
            .expect("AlterConfigs answered");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let configs = topic_configs(&cluster, &topic).await;
        let (value, source) = config(&configs, "min.insync.replicas");
        assert_eq!(value, "1");
        assert!(matches!(source, ConfigSource::Default), "{source:?}");
        assert_eq!(config(&configs, "retention.ms").0, "60000");
        send(&p, &topic, "k", "min ISR back to 1")
            .await
            .expect("accepted again");
    })
    .await;
}

fn incremental(topic: &str, ops: &[(&str, i8, Option<&str>)]) -> IncrementalAlterConfigsRequest {
    let configs = ops
        .iter()
        .map(|(name, op, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(name.to_string()))
                .with_config_operation(*op)
                .with_value(value.map(|v| StrBytes::from_string(v.to_string())))
        })
        .collect();
    IncrementalAlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_string(topic.to_string()))
        .with_configs(configs)])
}

/// IncrementalAlterConfigs turns unclean leader election on for a partition left with only
/// an out-of-sync replica: it gets that replica as leader at once. APPEND adds to a list
/// config and is refused for a config that is not a list.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn turning_on_unclean_election_live_elects_the_stale_replica() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("alter-unclean");
        create_topic(&cluster, &topic, 1, 2, &[]).await;
        let first = cluster.snapshot().topic(&topic).unwrap().partitions[0].clone();
        let leader = first.leader.unwrap().0;
        let stale = first
            .replicas
            .iter()
            .map(|b| b.0)
            .find(|b| *b != leader)
            .unwrap();
        let control = cluster.control();
        control.kill(stale).await.unwrap();
        cluster
            .wait_until(
                "the ISR to be the leader alone",
                Duration::from_secs(10),
                |s| s.topic(&topic).unwrap().partitions[0].isr.len() == 1,
            )
            .await;
        control.kill(leader).await.unwrap();
        control.start(stale).await.unwrap();
        cluster
            .wait_until(
                "the partition to be offline",
                Duration::from_secs(10),
                |s| s.topic(&topic).unwrap().partitions[0].leader.is_none(),
            )
            .await;

        let mut conn = broker_connection(&cluster, stale, "incremental-alter").await;
        let response = conn
            .call(
                &incremental(
                    &topic,
                    &[
                        ("unclean.leader.election.enable", 0, Some("true")),
                        ("cleanup.policy", 2, Some("compact")),
                    ],
                ),
                1,
                Duration::from_secs(10),
            )
            .await
            .expect("IncrementalAlterConfigs answered");
        assert_eq!(response.responses[0].error_code, 0, "{response:?}");
        cluster
            .wait_until("the stale replica to lead", Duration::from_secs(10), |s| {
                s.topic(&topic).unwrap().partitions[0].leader.map(|l| l.0) == Some(stale)
            })
            .await;
        let configs = topic_configs(&cluster, &topic).await;
        assert_eq!(config(&configs, "cleanup.policy").0, "delete,compact");
        assert_eq!(config(&configs, "unclean.leader.election.enable").0, "true");

        let response = conn
            .call(
                &incremental(&topic, &[("retention.ms", 2, Some("5"))]),
                1,
                Duration::from_secs(10),
            )
            .await
            .expect("IncrementalAlterConfigs answered");
        assert_eq!(
            response.responses[0].error_code, 40,
            "INVALID_CONFIG: {response:?}"
        );
        let message = response.responses[0]
            .error_message
            .as_deref()
            .unwrap_or_default();
        assert!(message.contains("not a list config"), "{message}");

        let response = conn
            .call(
                &incremental(&topic, &[("min.insync.replicas", 0, Some("zero"))]),
                1,
                Duration::from_secs(10),
            )
            .await
            .expect("IncrementalAlterConfigs answered");
        assert_eq!(
            response.responses[0].error_code, 40,
            "INVALID_CONFIG: {response:?}"
        );
        let configs = topic_configs(&cluster, &topic).await;
        assert_eq!(
            config(&configs, "min.insync.replicas").0,
            "1",
            "a refused change changes nothing"
        );
    })
    .await;
}

/// DescribeConfigs for a GROUP resource (Kafka 4) answers with the group configs Kafka
/// defines and their defaults, through rdkafka's admin API.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_groups_configs_are_described_like_kafka_4() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let described = admin(&cluster)
            .describe_configs(
                &[ResourceSpecifier::Group("any-group")],
                &AdminOptions::new(),
            )
            .await
            .expect("DescribeConfigs answered");
        let resource = described
            .into_iter()
            .next()
            .unwrap()
            .expect("group described");
        let entries = resource.entry_map();
        let session = entries["consumer.session.timeout.ms"];
        assert_eq!(session.value.as_deref(), Some("45000"));
        assert!(
            matches!(session.source, ConfigSource::Default),
            "{:?}",
            session.source
        );
        assert_eq!(
            entries["share.auto.offset.reset"].value.as_deref(),
            Some("latest")
        );
        assert_eq!(entries.len(), 6, "{entries:?}");
    })
    .await;
}
