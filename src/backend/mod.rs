//! Cluster backends behind one control surface. Today: the embedded cluster. The snapshot
//! types describe any backend's cluster the same way.

pub mod docker;
pub mod embedded;
pub mod events;
pub mod snapshot;

use thiserror::Error;

/// Why a cluster-control call failed, phrased for the person who asked.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// No broker has that id.
    #[error("broker {id} does not exist; brokers are {}", list(.known))]
    UnknownBroker {
        /// The id asked for.
        id: i32,
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
    /// The settings are unusable.
    #[error("invalid cluster settings: {0}")]
    InvalidConfig(String),
    /// The cluster did not come up.
    #[error("the cluster did not become ready: {0}")]
    NotReady(String),
    /// Any other I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn list(ids: &[i32]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A boxed future, so that cluster control can sit behind `dyn`.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

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
    fn pause(&self, id: i32) -> Result<(), ClusterError>;
    /// Thaw a broker.
    fn resume(&self, id: i32) -> Result<(), ClusterError>;
    /// Cut a broker off from its peers.
    fn isolate(&self, id: i32) -> Result<(), ClusterError>;
    /// Reconnect one broker, or all.
    fn heal(&self, id: Option<i32>) -> Result<(), ClusterError>;
    /// The cluster's state, as a snapshot.
    fn snapshot(&self) -> snapshot::ClusterSnapshot;
    /// Cluster events from now on.
    fn events(&self) -> tokio::sync::mpsc::UnboundedReceiver<events::ClusterEvent>;
    /// Stop everything.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

impl ClusterControl for embedded::EmbeddedCluster {
    fn brokers(&self) -> Vec<i32> {
        self.broker_ids()
    }
    fn bootstrap(&self) -> String {
        embedded::EmbeddedCluster::bootstrap(self)
    }
    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(self.stop_broker(id))
    }
    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(self.kill_broker(id))
    }
    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(self.start_broker(id))
    }
    fn restart(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(self.restart_broker(id))
    }
    fn pause(&self, id: i32) -> Result<(), ClusterError> {
        self.pause_broker(id)
    }
    fn resume(&self, id: i32) -> Result<(), ClusterError> {
        self.resume_broker(id)
    }
    fn isolate(&self, id: i32) -> Result<(), ClusterError> {
        self.isolate_broker(id)
    }
    fn heal(&self, id: Option<i32>) -> Result<(), ClusterError> {
        match id {
            Some(id) => self.heal_broker(id),
            None => {
                self.heal_all();
                Ok(())
            }
        }
    }
    fn snapshot(&self) -> snapshot::ClusterSnapshot {
        embedded::EmbeddedCluster::snapshot(self)
    }
    fn events(&self) -> tokio::sync::mpsc::UnboundedReceiver<events::ClusterEvent> {
        self.watch_events()
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(embedded::EmbeddedCluster::shutdown(self))
    }
}
