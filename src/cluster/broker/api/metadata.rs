//! Metadata: live brokers, the controller id, and per partition the leader, leader epoch,
//! replicas, ISR and offline replicas, all from this broker's applied image. Unknown topics
//! are created on the fly when the client allows it and `auto.create.topics.enable` is on.

use super::authorized;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::topics;
use crate::cluster::broker::Broker;
use crate::cluster::controller::state::validate_topic_name;
use crate::cluster::image::NO_LEADER;

pub async fn handle(broker: &Broker, r: MetadataRequest, version: i16) -> MetadataResponse {
    let image = broker.image();
    let requested: Option<Vec<String>> = match &r.topics {
        None => None,
        Some(list) if list.is_empty() && version == 0 => None,
        Some(list) => Some(
            list.iter()
                .map(|t| match &t.name {
                    Some(name) => name.to_string(),
                    None => image
                        .topic_by_id(t.topic_id)
                        .map(|(n, _)| n.clone())
                        .unwrap_or_default(),
                })
                .collect(),
        ),
    };
    let allow_create = (version < 4 || r.allow_auto_topic_creation)
        && broker.config.topic_defaults.auto_create_topics;
    if let (Some(names), true) = (&requested, allow_create) {
        let missing: Vec<String> = names
            .iter()
            .filter(|n| {
                !image.topics.contains_key(*n)
                    && !n.starts_with("__")
                    && validate_topic_name(n).is_ok()
            })
            .cloned()
            .collect();
        if !missing.is_empty() {
            topics::auto_create(broker, &missing).await;
        }
    }
    let image = broker.image();
    let names: Vec<String> = requested.unwrap_or_else(|| image.topics.keys().cloned().collect());
    let topics = names
        .into_iter()
        .map(|name| {
            let out = MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                .with_is_internal(name.starts_with("__"));
            let Some(topic) = image.topics.get(&name) else {
                let code = if validate_topic_name(&name).is_err() {
                    ResponseError::InvalidTopicException
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                return out.with_error_code(code.code());
            };
            let partitions = topic
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let error = if p.leader == NO_LEADER {
                        ResponseError::LeaderNotAvailable.code()
                    } else {
                        0
                    };
                    MetadataResponsePartition::default()
                        .with_error_code(error)
                        .with_partition_index(i as i32)
                        .with_leader_id(p.leader.into())
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(p.replicas.iter().map(|b| (*b).into()).collect())
                        .with_isr_nodes(p.isr.iter().map(|b| (*b).into()).collect())
                        .with_offline_replicas(
                            image
                                .offline_replicas(p)
                                .into_iter()
                                .map(Into::into)
                                .collect(),
                        )
                })
                .collect();
            out.with_topic_id(topic.id)
                .with_partitions(partitions)
                .with_topic_authorized_operations(authorized::when_asked(
                    r.include_topic_authorized_operations,
                    authorized::TOPIC,
                ))
        })
        .collect();
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(b.id.into())
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
                .with_rack(
                    b.rack
                        .as_deref()
                        .map(|r| StrBytes::from_string(r.to_string())),
                )
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())))
        .with_controller_id(image.client_visible_controller().into())
        .with_topics(topics)
        .with_cluster_authorized_operations(authorized::when_asked(
            r.include_cluster_authorized_operations,
            authorized::CLUSTER,
        ))
}
