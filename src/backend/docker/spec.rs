//! A container to create, described without the Docker API's types, so that what the sandbox
//! asks Docker for can be unit-tested as plain data.

use std::collections::BTreeMap;

/// The label every object the sandbox creates carries; `docker clean` removes what has it.
pub const LABEL: &str = "io.kafka-sandbox";

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
    /// Labels (always including [`LABEL`]).
    pub labels: BTreeMap<String, String>,
}
