//! Cluster backends behind one control surface. Today: the embedded cluster. The snapshot
//! types describe any backend's cluster the same way.

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
