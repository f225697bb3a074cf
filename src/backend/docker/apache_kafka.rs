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

use super::spec::{ContainerSpec, PublishedPort, LABEL};
use crate::config::{Timings, TopicDefaults};

/// The pinned default image.
pub const DEFAULT_IMAGE: &str = "apache/kafka:4.1.1";
/// Port of the listener other containers (and the tutorial's commands, e.g.
/// `--bootstrap-server kafka-1:19092`) use.
pub const INTERNAL_PORT: u16 = 19092;
/// Port inside the container of the listener published to the host.
pub const HOST_LISTENER_PORT: u16 = 9092;
/// Controller quorum port.
pub const CONTROLLER_PORT: u16 = 9093;

/// Host address the published listener binds and advertises.
const HOST_IP: &str = "127.0.0.1";
/// Where each node keeps partition logs and KRaft metadata (the image's own choice).
const LOG_DIRS: &str = "/tmp/kraft-combined-logs";
/// Kafka's `replica.socket.timeout.ms`, which `replica.fetch.wait.max.ms` must not exceed.
const REPLICA_SOCKET_TIMEOUT_MS: u128 = 30_000;
/// Kafka's default `transaction.state.log.min.isr`.
const TRANSACTION_LOG_MIN_ISR: i16 = 2;

/// What a real Apache Kafka cluster is started with.
#[derive(Debug, Clone)]
pub struct ApacheKafkaSettings {
    /// Image reference, e.g. [`DEFAULT_IMAGE`] or `apache/kafka-native:<version>`.
    pub image: String,
    /// Number of nodes; ids are `1..=brokers`, containers `kafka-1..kafka-N`.
    pub brokers: i32,
    /// Host port published for broker `i` at index `i - 1`, bound on and advertised as
    /// `127.0.0.1:<port>`.
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
pub fn container_name(node_id: i32) -> String {
    format!("kafka-{node_id}")
}

/// A valid KRaft cluster id derived deterministically from `seed`: 16 bytes shaped as a version-4
/// UUID, in URL-safe base64 without padding (22 characters, never starting with `-`).
pub fn kraft_cluster_id(seed: &str) -> String {
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
pub fn broker_specs(settings: &ApacheKafkaSettings) -> Result<Vec<ContainerSpec>, String> {
    let brokers = settings.brokers;
    if brokers < 1 {
        return Err(format!(
            "a cluster needs at least 1 broker, not {brokers}; ask for 1 or more"
        ));
    }
    if usize::try_from(brokers).ok() != Some(settings.host_ports.len()) {
        return Err(format!(
            "{} host ports were given for {brokers} brokers; give exactly one host port per broker",
            settings.host_ports.len()
        ));
    }
    if let Some(index) = settings.host_ports.iter().position(|&port| port == 0) {
        return Err(format!(
            "the host port for {} is 0; pick a free port first, since the broker advertises it",
            container_name(index_to_id(index))
        ));
    }
    if !is_kraft_cluster_id(&settings.cluster_id) {
        return Err(format!(
            "cluster id {:?} is not a KRaft cluster id (16 bytes in URL-safe base64, 22 characters); \
             derive one with kraft_cluster_id",
            settings.cluster_id
        ));
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
                        "PLAINTEXT://{name}:{INTERNAL_PORT},PLAINTEXT_HOST://{HOST_IP}:{host_port}"
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
                    host_ip: HOST_IP.to_string(),
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
) -> Result<Vec<(String, String)>, String> {
    let fetch_wait = timings.replica_fetch_wait_max.as_millis();
    let lag_max = timings.replica_lag_time_max.as_millis();
    if fetch_wait > lag_max || fetch_wait > REPLICA_SOCKET_TIMEOUT_MS {
        return Err(format!(
            "replica.fetch.wait.max.ms ({fetch_wait}) must not exceed replica.lag.time.max.ms \
             ({lag_max}) or {REPLICA_SOCKET_TIMEOUT_MS} ms, or Kafka refuses to start; \
             shorten the fetch wait"
        ));
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
            format!(
                "leader.imbalance.per.broker.percentage ({}) is too large; use 0 to 100",
                topics.leader_imbalance_per_broker_percentage
            )
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
fn millis(property: &str, duration: Duration) -> Result<String, String> {
    i32::try_from(duration.as_millis())
        .map(|ms| ms.to_string())
        .map_err(|_| {
            format!(
                "{property} ({} ms) is longer than Kafka accepts ({} ms); use a shorter duration",
                duration.as_millis(),
                i32::MAX
            )
        })
}

/// `value` as text, if it is at least 1 as Kafka requires of `property`.
fn at_least_one(property: &str, value: i64) -> Result<String, String> {
    if value < 1 {
        Err(format!("{property} is {value}; Kafka needs at least 1"))
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
mod tests {
    use super::*;

    const PORTS: [u16; 3] = [29092, 39092, 49092];

    fn settings(brokers: i32, host_ports: &[u16]) -> ApacheKafkaSettings {
        ApacheKafkaSettings {
            image: DEFAULT_IMAGE.to_string(),
            brokers,
            host_ports: host_ports.to_vec(),
            cluster_id: kraft_cluster_id("test-run"),
            timings: Timings::sandbox_defaults(),
            topic_defaults: TopicDefaults::default(),
            labels: BTreeMap::from([("io.kafka-sandbox.run".to_string(), "r1".to_string())]),
        }
    }

    fn env_map(spec: &ContainerSpec) -> BTreeMap<&str, &str> {
        spec.env
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect()
    }

    /// The image's documented rule for a `KAFKA_*` name: drop the prefix, then a run of one
    /// underscore is `.`, two `_`, three `-`; lower-case.
    fn property_name(env_name: &str) -> String {
        let rest = env_name.strip_prefix("KAFKA_").expect("KAFKA_ prefix");
        let mut out = String::new();
        let mut underscores = 0;
        for c in rest.chars().chain(std::iter::once('\0')) {
            if c == '_' {
                underscores += 1;
                continue;
            }
            match underscores {
                0 => {}
                1 => out.push('.'),
                2 => out.push('_'),
                3 => out.push('-'),
                n => panic!("{n} underscores in {env_name} have no documented meaning"),
            }
            underscores = 0;
            if c != '\0' {
                out.extend(c.to_lowercase());
            }
        }
        out
    }

    /// `server.properties` as the image would write it from the spec's environment.
    fn properties(spec: &ContainerSpec) -> BTreeMap<String, String> {
        spec.env
            .iter()
            .filter(|(key, _)| key.starts_with("KAFKA_"))
            .map(|(key, value)| (property_name(key), value.clone()))
            .collect()
    }

    fn base64_url_decode(text: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .expect("canonical base64")
    }

    #[test]
    fn three_brokers_get_the_complete_documented_config() {
        let settings = settings(3, &PORTS);
        let specs = broker_specs(&settings).unwrap();
        assert_eq!(specs.len(), 3);
        for (spec, (id, port)) in specs.iter().zip([(1, 29092), (2, 39092), (3, 49092)]) {
            let expected: BTreeMap<String, String> = [
                ("node.id", id.to_string()),
                ("process.roles", "broker,controller".into()),
                (
                    "listeners",
                    "PLAINTEXT://:19092,CONTROLLER://:9093,PLAINTEXT_HOST://:9092".into(),
                ),
                (
                    "advertised.listeners",
                    format!("PLAINTEXT://kafka-{id}:19092,PLAINTEXT_HOST://127.0.0.1:{port}"),
                ),
                (
                    "listener.security.protocol.map",
                    "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT".into(),
                ),
                ("controller.listener.names", "CONTROLLER".into()),
                ("inter.broker.listener.name", "PLAINTEXT".into()),
                (
                    "controller.quorum.voters",
                    "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093".into(),
                ),
                ("log.dirs", "/tmp/kraft-combined-logs".into()),
                ("broker.heartbeat.interval.ms", "250".into()),
                ("broker.session.timeout.ms", "1500".into()),
                ("replica.lag.time.max.ms", "1500".into()),
                ("replica.fetch.wait.max.ms", "500".into()),
                ("replica.fetch.backoff.ms", "100".into()),
                ("leader.imbalance.check.interval.seconds", "5".into()),
                ("group.min.session.timeout.ms", "500".into()),
                ("group.max.session.timeout.ms", "1800000".into()),
                ("group.initial.rebalance.delay.ms", "0".into()),
                ("auto.create.topics.enable", "true".into()),
                ("num.partitions", "1".into()),
                ("default.replication.factor", "1".into()),
                ("min.insync.replicas", "1".into()),
                ("unclean.leader.election.enable", "false".into()),
                ("auto.leader.rebalance.enable", "true".into()),
                ("leader.imbalance.per.broker.percentage", "10".into()),
                ("offsets.topic.num.partitions", "50".into()),
                ("offsets.topic.replication.factor", "3".into()),
                ("transaction.state.log.replication.factor", "3".into()),
                ("transaction.state.log.min.isr", "2".into()),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_string(), value))
            .collect();
            assert_eq!(properties(spec), expected, "{}", spec.name);
            assert_eq!(env_map(spec)["CLUSTER_ID"], settings.cluster_id);
            // Nothing else: every variable is either CLUSTER_ID or a server property.
            assert_eq!(spec.env.len(), expected.len() + 1);
        }
    }

    #[test]
    fn env_names_use_the_documented_spelling() {
        // Variables the image reserves for the JVM and logging, never server properties.
        let reserved = [
            "KAFKA_VERSION",
            "KAFKA_HEAP_OPTS",
            "KAFKA_LOG4J_OPTS",
            "KAFKA_OPTS",
            "KAFKA_JMX_OPTS",
            "KAFKA_JVM_PERFORMANCE_OPTS",
            "KAFKA_GC_LOG_OPTS",
            "KAFKA_LOG4J_ROOT_LOGLEVEL",
            "KAFKA_LOG4J_LOGGERS",
            "KAFKA_TOOLS_LOG4J_LOGLEVEL",
            "KAFKA_JMX_HOSTNAME",
        ];
        let spec = &broker_specs(&settings(3, &PORTS)).unwrap()[0];
        for (key, _) in &spec.env {
            if key == "CLUSTER_ID" {
                continue;
            }
            assert!(key.starts_with("KAFKA_"), "{key}");
            assert!(!reserved.contains(&key.as_str()), "{key}");
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{key}"
            );
            // The converted name spelled back the documented way gives the variable again.
            let property = property_name(key);
            let respelled = format!(
                "KAFKA_{}",
                property
                    .replace('_', "__")
                    .replace('-', "___")
                    .replace('.', "_")
                    .to_uppercase()
            );
            assert_eq!(&respelled, key);
        }
        assert_eq!(property_name("KAFKA_ABC_DEF"), "abc.def");
        assert_eq!(property_name("KAFKA_ABC__DEF"), "abc_def");
        assert_eq!(property_name("KAFKA_ABC___DEF"), "abc-def");
    }

    #[test]
    fn containers_are_named_published_and_labelled() {
        let specs = broker_specs(&settings(3, &PORTS)).unwrap();
        for (spec, (id, port)) in specs.iter().zip([(1, 29092), (2, 39092), (3, 49092)]) {
            let name = format!("kafka-{id}");
            assert_eq!(spec.name, name);
            assert_eq!(spec.hostname, name);
            assert_eq!(spec.network_aliases, vec![name.clone()]);
            assert_eq!(container_name(id), name);
            assert_eq!(spec.node_id, id);
            assert_eq!(spec.image, "apache/kafka:4.1.1");
            assert!(spec.cmd.is_empty());
            assert_eq!(
                spec.ports,
                vec![PublishedPort {
                    container_port: 9092,
                    host_ip: "127.0.0.1".into(),
                    host_port: port,
                }]
            );
            assert_eq!(
                spec.labels,
                BTreeMap::from([
                    (LABEL.to_string(), "broker".to_string()),
                    ("io.kafka-sandbox.run".to_string(), "r1".to_string()),
                ])
            );
            let env = env_map(spec);
            assert!(env["KAFKA_ADVERTISED_LISTENERS"].ends_with(&format!("127.0.0.1:{port}")));
            assert!(env["KAFKA_ADVERTISED_LISTENERS"]
                .starts_with(&format!("PLAINTEXT://kafka-{id}:{INTERNAL_PORT},")));
        }
    }

    #[test]
    fn label_cannot_be_overridden_by_extras() {
        let mut settings = settings(1, &[9092]);
        settings
            .labels
            .insert(LABEL.to_string(), "other".to_string());
        let spec = &broker_specs(&settings).unwrap()[0];
        assert_eq!(spec.labels[LABEL], "broker");
    }

    #[test]
    fn other_images_are_used_as_given() {
        let mut settings = settings(1, &[9092]);
        settings.image = "apache/kafka-native:4.1.1".to_string();
        let spec = &broker_specs(&settings).unwrap()[0];
        assert_eq!(spec.image, "apache/kafka-native:4.1.1");
    }

    #[test]
    fn one_broker_caps_internal_topic_replication() {
        let specs = broker_specs(&settings(1, &[9092])).unwrap();
        assert_eq!(specs.len(), 1);
        let props = properties(&specs[0]);
        assert_eq!(props["controller.quorum.voters"], "1@kafka-1:9093");
        assert_eq!(props["offsets.topic.replication.factor"], "1");
        assert_eq!(props["transaction.state.log.replication.factor"], "1");
        assert_eq!(props["transaction.state.log.min.isr"], "1");
        assert_eq!(
            props["advertised.listeners"],
            "PLAINTEXT://kafka-1:19092,PLAINTEXT_HOST://127.0.0.1:9092"
        );
    }

    #[test]
    fn two_brokers_cap_at_two() {
        let props = properties(&broker_specs(&settings(2, &[1, 2])).unwrap()[1]);
        assert_eq!(props["offsets.topic.replication.factor"], "2");
        assert_eq!(props["transaction.state.log.replication.factor"], "2");
        assert_eq!(props["transaction.state.log.min.isr"], "2");
        assert_eq!(
            props["controller.quorum.voters"],
            "1@kafka-1:9093,2@kafka-2:9093"
        );
    }

    #[test]
    fn kafka_default_timings_map_to_kafka_defaults() {
        let mut settings = settings(3, &PORTS);
        settings.timings = Timings::kafka_defaults();
        let props = properties(&broker_specs(&settings).unwrap()[0]);
        assert_eq!(props["broker.heartbeat.interval.ms"], "2000");
        assert_eq!(props["broker.session.timeout.ms"], "9000");
        assert_eq!(props["replica.lag.time.max.ms"], "30000");
        assert_eq!(props["replica.fetch.wait.max.ms"], "500");
        assert_eq!(props["replica.fetch.backoff.ms"], "1000");
        assert_eq!(props["leader.imbalance.check.interval.seconds"], "300");
        assert_eq!(props["group.min.session.timeout.ms"], "6000");
        assert_eq!(props["group.max.session.timeout.ms"], "1800000");
        assert_eq!(props["group.initial.rebalance.delay.ms"], "3000");
    }

    #[test]
    fn imbalance_check_interval_rounds_up_to_whole_seconds() {
        let mut settings = settings(1, &[9092]);
        for (interval, expected) in [(0, "1"), (200, "1"), (1000, "1"), (1500, "2")] {
            settings.timings.leader_imbalance_check_interval = Duration::from_millis(interval);
            let props = properties(&broker_specs(&settings).unwrap()[0]);
            assert_eq!(props["leader.imbalance.check.interval.seconds"], expected);
        }
    }

    #[test]
    fn cluster_id_is_a_valid_kraft_uuid() {
        let id = kraft_cluster_id("run-42");
        assert_eq!(id.len(), 22);
        assert!(!id.starts_with('-'));
        let bytes = base64_url_decode(&id);
        assert_eq!(bytes.len(), 16);
        assert_eq!(base64_url(&bytes), id);
        let uuid = uuid::Uuid::from_slice(&bytes).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert!(is_kraft_cluster_id(&id));
        assert_eq!(kraft_cluster_id("run-42"), id, "deterministic");
        assert_ne!(kraft_cluster_id("run-43"), id);
        assert!(is_kraft_cluster_id(&kraft_cluster_id("")));
    }

    #[test]
    fn base64_url_matches_rfc_4648() {
        assert_eq!(base64_url(b""), "");
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn cluster_id_check_follows_kafka() {
        // The id the image's own examples use.
        assert!(is_kraft_cluster_id("4L6g3nShT-eMCtK--X86sw"));
        assert!(!is_kraft_cluster_id("kafka-sandbox"));
        assert!(
            !is_kraft_cluster_id("4L6g3nShT-eMCtK--X86sx"),
            "trailing bits"
        );
        assert!(
            !is_kraft_cluster_id("4L6g3nShT+eMCtK--X86sw"),
            "standard alphabet"
        );
        assert!(!is_kraft_cluster_id("4L6g3nShT-eMCtK--X86sw=="), "padding");
    }

    #[test]
    fn bad_settings_are_refused_with_a_fix() {
        let err = broker_specs(&settings(0, &[])).unwrap_err();
        assert!(err.contains("at least 1 broker"), "{err}");
        let err = broker_specs(&settings(-1, &[])).unwrap_err();
        assert!(err.contains("at least 1 broker"), "{err}");

        let err = broker_specs(&settings(3, &[1, 2])).unwrap_err();
        assert!(err.contains("2 host ports") && err.contains("one host port per broker"));
        let err = broker_specs(&settings(1, &[1, 2])).unwrap_err();
        assert!(err.contains("one host port per broker"), "{err}");

        let err = broker_specs(&settings(2, &[1, 0])).unwrap_err();
        assert!(
            err.contains("kafka-2") && err.contains("pick a free port"),
            "{err}"
        );

        let mut bad_id = settings(1, &[1]);
        bad_id.cluster_id = "kafka-sandbox".to_string();
        let err = broker_specs(&bad_id).unwrap_err();
        assert!(err.contains("kraft_cluster_id"), "{err}");

        let mut slow_fetch = settings(1, &[1]);
        slow_fetch.timings.replica_fetch_wait_max = Duration::from_secs(2);
        let err = broker_specs(&slow_fetch).unwrap_err();
        assert!(err.contains("replica.fetch.wait.max.ms"), "{err}");

        let mut huge = settings(1, &[1]);
        huge.timings.group_max_session_timeout = Duration::from_secs(30 * 24 * 3600);
        let err = broker_specs(&huge).unwrap_err();
        assert!(err.contains("group.max.session.timeout.ms"), "{err}");

        let mut no_partitions = settings(1, &[1]);
        no_partitions.topic_defaults.num_partitions = 0;
        let err = broker_specs(&no_partitions).unwrap_err();
        assert!(
            err.contains("num.partitions") && err.contains("at least 1"),
            "{err}"
        );
    }
}
