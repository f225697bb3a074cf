//! The cluster commands, defined once: `serve` parses them from its stdin lines, the script
//! bindings (`cluster.stop(2)`, `create_topic(…)`) build them from their arguments, and both
//! run them the same way against any backend, with the same words for the outcome. The help
//! `serve` prints, in `--help` and for `help`, is generated from this one definition.

use clap::Subcommand;

use crate::backend::{ClusterControl, ClusterError};
use crate::client::admin::Admin;
use crate::client::ClientError;

mod parse;
mod topics;
pub use parse::{help, parse, ControlParseError};
pub use topics::{create_topic, Shortfall};

/// One control command.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
#[command(rename_all = "lower")]
pub enum Control {
    /// Brokers, and per partition the leader, replicas, ISR and each replica's log end / high watermark
    Status,
    /// Controlled shutdown of broker N: its leaderships move away first
    Stop {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Crash broker N: the controller notices when its heartbeats stop
    Kill {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Start broker N again, with the data it had
    Start {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Controlled stop, then start, of broker N
    Restart {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Freeze broker N, like docker pause: it answers nothing and sends nothing
    Pause {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Thaw paused broker N
    #[command(alias = "unpause")]
    Resume {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Cut broker N off from its peers and the controller (a network partition)
    Isolate {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// Reconnect broker N, or every isolated broker
    Heal {
        /// Broker id (omit for all).
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: Option<i64>,
    },
    /// Move leadership back to the preferred replicas now
    Elect,
    /// Freeze the controller: brokers serve on, but no election or ISR change happens
    #[command(name = "pause-controller")]
    PauseController,
    /// Thaw the controller; it gives every broker a fresh session
    #[command(name = "resume-controller")]
    ResumeController,
    /// Create a topic, like kafka-topics --create --partitions P --replication-factor RF
    Create {
        /// Topic name.
        topic: String,
        /// Number of partitions.
        #[arg(value_name = "PARTITIONS", allow_negative_numbers = true)]
        partitions: i64,
        /// Replication factor.
        #[arg(value_name = "RF", allow_negative_numbers = true)]
        replication: i64,
    },
    /// Broker N's recent log lines (processes and docker backends)
    Logs {
        /// Broker id.
        #[arg(value_name = "N", allow_negative_numbers = true)]
        id: i64,
    },
    /// This list
    #[command(alias = "?")]
    Help,
    /// Stop the cluster and exit (also Ctrl-C, or the end of input)
    #[command(alias = "exit")]
    Quit,
}

/// Why a command failed, in the words of the layer that refused it.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The cluster refused (no such broker, not running, …).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A Kafka request failed or was refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A partition count or replication factor below 1.
    #[error("cannot create topic '{topic}' with {partitions} partitions and replication factor {replication}: both must be at least 1")]
    TopicCounts {
        /// The topic.
        topic: String,
        /// Partitions asked for.
        partitions: i64,
        /// Replication factor asked for.
        replication: i64,
    },
    /// More partitions than the sandbox creates.
    #[error("cannot create topic '{topic}': {partitions} partitions is more than the sandbox allows (at most {})", topics::MAX_PARTITIONS)]
    TooManyPartitions {
        /// The topic.
        topic: String,
        /// Partitions asked for.
        partitions: i64,
    },
    /// Too few brokers, or too few live ones, for the replicas.
    #[error("cannot create topic '{topic}': {shortfall}")]
    Shortfall {
        /// The topic.
        topic: String,
        /// What is missing.
        shortfall: Shortfall,
    },
    /// The brokers refused the replication factor, though the snapshot shows enough of them.
    #[error("cannot create topic '{topic}': not enough live brokers for replication factor {replication}")]
    NotEnoughLive {
        /// The topic.
        topic: String,
        /// Replication factor asked for.
        replication: i64,
    },
}

/// "1 partition", "8 partitions".
pub fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The broker id, if the cluster has such a broker; otherwise the error names the number as
/// typed (which may not even fit a broker id).
fn broker(cluster: &dyn ClusterControl, id: i64) -> Result<i32, ClusterError> {
    let known = cluster.brokers();
    match i32::try_from(id) {
        Ok(b) if known.contains(&b) => Ok(b),
        _ => Err(ClusterError::UnknownBroker { id, known }),
    }
}

impl Control {
    /// Runs the command and returns what to print.
    pub(crate) async fn execute(
        &self,
        cluster: &dyn ClusterControl,
        admin: &Admin,
    ) -> Result<String, ControlError> {
        Ok(match self {
            Control::Status => cluster.snapshot().to_string(),
            Control::Stop { id } => {
                let id = broker(cluster, *id)?;
                cluster.stop(id).await?;
                format!("broker {id} stopped (controlled shutdown)")
            }
            Control::Kill { id } => {
                let id = broker(cluster, *id)?;
                cluster.kill(id).await?;
                format!("broker {id} killed")
            }
            Control::Start { id } => {
                let id = broker(cluster, *id)?;
                cluster.start(id).await?;
                format!("broker {id} started")
            }
            Control::Restart { id } => {
                let id = broker(cluster, *id)?;
                cluster.restart(id).await?;
                format!("broker {id} restarted")
            }
            Control::Pause { id } => {
                let id = broker(cluster, *id)?;
                cluster.pause(id).await?;
                format!("broker {id} paused")
            }
            Control::Resume { id } => {
                let id = broker(cluster, *id)?;
                cluster.resume(id).await?;
                format!("broker {id} resumed")
            }
            Control::Isolate { id } => {
                let id = broker(cluster, *id)?;
                cluster.isolate(id).await?;
                format!("broker {id} isolated from its peers")
            }
            Control::Heal { id: Some(id) } => {
                let id = broker(cluster, *id)?;
                cluster.heal(Some(id)).await?;
                format!("broker {id} reconnected")
            }
            Control::Heal { id: None } => {
                cluster.heal(None).await?;
                "every isolated broker reconnected".into()
            }
            Control::Elect => {
                let moved = admin.elect_preferred_leaders().await?;
                if moved.is_empty() {
                    "every partition is already led by its preferred replica (or that replica is not in sync)".into()
                } else {
                    let list: Vec<String> = moved.iter().map(|(t, p)| format!("{t}-{p}")).collect();
                    format!("preferred leaders restored for {}", list.join(", "))
                }
            }
            Control::PauseController => {
                cluster.set_controller_paused(true).await?;
                "controller paused: brokers keep serving, but nothing can change the metadata"
                    .into()
            }
            Control::ResumeController => {
                cluster.set_controller_paused(false).await?;
                "controller resumed".into()
            }
            Control::Create {
                topic,
                partitions,
                replication,
            } => create_topic(cluster, admin, topic, *partitions, *replication, &[]).await?,
            Control::Logs { id } => {
                let id = broker(cluster, *id)?;
                cluster.logs(id).await?
            }
            Control::Help => help(),
            Control::Quit => String::new(),
        })
    }
}
