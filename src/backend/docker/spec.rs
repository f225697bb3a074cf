//! A container to create, described without the Docker API's types, so that what the sandbox
//! asks Docker for can be unit-tested as plain data.

use std::collections::BTreeMap;

/// One port published on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// Port inside the container.
    pub container_port: u16,
    /// Host address to bind, e.g. `127.0.0.1`.
    pub host_ip: String,
    /// Host port.
    pub host_port: u16,
}

/// Everything needed to create one broker container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Container name, e.g. `kafka-1`.
    pub name: String,
    /// Broker (node) id.
    pub node_id: i32,
    /// Image reference.
    pub image: String,
    /// Hostname inside the network.
    pub hostname: String,
    /// Names other containers on the network reach it by.
    pub network_aliases: Vec<String>,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Command arguments (empty: the image's default).
    pub cmd: Vec<String>,
    /// Fixed address on the network (kept across disconnect and reconnect), if any.
    pub ipv4_address: Option<String>,
    /// Ports published on the host.
    pub ports: Vec<PublishedPort>,
    /// Labels (always including the run's, see [`super::ownership`]).
    pub labels: BTreeMap<String, String>,
}

/// Why the containers cannot be described for these settings, in words that say what to change.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Fewer than one broker.
    #[error("a cluster needs at least 1 broker, not {0}; ask for 1 or more")]
    NoBrokers(i32),
    /// More (or fewer) brokers than the sandbox node image's addresses allow.
    #[error(
        "the sandbox node image runs 1 to 200 brokers, not {0}; pick a --brokers in that range"
    )]
    NodeCount(i32),
    /// The settings cannot be handed to the node containers.
    #[error("cannot write the cluster settings for the node containers: {0}")]
    Settings(serde_json::Error),
    /// No free host port could be found for a broker.
    #[error("cannot find a free host port for a broker: {0}; give the ports with --port")]
    NoFreePort(std::io::Error),
    /// Not one host port per broker.
    #[error("{ports} host ports were given for {brokers} brokers; give exactly one host port per broker")]
    HostPortCount {
        /// Host ports given.
        ports: usize,
        /// Brokers asked for.
        brokers: i32,
    },
    /// A host port of 0, which a broker cannot advertise.
    #[error("the host port for {container} is 0; pick a free port first, since the broker advertises it")]
    HostPortZero {
        /// The broker's container.
        container: String,
    },
    /// A cluster id Kafka refuses.
    #[error("cluster id {0:?} is not a KRaft cluster id (16 bytes in URL-safe base64, 22 characters); derive one with kraft_cluster_id")]
    ClusterId(String),
    /// A follower fetch wait Kafka refuses at startup.
    #[error("replica.fetch.wait.max.ms ({fetch_wait}) must not exceed replica.lag.time.max.ms ({lag_max}) or {} ms, or Kafka refuses to start; shorten the fetch wait", super::apache_kafka::REPLICA_SOCKET_TIMEOUT_MS)]
    FetchWait {
        /// `replica.fetch.wait.max.ms`.
        fetch_wait: u128,
        /// `replica.lag.time.max.ms`.
        lag_max: u128,
    },
    /// An imbalance percentage beyond Kafka's `int`.
    #[error("leader.imbalance.per.broker.percentage ({0}) is too large; use 0 to 100")]
    ImbalancePercentage(u32),
    /// A duration longer than the `int` of milliseconds Kafka reads.
    #[error("{property} ({} ms) is longer than Kafka accepts ({} ms); use a shorter duration", .duration.as_millis(), i32::MAX)]
    TooLong {
        /// Kafka's property.
        property: &'static str,
        /// The duration asked for.
        duration: std::time::Duration,
    },
    /// A count Kafka needs to be at least 1.
    #[error("{property} is {value}; Kafka needs at least 1")]
    BelowOne {
        /// Kafka's property.
        property: &'static str,
        /// The value asked for.
        value: i64,
    },
}
