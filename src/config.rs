//! Cluster settings. The defaults are short so that failures play out in seconds during a lesson;
//! [`Timings::kafka_defaults`] restores Apache Kafka's production values (named beside each field).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Every timer that shapes failover. Kafka's own default is in each field's doc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// How often a broker heartbeats to the controller. Kafka: `broker.heartbeat.interval.ms` = 2000.
    pub broker_heartbeat_interval: Duration,
    /// Missing heartbeats for this long fences a broker. Kafka: `broker.session.timeout.ms` = 9000.
    pub broker_session_timeout: Duration,
    /// A follower not caught up for this long leaves the ISR. Kafka: `replica.lag.time.max.ms` = 30000.
    pub replica_lag_time_max: Duration,
    /// Longest a follower fetch waits at the leader for new data. Kafka: `replica.fetch.wait.max.ms` = 500.
    pub replica_fetch_wait_max: Duration,
    /// Back-off before a follower retries a failed fetch. Kafka: `replica.fetch.backoff.ms` = 1000.
    pub replica_fetch_backoff: Duration,
    /// How often the controller looks for partitions away from their preferred leader.
    /// Kafka: `leader.imbalance.check.interval.seconds` = 300.
    pub leader_imbalance_check_interval: Duration,
    /// Shortest consumer session timeout a group accepts. Kafka: `group.min.session.timeout.ms` = 6000.
    pub group_min_session_timeout: Duration,
    /// Longest consumer session timeout a group accepts. Kafka: `group.max.session.timeout.ms` = 1800000.
    pub group_max_session_timeout: Duration,
    /// How long a new (empty) group waits for more members before its first rebalance.
    /// Kafka: `group.initial.rebalance.delay.ms` = 3000.
    pub group_initial_rebalance_delay: Duration,
}

impl Timings {
    /// Short timings for lessons: a dead broker is noticed in under two seconds.
    pub fn sandbox_defaults() -> Self {
        Self {
            broker_heartbeat_interval: Duration::from_millis(250),
            broker_session_timeout: Duration::from_millis(1500),
            replica_lag_time_max: Duration::from_millis(1500),
            replica_fetch_wait_max: Duration::from_millis(500),
            replica_fetch_backoff: Duration::from_millis(100),
            leader_imbalance_check_interval: Duration::from_secs(5),
            group_min_session_timeout: Duration::from_millis(500),
            group_max_session_timeout: Duration::from_secs(1800),
            group_initial_rebalance_delay: Duration::ZERO,
        }
    }

    /// Apache Kafka's defaults, for seeing production behaviour (`--kafka-timings`).
    pub fn kafka_defaults() -> Self {
        Self {
            broker_heartbeat_interval: Duration::from_millis(2000),
            broker_session_timeout: Duration::from_millis(9000),
            replica_lag_time_max: Duration::from_millis(30_000),
            replica_fetch_wait_max: Duration::from_millis(500),
            replica_fetch_backoff: Duration::from_millis(1000),
            leader_imbalance_check_interval: Duration::from_secs(300),
            group_min_session_timeout: Duration::from_millis(6000),
            group_max_session_timeout: Duration::from_secs(1800),
            group_initial_rebalance_delay: Duration::from_millis(3000),
        }
    }
}

impl Default for Timings {
    fn default() -> Self {
        Self::sandbox_defaults()
    }
}

/// Defaults applied to topics that do not set their own configs. Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDefaults {
    /// `auto.create.topics.enable` (Kafka: true).
    pub auto_create_topics: bool,
    /// `num.partitions` for auto-created topics (Kafka: 1).
    pub num_partitions: i32,
    /// `default.replication.factor` for auto-created topics (Kafka: 1).
    pub replication_factor: i16,
    /// `min.insync.replicas` (Kafka: 1).
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable` (Kafka: false).
    pub unclean_leader_election: bool,
    /// `auto.leader.rebalance.enable` (Kafka: true).
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.per.broker.percentage` (Kafka: 10).
    pub leader_imbalance_per_broker_percentage: u32,
    /// `offsets.topic.num.partitions` (Kafka: 50).
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.replication.factor` (Kafka: 3), capped at the number of brokers.
    pub offsets_topic_replication_factor: i16,
    /// `transaction.state.log.num.partitions` (Kafka: 50).
    #[serde(default = "default_transaction_state_partitions")]
    pub transaction_state_partitions: i32,
    /// `transaction.state.log.replication.factor` (Kafka: 3), capped at the number of brokers.
    #[serde(default = "default_transaction_state_replication_factor")]
    pub transaction_state_replication_factor: i16,
}

fn default_transaction_state_partitions() -> i32 {
    50
}

fn default_transaction_state_replication_factor() -> i16 {
    3
}

impl Default for TopicDefaults {
    fn default() -> Self {
        Self {
            auto_create_topics: true,
            num_partitions: 1,
            replication_factor: 1,
            min_insync_replicas: 1,
            unclean_leader_election: false,
            auto_leader_rebalance: true,
            leader_imbalance_per_broker_percentage: 10,
            offsets_topic_partitions: 50,
            offsets_topic_replication_factor: 3,
            transaction_state_partitions: default_transaction_state_partitions(),
            transaction_state_replication_factor: default_transaction_state_replication_factor(),
        }
    }
}

/// Limits on the connections each broker accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSettings {
    /// A connection with no request for this long is closed. Kafka: `connections.max.idle.ms`
    /// = 600000.
    pub max_idle: Duration,
    /// Connections one broker keeps open at once; `None` shares the process's open-file limit
    /// fairly among the nodes in it. Kafka: `max.connections`, unlimited by default. Beyond it
    /// a client's connection is closed at its first request; other brokers' are still served.
    pub max_per_broker: Option<usize>,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            max_idle: Duration::from_secs(600),
            max_per_broker: None,
        }
    }
}

/// Open files kept back for everything but client connections (logs, the controller, peers).
const RESERVED_FILES: usize = 128;

impl ConnectionSettings {
    /// The cap for one broker of a process that runs `nodes` nodes: the setting, or an equal
    /// share of the open-file limit left after [`RESERVED_FILES`], so that a flood of
    /// connections to one broker cannot leave the others unable to accept.
    pub fn per_broker(&self, nodes: usize) -> usize {
        self.max_per_broker.unwrap_or_else(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit with a valid pointer to a local struct.
            let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
                usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
            } else {
                1024
            };
            (soft.saturating_sub(RESERVED_FILES) / nodes.max(1)).max(16)
        })
    }
}

/// How to start a cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Number of brokers; ids are 1..=brokers.
    pub brokers: i32,
    /// First broker port (broker N listens on `base_port + N - 1`); 0 picks free ports.
    pub base_port: u16,
    /// Host the brokers bind and advertise.
    pub host: String,
    /// Failover timers.
    pub timings: Timings,
    /// Topic defaults.
    pub topic_defaults: TopicDefaults,
    /// The cluster id reported in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// Connection limits of every broker.
    #[serde(default)]
    pub connections: ConnectionSettings,
    /// `broker.rack` of each broker in turn (broker N gets entry (N-1) mod len); empty: no
    /// racks, as Kafka's default.
    #[serde(default)]
    pub racks: Vec<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            brokers: 3,
            base_port: 0,
            host: "127.0.0.1".into(),
            timings: Timings::default(),
            topic_defaults: TopicDefaults::default(),
            cluster_id: "kafka-sandbox".into(),
            connections: ConnectionSettings::default(),
            racks: Vec::new(),
        }
    }
}

/// Why cluster settings cannot work, in words that say what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No brokers.
    #[error("a cluster needs at least one broker (--brokers)")]
    NoBrokers,
    /// The host is not an IP address (for the embedded and processes backends).
    #[error("'{0}' is not an IP address to bind (--host)")]
    Host(String),
    /// The ports of brokers 1..N do not fit below 65536.
    #[error("{brokers} brokers from port {base} run past port 65535; pick a lower --port")]
    PortRange {
        /// First port.
        base: u16,
        /// Number of brokers.
        brokers: i32,
    },
    /// A timing that cannot work.
    #[error("{0}")]
    Timing(String),
    /// A topic default below its minimum.
    #[error("{0}")]
    TopicDefault(String),
    /// A rack name that is empty or has characters other than letters, digits, '-', '_', '.'.
    #[error("rack name '{0}' must be letters, digits, '-', '_' or '.' (--racks a,b,c)")]
    Rack(String),
}

impl ClusterConfig {
    /// Checks every setting that could make the cluster fail to start or misbehave, once, for
    /// every backend and for the command line.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.brokers < 1 {
            return Err(ConfigError::NoBrokers);
        }
        if self.base_port != 0 && i64::from(self.base_port) + i64::from(self.brokers) - 1 > 65535 {
            return Err(ConfigError::PortRange {
                base: self.base_port,
                brokers: self.brokers,
            });
        }
        let t = &self.timings;
        if t.broker_heartbeat_interval.is_zero() || t.leader_imbalance_check_interval.is_zero() {
            return Err(ConfigError::Timing(
                "timings must be greater than zero".into(),
            ));
        }
        if t.broker_heartbeat_interval >= t.broker_session_timeout {
            return Err(ConfigError::Timing(
                "the heartbeat interval must be shorter than the broker session timeout".into(),
            ));
        }
        if t.group_min_session_timeout > t.group_max_session_timeout {
            return Err(ConfigError::Timing(format!(
                "the minimum group session timeout is above the maximum ({} ms)",
                t.group_max_session_timeout.as_millis()
            )));
        }
        let d = &self.topic_defaults;
        if d.num_partitions < 1 || d.replication_factor < 1 || d.min_insync_replicas < 1 {
            return Err(ConfigError::TopicDefault(
                "--num-partitions, --default-replication-factor and --min-insync-replicas must be at least 1".into(),
            ));
        }
        if d.offsets_topic_partitions < 1 {
            return Err(ConfigError::TopicDefault(
                "--offsets-topic-partitions must be at least 1".into(),
            ));
        }
        if let Some(bad) = self.racks.iter().find(|r| {
            r.is_empty()
                || !r
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        }) {
            return Err(ConfigError::Rack(bad.clone()));
        }
        Ok(())
    }

    /// Broker `id`'s rack: the racks are dealt out to brokers 1, 2, … in turn.
    pub fn rack_of(&self, id: i32) -> Option<String> {
        let n = i32::try_from(self.racks.len()).ok().filter(|n| *n > 0)?;
        self.racks
            .get(usize::try_from((id - 1).rem_euclid(n)).ok()?)
            .cloned()
    }

    /// The IP address the embedded and processes backends bind and advertise.
    pub(crate) fn bind_ip(&self) -> Result<std::net::IpAddr, ConfigError> {
        self.host
            .parse()
            .map_err(|_| ConfigError::Host(self.host.clone()))
    }

    /// The port broker `id` listens on: `base_port + id - 1`, or 0 (any free port).
    pub(crate) fn broker_port(&self, id: i32) -> Result<u16, ConfigError> {
        if self.base_port == 0 {
            return Ok(0);
        }
        u16::try_from(i64::from(self.base_port) + i64::from(id) - 1).map_err(|_| {
            ConfigError::PortRange {
                base: self.base_port,
                brokers: self.brokers,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_cannot_work_are_refused_with_what_to_change() {
        assert_eq!(ClusterConfig::default().validate(), Ok(()));
        let with = |f: fn(&mut ClusterConfig)| {
            let mut c = ClusterConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(with(|c| c.brokers = 0).contains("at least one broker"));
        assert!(with(|c| {
            c.base_port = 65534;
            c.brokers = 3
        })
        .contains("pick a lower --port"));
        assert!(
            with(|c| c.timings.broker_heartbeat_interval = Duration::from_secs(5))
                .contains("shorter than the broker session timeout")
        );
        assert!(with(|c| c.topic_defaults.min_insync_replicas = 0).contains("at least 1"));
        let c = ClusterConfig {
            base_port: 9092,
            ..ClusterConfig::default()
        };
        assert_eq!(c.broker_port(3), Ok(9094));
        assert!(ClusterConfig {
            host: "localhost".into(),
            ..ClusterConfig::default()
        }
        .bind_ip()
        .is_err());
    }
}
