//! Cluster backends behind one control surface: the embedded cluster in this process, and
//! clusters watched over the Kafka protocol ([`remote`]) whose brokers are child processes
//! ([`processes`]), containers ([`docker`]) or someone else's ([`attach`]). The snapshot types
//! describe any backend's cluster the same way.

pub mod attach;
pub mod book;
pub mod docker;
pub mod drive;
pub mod embedded;
pub mod events;
pub mod observer;
pub mod processes;
pub mod remote;
pub mod snapshot;

use remote::BrokerDriver;
use thiserror::Error;

/// Why a cluster-control call failed, phrased for the person who asked.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// No broker has that id.
    #[error("broker {id} does not exist; brokers are {}", list(.known))]
    UnknownBroker {
        /// The id asked for (as typed, which may not even fit a broker id).
        id: i64,
        /// The ids that exist.
        known: Vec<i32>,
    },
    /// The broker is already running.
    #[error("broker {0} is already running; stop or kill it first")]
    AlreadyRunning(i32),
    /// The broker is not running.
    #[error("broker {0} is not running; start it first")]
    NotRunning(i32),
    /// The broker is paused and cannot do a controlled shutdown.
    #[error("broker {0} is paused and cannot shut down cleanly; resume it first, or kill it")]
    Paused(i32),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {cause}; pick another port (or 0 for any free port)")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The settings cannot be turned into containers.
    #[error("invalid cluster settings: {0}")]
    InvalidConfig(#[from] docker::spec::SpecError),
    /// The settings are unusable (checked by [`crate::config::ClusterConfig::validate`]).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The cluster did not come up.
    #[error("the cluster did not become ready: {0}")]
    NotReady(NotReady),
    /// The cluster is watched, not run, by the sandbox.
    #[error("this cluster can be observed but not controlled: {0}")]
    NotControllable(attach::NoControl),
    /// This backend cannot pause the controller.
    #[error("the {backend} backend cannot pause the controller (the embedded and processes backends can); start the cluster with one of those to try it")]
    ControllerPauseUnsupported {
        /// The backend's name.
        backend: &'static str,
    },
    /// The processes backend's controller is gone.
    #[error(
        "the controller process is not running; start the cluster again to pause or resume it"
    )]
    ControllerNotRunning,
    /// The embedded cluster keeps no broker log lines.
    #[error("the embedded cluster's brokers log to this terminal, not to a buffer: start kafka-sandbox with KAFKA_SANDBOX_LOG=info to see their lines (cluster.logs works with --cluster processes or docker)")]
    LogsUnbuffered,
    /// A node process could not be started.
    #[error("cannot start {program}: {cause}")]
    NodeStart {
        /// The program.
        program: String,
        /// Why not.
        #[source]
        cause: std::io::Error,
    },
    /// A node process started but never said it was listening.
    #[error("node `{node}` {why}; its last log lines:\n{log}")]
    NodeNotListening {
        /// The node's arguments.
        node: String,
        /// "exited at start", "did not start listening within 10 s".
        why: String,
        /// Its last lines on stderr.
        log: String,
    },
    /// A node process printed something other than its address.
    #[error("a node said {0:?} instead of its address; is the binary a kafka-sandbox of the same version?")]
    NodeAddress(String),
    /// The directory for the nodes' partition logs could not be made.
    #[error("cannot create {}, where the nodes keep their logs: {cause}; check that the temporary directory (TMPDIR) is writable", .dir.display())]
    DataDir {
        /// The directory.
        dir: std::path::PathBuf,
        /// Why not.
        cause: std::io::Error,
    },
    /// A signal could not be delivered to a node process.
    #[error("cannot signal node process {pid}: {cause}")]
    NodeSignal {
        /// The process.
        pid: i32,
        /// Why not.
        #[source]
        cause: std::io::Error,
    },
    /// The Docker engine refused or failed.
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a started cluster did not become ready in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// The embedded brokers never all registered with the controller.
    #[error("brokers did not join the controller within {} s; run with KAFKA_SANDBOX_LOG=info to see why", .0.as_secs())]
    NotJoined(std::time::Duration),
    /// Nothing answers at the bootstrap address.
    #[error("no broker at {bootstrap} answered a Metadata request within {} s; is the cluster running and is that its address?", .waited.as_secs())]
    NoAnswer {
        /// The bootstrap servers.
        bootstrap: String,
        /// How long the sandbox waited.
        waited: std::time::Duration,
    },
    /// Some brokers never appeared in the metadata.
    #[error("after {} s the metadata lists brokers {seen:?} of {expected:?}; the missing brokers' logs say why", .waited.as_secs())]
    MissingBrokers {
        /// How long the sandbox waited.
        waited: std::time::Duration,
        /// The live brokers in the metadata.
        seen: Vec<i32>,
        /// The brokers started.
        expected: Vec<i32>,
    },
    /// Every broker is in the metadata, but topics cannot be created yet.
    #[error("the brokers are in the metadata, but a CreateTopics was still refused after {} s; the brokers' logs say why", .0.as_secs())]
    CreateTopicsRefused(std::time::Duration),
}

fn list(ids: &[i32]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A boxed future, so that cluster control can sit behind `dyn`.
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the REPL, scripts and lessons can do to a cluster, whatever runs it.
pub trait ClusterControl: Send + Sync {
    /// Broker ids, ascending.
    fn brokers(&self) -> Vec<i32>;
    /// Bootstrap servers for clients.
    fn bootstrap(&self) -> String;
    /// Controlled shutdown of a broker.
    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Crash a broker.
    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Start a stopped broker.
    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Stop, then start a broker.
    fn restart(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Freeze a broker.
    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Thaw a broker.
    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Cut a broker off from its peers.
    fn isolate(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Freeze (true) or thaw (false) the controller: brokers keep serving with the metadata
    /// they have, but nothing can change it (no elections, no ISR changes, no new topics).
    fn set_controller_paused(&self, paused: bool) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Reconnect one broker, or all.
    fn heal(&self, id: Option<i32>) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// The broker's recent log lines.
    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>>;
    /// The cluster's state, as a snapshot.
    fn snapshot(&self) -> snapshot::ClusterSnapshot;
    /// Cluster events from now on.
    fn events(&self) -> tokio::sync::mpsc::UnboundedReceiver<events::ClusterEvent>;
    /// Each consumer group's generation, where the backend can read it from the coordinators
    /// (`None`: it cannot; no classic-protocol request returns it to an outsider).
    fn group_generations(&self) -> Option<std::collections::BTreeMap<String, i32>> {
        None
    }
    /// A short name of the backend for people: `embedded`, `processes`, `docker`, `attach`.
    fn kind(&self) -> &'static str;
    /// Stop everything.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
    /// Why broker control is refused on this cluster (`None`: it is not), so that what needs
    /// it can refuse to start instead of failing half-way. (No default: a wrapper that forgot
    /// to pass it on would hide the reason.)
    fn uncontrolled(&self) -> Option<attach::NoControl>;
}

impl ClusterControl for embedded::EmbeddedCluster {
    fn brokers(&self) -> Vec<i32> {
        self.broker_ids()
    }
    fn bootstrap(&self) -> String {
        embedded::EmbeddedCluster::bootstrap(self)
    }
    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(embedded::EmbeddedCluster::stop_broker(self, id))
    }
    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.driver().kill(id)
    }
    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.driver().start(id)
    }
    fn restart(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(drive::restart(self.driver(), id))
    }
    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.driver().pause(id)
    }
    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.driver().resume(id)
    }
    fn isolate(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.driver().set_isolated(id, true)
    }
    fn set_controller_paused(&self, paused: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.freeze_controller(paused);
        Box::pin(std::future::ready(Ok(())))
    }
    fn heal(&self, id: Option<i32>) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(drive::heal(self.driver(), id))
    }
    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        self.driver().logs(id)
    }
    fn snapshot(&self) -> snapshot::ClusterSnapshot {
        embedded::EmbeddedCluster::snapshot(self)
    }
    fn events(&self) -> tokio::sync::mpsc::UnboundedReceiver<events::ClusterEvent> {
        self.watch_events()
    }
    fn group_generations(&self) -> Option<std::collections::BTreeMap<String, i32>> {
        Some(embedded::EmbeddedCluster::group_generations(self))
    }
    fn kind(&self) -> &'static str {
        self.driver().kind()
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(embedded::EmbeddedCluster::shutdown(self))
    }
    fn uncontrolled(&self) -> Option<attach::NoControl> {
        None
    }
}

/// Why `--cluster` (with `--image` or `--containers`) names no backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Not one of the backends.
    #[error(
        "unknown cluster '{0}'; use embedded, processes, docker or attach=HOST:PORT[,HOST:PORT…]"
    )]
    Unknown(String),
    /// The processes backend runs this binary, which cannot be found.
    #[error(
        "cannot find the kafka-sandbox binary: {0}; run it by its path, or use --cluster embedded"
    )]
    NoExecutable(std::io::Error),
    /// `--image` without `--cluster docker`.
    #[error("--image is for --cluster docker; add --cluster docker, or leave --image out")]
    ImageWithoutDocker,
    /// `--containers` without `--cluster attach=…`.
    #[error("--containers is for --cluster attach=…; add --cluster attach=HOST:PORT, or leave --containers out")]
    ContainersWithoutAttach,
    /// `--leave-as-is` without `--cluster attach=…`.
    #[error("--leave-as-is is for --cluster attach=…; the other backends remove what they start, so leave it out")]
    LeaveAsIsWithoutAttach,
    /// The servers or the container map cannot be read.
    #[error(transparent)]
    Attach(#[from] attach::AttachError),
}

/// Which backend runs the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Every node in this process.
    Embedded,
    /// Every node a child process of `exe` (the kafka-sandbox binary).
    Processes {
        /// The binary to run as `exe node ...`.
        exe: std::path::PathBuf,
    },
    /// Every broker a container: Apache Kafka, or the sandbox's node image.
    Docker(docker::DockerOptions),
    /// Someone else's cluster.
    Attach(attach::AttachSpec),
}

impl Backend {
    /// Parses `--cluster`: `embedded`, `processes`, `docker` or `attach=HOST:PORT[,…]`.
    pub fn parse(
        value: &str,
        image: Option<&str>,
        containers: Option<&str>,
    ) -> Result<Self, BackendError> {
        let backend = match value {
            "embedded" => Backend::Embedded,
            "processes" => Backend::Processes {
                exe: std::env::current_exe().map_err(BackendError::NoExecutable)?,
            },
            "docker" => Backend::Docker(docker::DockerOptions {
                image: image
                    .unwrap_or(docker::apache_kafka::DEFAULT_IMAGE)
                    .to_string(),
                keep_on_failure: false,
            }),
            other => match other.strip_prefix("attach=") {
                Some(servers) => {
                    let mut spec = attach::AttachSpec::parse(servers)?;
                    if let Some(map) = containers {
                        spec.containers = attach::AttachSpec::parse_containers(map)?;
                    }
                    Backend::Attach(spec)
                }
                None => return Err(BackendError::Unknown(other.to_string())),
            },
        };
        if image.is_some() && !matches!(backend, Backend::Docker(_)) {
            return Err(BackendError::ImageWithoutDocker);
        }
        if containers.is_some() && !matches!(backend, Backend::Attach(_)) {
            return Err(BackendError::ContainersWithoutAttach);
        }
        Ok(backend)
    }

    /// Starts (or attaches to) the cluster.
    pub async fn start(
        &self,
        config: crate::config::ClusterConfig,
    ) -> Result<std::sync::Arc<dyn ClusterControl>, ClusterError> {
        use std::sync::Arc;
        Ok(match self {
            Backend::Embedded => Arc::new(embedded::EmbeddedCluster::start(config).await?),
            Backend::Processes { exe } => Arc::new(processes::start(exe.clone(), config).await?),
            Backend::Docker(options) => Arc::new(docker::start(options, config).await?),
            Backend::Attach(spec) => Arc::new(attach::start(spec.clone()).await?),
        })
    }
}
