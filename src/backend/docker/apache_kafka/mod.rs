//! Container settings for real Apache Kafka (KRaft) brokers from the `apache/kafka` image.
//!
//! One container per node, each node a combined broker and controller, configured only through
//! the image's environment variables: the image writes every `KAFKA_*` variable into
//! `server.properties` (drop `KAFKA_`, then `___` → `-`, `__` → `_`, `_` → `.`, lower-cased),
//! formats storage with `CLUSTER_ID`, and skips its bundled defaults as soon as one such variable
//! is set, so [`broker_specs`] sets everything a multi-node cluster needs. The same settings work
//! for `apache/kafka-native`, which shares the image's configuration scripts.

use std::collections::BTreeMap;
use std::time::Duration;

use super::ownership::LABEL;
use super::spec::{ContainerSpec, PublishedPort, SpecError};
use crate::config::{Timings, TopicDefaults};

/// The pinned default image.
pub(crate) const DEFAULT_IMAGE: &str = "apache/kafka:4.1.1";
/// Port of the listener other containers (and the tutorial's commands, e.g.
/// `--bootstrap-server kafka-1:19092`) use.
pub(crate) const INTERNAL_PORT: u16 = 19092;
/// Port inside the container of the listener published to the host.
pub(crate) const HOST_LISTENER_PORT: u16 = 9092;
/// Controller quorum port.
pub(crate) const CONTROLLER_PORT: u16 = 9093;

/// A heap a laptop can give three brokers (the image's default is 1 GiB each); small heaps
/// also keep GC pauses well inside the sandbox's short session timeouts.
const HEAP_OPTS: &str = "-Xmx512m -Xms512m";
/// Where each node keeps partition logs and KRaft metadata (the image's own choice).
const LOG_DIRS: &str = "/tmp/kraft-combined-logs";
/// Kafka's `replica.socket.timeout.ms`, which `replica.fetch.wait.max.ms` must not exceed.
pub(super) const REPLICA_SOCKET_TIMEOUT_MS: u128 = 30_000;
/// Kafka's default `transaction.state.log.min.isr`.
const TRANSACTION_LOG_MIN_ISR: i16 = 2;

/// What a real Apache Kafka cluster is started with.
#[derive(Debug, Clone)]
pub(crate) struct ApacheKafkaSettings {
    /// Image reference, e.g. [`DEFAULT_IMAGE`] or `apache/kafka-native:<version>`.
    pub image: String,
    /// Number of nodes; ids are `1..=brokers`, containers `kafka-1..kafka-N`.
    pub brokers: i32,
    /// Host address the published listeners bind and advertise (`--host`, e.g. `127.0.0.1`).
    pub host: String,
    /// Host port published for broker `i` at index `i - 1`, bound on and advertised as
    /// `<host>:<port>`.
    pub host_ports: Vec<u16>,
    /// KRaft cluster id: 16 bytes in URL-safe base64 without padding (see [`kraft_cluster_id`]).
    pub cluster_id: String,
    /// Failover timers.
    pub timings: Timings,
    /// Topic defaults.
    pub topic_defaults: TopicDefaults,
    /// Extra labels (e.g. the run id); [`LABEL`] is always added.
    pub labels: BTreeMap<String, String>,
}

/// Name, hostname and network alias of node `node_id`: `kafka-<id>`.
pub(crate) fn container_name(node_id: i32) -> String {
    format!("kafka-{node_id}")
}

/// A valid KRaft cluster id derived deterministically from `seed`: 16 bytes shaped as a version-4
/// UUID, in URL-safe base64 without padding (22 characters, never starting with `-`).
pub(crate) fn kraft_cluster_id(seed: &str) -> String {
    // FNV-1a, 128-bit.
    let hash = seed.bytes().fold(
        0x6c62_272e_07bb_0142_62b8_2175_6295_c58d_u128,
        |hash, byte| {
            (hash ^ u128::from(byte)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
        },
    );
    let mut bytes = *uuid::Builder::from_random_bytes(hash.to_be_bytes())
        .into_uuid()
        .as_bytes();
    // A leading `-` confuses command-line tools, so Kafka's own ids avoid it; so do these.
    bytes[0] &= 0x7f;
    base64_url(&bytes)
}

/// The containers of the cluster `settings` describes, in node-id order.
pub(crate) fn broker_specs(
    settings: &ApacheKafkaSettings,
) -> Result<Vec<ContainerSpec>, SpecError> {
    let brokers = settings.brokers;
    if brokers < 1 {
        return Err(SpecError::NoBrokers(brokers));
    }
    if usize::try_from(brokers).ok() != Some(settings.host_ports.len()) {
        return Err(SpecError::HostPortCount {
            ports: settings.host_ports.len(),
            brokers,
        });
    }
    if let Some(index) = settings.host_ports.iter().position(|&port| port == 0) {
        return Err(SpecError::HostPortZero {
            container: container_name(index_to_id(index)),
        });
    }
    if !is_kraft_cluster_id(&settings.cluster_id) {
        return Err(SpecError::ClusterId(settings.cluster_id.clone()));
    }

    let voters = (1..=brokers)
        .map(|id| format!("{id}@{}:{CONTROLLER_PORT}", container_name(id)))
        .collect::<Vec<_>>()
        .join(",");
    let lesson = lesson_env(&settings.timings, &settings.topic_defaults, brokers)?;
    let mut labels = settings.labels.clone();
    labels.insert(LABEL.to_string(), "broker".to_string());

    Ok(settings
        .host_ports
        .iter()
        .enumerate()
        .map(|(index, &host_port)| {
            let node_id = index_to_id(index);
            let name = container_name(node_id);
            let mut env: Vec<(String, String)> = [
                ("KAFKA_NODE_ID", node_id.to_string()),
                ("KAFKA_PROCESS_ROLES", "broker,controller".to_string()),
                (
                    "KAFKA_LISTENERS",
                    format!(
                        "PLAINTEXT://:{INTERNAL_PORT},CONTROLLER://:{CONTROLLER_PORT},\
                         PLAINTEXT_HOST://:{HOST_LISTENER_PORT}"
                    ),
                ),
                (
                    "KAFKA_ADVERTISED_LISTENERS",
                    format!(
                        "PLAINTEXT://{name}:{INTERNAL_PORT},PLAINTEXT_HOST://{}:{host_port}",
                        settings.host
                    ),
                ),
                (
                    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                    "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT".to_string(),
                ),
                ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER".to_string()),
                ("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT".to_string()),
                ("KAFKA_CONTROLLER_QUORUM_VOTERS", voters.clone()),
                ("CLUSTER_ID", settings.cluster_id.clone()),
                ("KAFKA_LOG_DIRS", LOG_DIRS.to_string()),
                ("KAFKA_HEAP_OPTS", HEAP_OPTS.to_string()),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();
            env.extend(lesson.iter().cloned());
            ContainerSpec {
                name: name.clone(),
                node_id,
                image: settings.image.clone(),
                hostname: name.clone(),
                network_aliases: vec![name],
                env,
                cmd: Vec::new(),
                ipv4_address: None,
                ports: vec![PublishedPort {
                    container_port: HOST_LISTENER_PORT,
                    host_ip: settings.host.clone(),
                    host_port,
                }],
                labels: labels.clone(),
            }
        })
        .collect())
}

/// Node id of the broker at `index` in `host_ports` (callers have checked the count fits `i32`).
fn index_to_id(index: usize) -> i32 {
    i32::try_from(index + 1).unwrap_or(i32::MAX)
}

/// The timing and topic-default variables every node shares, checked against the limits a real
/// broker enforces at startup.
fn lesson_env(
    timings: &Timings,
    topics: &TopicDefaults,
    brokers: i32,
) -> Result<Vec<(String, String)>, SpecError> {
    let fetch_wait = timings.replica_fetch_wait_max.as_millis();
    let lag_max = timings.replica_lag_time_max.as_millis();
    if fetch_wait > lag_max || fetch_wait > REPLICA_SOCKET_TIMEOUT_MS {
        return Err(SpecError::FetchWait {
            fetch_wait,
            lag_max,
        });
    }
    let internal_rf = topics
        .offsets_topic_replication_factor
        .clamp(1, i16::try_from(brokers).unwrap_or(i16::MAX));
    // Kafka's setting is whole seconds and at least 1.
    let imbalance_check_secs = timings
        .leader_imbalance_check_interval
        .as_secs()
        .saturating_add(u64::from(
            timings.leader_imbalance_check_interval.subsec_nanos() > 0,
        ))
        .max(1);
    let imbalance_percentage = i32::try_from(topics.leader_imbalance_per_broker_percentage)
        .map_err(|_| {
            SpecError::ImbalancePercentage(topics.leader_imbalance_per_broker_percentage)
        })?;

    let env = [
        (
            "KAFKA_BROKER_HEARTBEAT_INTERVAL_MS",
            millis(
                "broker.heartbeat.interval.ms",
                timings.broker_heartbeat_interval,
            )?,
        ),
        (
            "KAFKA_BROKER_SESSION_TIMEOUT_MS",
            millis("broker.session.timeout.ms", timings.broker_session_timeout)?,
        ),
        (
            "KAFKA_REPLICA_LAG_TIME_MAX_MS",
            millis("replica.lag.time.max.ms", timings.replica_lag_time_max)?,
        ),
        (
            "KAFKA_REPLICA_FETCH_WAIT_MAX_MS",
            millis("replica.fetch.wait.max.ms", timings.replica_fetch_wait_max)?,
        ),
        (
            "KAFKA_REPLICA_FETCH_BACKOFF_MS",
            millis("replica.fetch.backoff.ms", timings.replica_fetch_backoff)?,
        ),
        (
            "KAFKA_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS",
            imbalance_check_secs.to_string(),
        ),
        (
            "KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS",
            millis(
                "group.min.session.timeout.ms",
                timings.group_min_session_timeout,
            )?,
        ),
        (
            "KAFKA_GROUP_MAX_SESSION_TIMEOUT_MS",
            millis(
                "group.max.session.timeout.ms",
                timings.group_max_session_timeout,
            )?,
        ),
        (
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS",
            millis(
                "group.initial.rebalance.delay.ms",
                timings.group_initial_rebalance_delay,
            )?,
        ),
        (
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE",
            topics.auto_create_topics.to_string(),
        ),
        (
            "KAFKA_NUM_PARTITIONS",
            at_least_one("num.partitions", topics.num_partitions.into())?,
        ),
        (
            "KAFKA_DEFAULT_REPLICATION_FACTOR",
            at_least_one(
                "default.replication.factor",
                topics.replication_factor.into(),
            )?,
        ),
        (
            "KAFKA_MIN_INSYNC_REPLICAS",
            at_least_one("min.insync.replicas", topics.min_insync_replicas.into())?,
        ),
        (
            "KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE",
            topics.unclean_leader_election.to_string(),
        ),
        (
            "KAFKA_AUTO_LEADER_REBALANCE_ENABLE",
            topics.auto_leader_rebalance.to_string(),
        ),
        (
            "KAFKA_LEADER_IMBALANCE_PER_BROKER_PERCENTAGE",
            imbalance_percentage.to_string(),
        ),
        (
            "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS",
            at_least_one(
                "offsets.topic.num.partitions",
                topics.offsets_topic_partitions.into(),
            )?,
        ),
        (
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            internal_rf.to_string(),
        ),
        (
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            internal_rf.to_string(),
        ),
        (
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
            TRANSACTION_LOG_MIN_ISR.min(internal_rf).to_string(),
        ),
    ];
    Ok(env
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect())
}

/// `duration` in whole milliseconds, as long as it fits the `int` Kafka reads `property` as.
fn millis(property: &'static str, duration: Duration) -> Result<String, SpecError> {
    i32::try_from(duration.as_millis())
        .map(|ms| ms.to_string())
        .map_err(|_| SpecError::TooLong { property, duration })
}

/// `value` as text, if it is at least 1 as Kafka requires of `property`.
fn at_least_one(property: &'static str, value: i64) -> Result<String, SpecError> {
    if value < 1 {
        Err(SpecError::BelowOne { property, value })
    } else {
        Ok(value.to_string())
    }
}

/// URL-safe base64 without padding.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `id` is 16 bytes in canonical URL-safe base64 without padding, as Kafka requires
/// (the decoder refuses non-zero trailing bits, so only the canonical spelling passes).
fn is_kraft_cluster_id(id: &str) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .is_ok_and(|bytes| bytes.len() == 16)
}

#[cfg(test)]
mod tests;
