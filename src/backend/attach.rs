//! The attach backend: a cluster someone else started (the tutorial's docker-compose cluster,
//! `kafka-sandbox serve`, a real Kafka), found by its bootstrap servers. With a container per
//! broker (given with `--containers`, or found by `discover`) broker control goes through
//! Docker, and what it changes is put back at exit (`restore`); without, the cluster is
//! watched but not controlled, and the reason is printed at start.

mod discover;
mod restore;
mod seen;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::docker::containers::Engine;
use super::docker::DockerError;
use super::remote::{BrokerDriver, RemoteCluster};
use super::snapshot::BrokerState;
use super::{BoxFuture, ClusterError};

/// How long the attached cluster gets to answer its first Metadata request.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `--cluster attach=…` or `--containers` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// `attach=` with nothing after it.
    #[error("attach needs bootstrap servers, e.g. attach=localhost:9092")]
    NoServers,
    /// A server without a usable port.
    #[error("'{0}' is not HOST:PORT; write e.g. attach=localhost:9092,localhost:9093")]
    NotHostPort(String),
    /// A container map entry without `=`.
    #[error("'{0}' is not ID=CONTAINER; write e.g. 1=kafka-1,2=kafka-2")]
    NotIdContainer(String),
    /// A container map entry whose id is not a number.
    #[error("'{0}' is not a broker id; write e.g. 1=kafka-1,2=kafka-2")]
    NotBrokerId(String),
}

/// Why the sandbox watches an attached cluster but cannot control its brokers.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoControl {
    /// The first look at the cluster, before its brokers are known.
    #[error("the sandbox is still connecting")]
    Connecting,
    /// Docker, which broker control goes through, is not reachable.
    #[error(
        "{0} (give the brokers' containers with --containers 1=kafka-1,… once Docker is reachable)"
    )]
    NoDocker(Arc<ClusterError>),
    /// No running container has a broker's advertised address or publishes its port.
    #[error("no running container has broker {id}'s address {addr} or publishes its port; name the brokers' containers with --containers {id}=NAME,…")]
    NoContainer {
        /// The broker.
        id: i32,
        /// Its advertised `host:port`.
        addr: String,
    },
    /// Several containers match one broker's advertised address.
    #[error("broker {id} at {addr} could be any of the containers {}; name each broker's container with --containers {id}=NAME,…", .containers.join(", "))]
    Ambiguous {
        /// The broker.
        id: i32,
        /// Its advertised `host:port`.
        addr: String,
        /// The containers that match it.
        containers: Vec<String>,
    },
    /// One container matches several brokers.
    #[error("brokers {} all match container {container}; name each broker's container with --containers 1=NAME,2=NAME,…", super::list(.brokers))]
    Shared {
        /// The container.
        container: String,
        /// The brokers that match it.
        brokers: Vec<i32>,
    },
    /// The named containers cannot be driven.
    #[error(transparent)]
    Adopt(Arc<ClusterError>),
}

/// Where to attach and how to control what is found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachSpec {
    /// Bootstrap servers, `host:port` each.
    pub bootstrap: Vec<String>,
    /// Broker id → container name; empty asks Docker.
    pub containers: BTreeMap<i32, String>,
    /// Leave the containers as a script left them (paused, stopped, cut off) instead of
    /// putting them back at exit.
    pub leave_as_is: bool,
}

impl AttachSpec {
    /// Parses `HOST:PORT[,HOST:PORT…]`.
    pub fn parse(servers: &str) -> Result<Self, AttachError> {
        let bootstrap: Vec<String> = servers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if bootstrap.is_empty() {
            return Err(AttachError::NoServers);
        }
        for server in &bootstrap {
            let port = server.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(p)) if p > 0) {
                return Err(AttachError::NotHostPort(server.clone()));
            }
        }
        Ok(Self {
            bootstrap,
            containers: BTreeMap::new(),
            leave_as_is: false,
        })
    }

    /// Parses a container map, `1=kafka-1,2=kafka-2`.
    pub(crate) fn parse_containers(map: &str) -> Result<BTreeMap<i32, String>, AttachError> {
        map.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (id, name) = pair
                    .split_once('=')
                    .ok_or_else(|| AttachError::NotIdContainer(pair.to_string()))?;
                let id = id
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| AttachError::NotBrokerId(id.to_string()))?;
                Ok((id, name.trim().to_string()))
            })
            .collect()
    }
}

/// A driver for a cluster the sandbox may watch but not touch.
struct Uncontrolled {
    why: NoControl,
}

impl Uncontrolled {
    fn refuse<T: Send + 'static>(&self) -> BoxFuture<'_, Result<T, ClusterError>> {
        Box::pin(std::future::ready(Err(ClusterError::NotControllable(
            self.why.clone(),
        ))))
    }
}

impl BrokerDriver for Uncontrolled {
    fn kind(&self) -> &'static str {
        "attach"
    }

    fn uncontrolled(&self) -> Option<NoControl> {
        Some(self.why.clone())
    }

    fn brokers(&self) -> Vec<i32> {
        Vec::new()
    }
    fn state(&self, _: i32) -> Option<BrokerState> {
        None
    }
    fn stop(&self, _: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.refuse()
    }
    fn kill(&self, _: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.refuse()
    }
    fn start(&self, _: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.refuse()
    }
    fn pause(&self, _: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.refuse()
    }
    fn resume(&self, _: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.refuse()
    }
    fn set_isolated(&self, _: i32, _: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.refuse()
    }
    fn logs(&self, _: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        self.refuse()
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// Attaches to the cluster. Control goes through Docker when every broker has a container;
/// otherwise control calls explain why they cannot act, and that reason is printed now, before
/// a lesson or script gets half-way.
pub async fn start(spec: AttachSpec) -> Result<RemoteCluster, ClusterError> {
    let bootstrap = spec.bootstrap.join(",");
    // First watch without control, to learn the brokers and their advertised addresses.
    let watched = RemoteCluster::start(
        bootstrap.clone(),
        Box::new(Uncontrolled {
            why: NoControl::Connecting,
        }),
        READY_TIMEOUT,
    )
    .await?;
    let advertised = watched.advertised();
    drop(watched);
    let driver: Box<dyn BrokerDriver> = match control(&spec, &advertised).await {
        Ok((driver, names)) => {
            let leave = if spec.leave_as_is {
                "they are left as scripts leave them (--leave-as-is)"
            } else {
                "what scripts change (pause, stop, isolate) is put back at exit"
            };
            eprintln!("attach: brokers run in containers {names}; {leave}");
            Box::new(driver)
        }
        Err(why) => {
            eprintln!(
                "attach: watching only, brokers cannot be stopped, paused or isolated: {why}"
            );
            Box::new(Uncontrolled { why })
        }
    };
    RemoteCluster::start(bootstrap, driver, READY_TIMEOUT).await
}

/// The driver for the brokers' containers, and `1=name, 2=name, …` for people.
async fn control(
    spec: &AttachSpec,
    advertised: &BTreeMap<i32, (String, u16)>,
) -> Result<(restore::AdoptedDriver, String), NoControl> {
    let engine = Engine::connect()
        .await
        .map_err(|e| NoControl::NoDocker(Arc::new(e)))?;
    let docker = |e: DockerError| NoControl::Adopt(Arc::new(e.into()));
    let mut found = BTreeMap::new();
    if spec.containers.is_empty() {
        let running = seen::running(&engine).await.map_err(docker)?;
        for (id, name) in discover::match_brokers(advertised, &running)? {
            if let Some(c) = running.iter().find(|c| c.name == name) {
                found.insert(id, c.clone());
            }
        }
    } else {
        for (id, name) in &spec.containers {
            let c = seen::inspect(&engine, name)
                .await
                .map_err(|cause| DockerError::NoContainer {
                    id: *id,
                    container: name.clone(),
                    cause,
                })
                .map_err(docker)?;
            if let Some((other, _)) = found
                .iter()
                .find(|(_, f): &(_, &seen::Seen)| f.name == c.name)
            {
                return Err(NoControl::Shared {
                    container: c.name,
                    brokers: vec![*other, *id],
                });
            }
            found.insert(*id, c);
        }
    }
    let names = found
        .iter()
        .map(|(id, c)| format!("{id}={}", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let driver = restore::AdoptedDriver::new(engine, found, spec.leave_as_is).map_err(docker)?;
    Ok((driver, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_servers_and_container_maps() {
        let spec = AttachSpec::parse("localhost:9092, kafka-2:19092").unwrap();
        assert_eq!(spec.bootstrap, vec!["localhost:9092", "kafka-2:19092"]);
        assert_eq!(AttachSpec::parse(""), Err(AttachError::NoServers));
        assert!(AttachSpec::parse("localhost")
            .unwrap_err()
            .to_string()
            .contains("HOST:PORT"));
        assert!(AttachSpec::parse("localhost:0").is_err());
        let map = AttachSpec::parse_containers("1=kafka-1,2 = kafka-2").unwrap();
        assert_eq!(map.get(&2).map(String::as_str), Some("kafka-2"));
        assert!(AttachSpec::parse_containers("kafka-1")
            .unwrap_err()
            .to_string()
            .contains("ID=CONTAINER"));
        assert_eq!(
            AttachSpec::parse_containers("x=kafka-1"),
            Err(AttachError::NotBrokerId("x".into()))
        );
    }
}
