//! A container as Docker describes it, reduced to what attach needs: the addresses and names
//! it answers to (to find which container runs which broker), and its state and networks when
//! attach found it (to put back at exit what attach changed). Plain data, so that discovery
//! and restoration can be unit-tested without an engine.

use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};

use crate::backend::docker::containers::Engine;
use crate::backend::docker::{ContainerAction, DockerError};

/// How a container sits on one network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Endpoint {
    /// The network's name.
    pub network: String,
    /// Its IPv4 address there (the one it is reconnected with).
    pub ipv4: Option<String>,
    /// The names others on the network reach it by (without Docker's own short-id alias,
    /// which Docker adds by itself).
    pub aliases: Vec<String>,
}

/// A host port a container publishes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Published {
    /// The host address it is bound to (`0.0.0.0`, `::` or empty: every address).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
    /// The port inside the container.
    pub container_port: u16,
}

/// One container as inspected.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Seen {
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// Its hostname inside its networks.
    pub hostname: String,
    /// Whether it runs (a paused container runs).
    pub running: bool,
    /// Whether it is frozen.
    pub paused: bool,
    /// Every network it is on.
    pub endpoints: Vec<Endpoint>,
    /// Every host port it publishes.
    pub published: Vec<Published>,
}

impl Seen {
    /// Reads Docker's inspect answer.
    pub(crate) fn from_inspect(inspect: ContainerInspectResponse) -> Self {
        let short_id: String = inspect
            .id
            .clone()
            .unwrap_or_default()
            .chars()
            .take(12)
            .collect();
        let state = inspect.state.unwrap_or_default();
        let settings = inspect.network_settings.unwrap_or_default();
        let mut endpoints: Vec<Endpoint> = settings
            .networks
            .unwrap_or_default()
            .into_iter()
            .map(|(network, e)| Endpoint {
                network,
                // A fixed address asked for at creation, else the one the network gave.
                ipv4: e
                    .ipam_config
                    .and_then(|c| c.ipv4_address)
                    .or(e.ip_address)
                    .filter(|ip| !ip.is_empty()),
                aliases: e
                    .aliases
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| *a != short_id)
                    .collect(),
            })
            .collect();
        endpoints.sort_by(|a, b| a.network.cmp(&b.network));
        let mut published: Vec<Published> = settings
            .ports
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(port, bindings)| {
                let container_port = port
                    .split('/')
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or(0);
                bindings
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(move |b| {
                        Some(Published {
                            host_ip: b.host_ip.unwrap_or_default(),
                            host_port: b.host_port?.parse().ok()?,
                            container_port,
                        })
                    })
            })
            .collect();
        published.sort_by_key(|p| (p.host_port, p.host_ip.clone()));
        Self {
            name: inspect
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            hostname: inspect.config.and_then(|c| c.hostname).unwrap_or_default(),
            running: state.running.unwrap_or(false),
            paused: state.paused.unwrap_or(false),
            endpoints,
            published,
        }
    }

    /// Whether `host` names this container: one of its addresses, its name, its hostname or
    /// one of its aliases on any network.
    pub(crate) fn answers_to(&self, host: &str) -> bool {
        host == self.name
            || host == self.hostname
            || self
                .endpoints
                .iter()
                .any(|e| e.ipv4.as_deref() == Some(host) || e.aliases.iter().any(|a| a == host))
    }
}

/// Inspects container `name` (for `--containers`, and to see what changed since attach).
pub(crate) async fn inspect(engine: &Engine, name: &str) -> Result<Seen, bollard::errors::Error> {
    engine
        .docker()
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .map(Seen::from_inspect)
}

/// [`inspect`], for a container the driver already drives.
pub(crate) async fn inspect_driven(engine: &Engine, name: &str) -> Result<Seen, DockerError> {
    inspect(engine, name)
        .await
        .map_err(DockerError::on(ContainerAction::Inspect, name))
}

/// Inspects every running container (paused ones included): the candidates for brokers.
pub(crate) async fn running(engine: &Engine) -> Result<Vec<Seen>, DockerError> {
    let list = engine
        .docker()
        .list_containers(Some(ListContainersOptionsBuilder::default().build()))
        .await
        .map_err(|cause| DockerError::List {
            what: "containers",
            cause,
        })?;
    let mut seen = Vec::new();
    for id in list.into_iter().filter_map(|c| c.id) {
        // A container that went away between the list and the inspect is not a broker.
        if let Ok(c) = inspect(engine, &id).await {
            seen.push(c);
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_gives_every_network_with_its_address_and_the_published_ports() {
        let inspect: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "Id": "06b59d7cf28a0123456789",
            "Name": "/proj-kafka-1",
            "Config": { "Hostname": "kafka-1" },
            "State": { "Running": true, "Paused": true },
            "NetworkSettings": {
                "Ports": { "19092/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "9092" }],
                           "9999/tcp": null },
                "Networks": {
                    "proj_kafka": { "IPAMConfig": { "IPv4Address": "10.92.0.11" },
                                    "IPAddress": "10.92.0.11",
                                    "Aliases": ["06b59d7cf28a", "kafka-1"] },
                    "bridge": { "IPAddress": "172.17.0.4", "Aliases": null }
                }
            }
        }))
        .unwrap();
        let seen = Seen::from_inspect(inspect);
        assert_eq!(seen.name, "proj-kafka-1");
        assert!(seen.running && seen.paused);
        assert_eq!(
            seen.endpoints,
            vec![
                Endpoint {
                    network: "bridge".into(),
                    ipv4: Some("172.17.0.4".into()),
                    aliases: vec![],
                },
                Endpoint {
                    network: "proj_kafka".into(),
                    ipv4: Some("10.92.0.11".into()),
                    aliases: vec!["kafka-1".into()],
                },
            ],
            "every network; Docker's short-id alias left to Docker"
        );
        assert_eq!(
            seen.published,
            vec![Published {
                host_ip: "0.0.0.0".into(),
                host_port: 9092,
                container_port: 19092,
            }]
        );
        for host in ["10.92.0.11", "172.17.0.4", "kafka-1", "proj-kafka-1"] {
            assert!(seen.answers_to(host), "{host}");
        }
        assert!(!seen.answers_to("kafka-2"));
    }
}
