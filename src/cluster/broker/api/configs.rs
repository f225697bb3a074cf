//! DescribeConfigs for topics (explicit settings and defaults, with their source) and brokers
//! (the timings that shape failover); AlterConfigs and IncrementalAlterConfigs, forwarded to
//! the controller like a KRaft broker does, answered once this broker's metadata shows them.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::Broker;
use crate::cluster::topic_config::{self, Change};

/// How long forwarding to the controller may take.
const CONTROLLER_CALL: std::time::Duration = std::time::Duration::from_secs(5);

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;
/// Kafka 4's group configs with their defaults. They govern the KIP-848 consumer protocol
/// and share groups, which the sandbox does not run: reported, as Kafka reports them for a
/// group that sets none, so tools that describe a group's configs work.
const GROUP_CONFIGS: &[(&str, &str)] = &[
    ("consumer.session.timeout.ms", "45000"),
    ("consumer.heartbeat.interval.ms", "5000"),
    ("share.session.timeout.ms", "45000"),
    ("share.heartbeat.interval.ms", "5000"),
    ("share.record.lock.duration.ms", "30000"),
    ("share.auto.offset.reset", "latest"),
];
/// Kafka's config sources.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn entry(name: &str, value: String, source: i8) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value)))
        .with_config_source(source)
        .with_read_only(source == SOURCE_STATIC_BROKER)
}

pub fn describe(
    broker: &Broker,
    r: DescribeConfigsRequest,
    _version: i16,
) -> DescribeConfigsResponse {
    let image = broker.image();
    let defaults = &broker.config.topic_defaults;
    let timings = &broker.config.timings;
    let results = r
        .resources
        .iter()
        .map(|res| {
            let name = res.resource_name.to_string();
            let out = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let configs: Vec<DescribeConfigsResourceResult> = match res.resource_type {
                TOPIC => {
                    let Some(topic) = image.topics.get(&name) else {
                        return out
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(StrBytes::from_string(format!(
                                "topic '{name}' does not exist"
                            ))));
                    };
                    let source = |key: &str| {
                        if topic.configs.contains_key(key) {
                            SOURCE_TOPIC
                        } else {
                            SOURCE_DEFAULT
                        }
                    };
                    let mut list = vec![
                        entry(
                            "min.insync.replicas",
                            topic.min_insync_replicas.to_string(),
                            source("min.insync.replicas"),
                        ),
                        entry(
                            "unclean.leader.election.enable",
                            topic.unclean_leader_election.to_string(),
                            source("unclean.leader.election.enable"),
                        ),
                    ];
                    for (k, v) in &topic.configs {
                        if !list.iter().any(|e| e.name.as_str() == k) {
                            list.push(entry(k, v.clone(), SOURCE_TOPIC));
                        }
                    }
                    for (k, v) in [
                        ("cleanup.policy", "delete"),
                        ("retention.ms", "-1"),
                        ("message.timestamp.type", "CreateTime"),
                    ] {
                        if !list.iter().any(|e| e.name.as_str() == k) {
                            list.push(entry(k, v.to_string(), SOURCE_DEFAULT));
                        }
                    }
                    list
                }
                BROKER => {
                    let ms = |d: std::time::Duration| d.as_millis().to_string();
                    vec![
                        entry("broker.id", broker.id().to_string(), SOURCE_STATIC_BROKER),
                        entry(
                            "broker.heartbeat.interval.ms",
                            ms(timings.broker_heartbeat_interval),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "broker.session.timeout.ms",
                            ms(timings.broker_session_timeout),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "replica.lag.time.max.ms",
                            ms(timings.replica_lag_time_max),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "replica.fetch.wait.max.ms",
                            ms(timings.replica_fetch_wait_max),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "leader.imbalance.check.interval.seconds",
                            timings
                                .leader_imbalance_check_interval
                                .as_secs()
                                .to_string(),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "auto.create.topics.enable",
                            defaults.auto_create_topics.to_string(),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "num.partitions",
                            defaults.num_partitions.to_string(),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "default.replication.factor",
                            defaults.replication_factor.to_string(),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "min.insync.replicas",
                            defaults.min_insync_replicas.to_string(),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "unclean.leader.election.enable",
                            defaults.unclean_leader_election.to_string(),
                            SOURCE_STATIC_BROKER,
                        ),
                        entry(
                            "auto.leader.rebalance.enable",
                            defaults.auto_leader_rebalance.to_string(),
                            SOURCE_STATIC_BROKER,
                        ),
                    ]
                }
                GROUP if name.is_empty() => {
                    return out
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(StrBytes::from_static_str(
                            "a group's configs need the group's name",
                        )))
                }
                GROUP => GROUP_CONFIGS
                    .iter()
                    .map(|(k, v)| entry(k, v.to_string(), SOURCE_DEFAULT))
                    .collect(),
                other => {
                    return out
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(StrBytes::from_string(format!(
                    "resource type {other} is not supported (2 = topic, 4 = broker, 32 = group)"
                ))))
                }
            };
            // As Kafka's ConfigHelper: no keys (null or an empty list) means every config.
            let configs = match &res.configuration_keys {
                Some(keys) if !keys.is_empty() => configs
                    .into_iter()
                    .filter(|c| keys.iter().any(|k| k == &c.name))
                    .collect(),
                _ => configs,
            };
            out.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Waits (bounded) until this broker's metadata shows each altered topic's new configs.
async fn wait_applied(broker: &Broker, altered: Vec<(String, Vec<Change>)>, replace: bool) {
    let image = broker.image();
    let expected: Vec<(String, std::collections::BTreeMap<String, String>)> = altered
        .into_iter()
        .filter_map(|(name, changes)| {
            let now = &image.topics.get(&name)?.configs;
            Some((name, topic_config::apply(now, &changes, replace).ok()?))
        })
        .collect();
    super::topics::wait_for_image(broker, 2000, |img| {
        expected
            .iter()
            .all(|(name, configs)| img.topics.get(name).is_some_and(|t| &t.configs == configs))
    })
    .await;
}

fn unreachable_controller(e: impl std::fmt::Display) -> (i16, Option<StrBytes>) {
    (
        ResponseError::RequestTimedOut.code(),
        Some(StrBytes::from_string(format!(
            "the controller could not be reached: {e}"
        ))),
    )
}

/// AlterConfigs: the topic's configs become exactly those given.
pub async fn alter(broker: &Broker, r: AlterConfigsRequest) -> AlterConfigsResponse {
    let result = async {
        let mut conn = broker.connect_controller().await?;
        conn.call(&r, 2, CONTROLLER_CALL).await
    }
    .await;
    let responses = match result {
        Ok(response) => response.responses,
        Err(e) => {
            let (code, message) = unreachable_controller(e);
            r.resources
                .iter()
                .map(|res| {
                    alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(res.resource_type)
                        .with_resource_name(res.resource_name.clone())
                        .with_error_code(code)
                        .with_error_message(message.clone())
                })
                .collect()
        }
    };
    if !r.validate_only {
        let altered = r
            .resources
            .iter()
            .filter(|res| res.resource_type == TOPIC)
            .filter(|res| {
                responses
                    .iter()
                    .any(|o| o.resource_name == res.resource_name && o.error_code == 0)
            })
            .map(|res| (res.resource_name.to_string(), topic_config::from_alter(res)))
            .collect();
        wait_applied(broker, altered, true).await;
    }
    AlterConfigsResponse::default().with_responses(responses)
}

/// IncrementalAlterConfigs: single configs set, deleted, appended to or subtracted from.
pub async fn alter_incrementally(
    broker: &Broker,
    r: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let result = async {
        let mut conn = broker.connect_controller().await?;
        conn.call(&r, 1, CONTROLLER_CALL).await
    }
    .await;
    let responses = match result {
        Ok(response) => response.responses,
        Err(e) => {
            let (code, message) = unreachable_controller(e);
            r.resources
                .iter()
                .map(|res| {
                    incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(res.resource_type)
                        .with_resource_name(res.resource_name.clone())
                        .with_error_code(code)
                        .with_error_message(message.clone())
                })
                .collect()
        }
    };
    if !r.validate_only {
        let altered = r
            .resources
            .iter()
            .filter(|res| res.resource_type == TOPIC)
            .filter(|res| {
                responses
                    .iter()
                    .any(|o| o.resource_name == res.resource_name && o.error_code == 0)
            })
            .filter_map(|res| {
                let changes = topic_config::from_incremental(res).ok()?;
                Some((res.resource_name.to_string(), changes))
            })
            .collect();
        wait_applied(broker, altered, false).await;
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
