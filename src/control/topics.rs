//! Creating a topic from a command or a script: the sandbox's own checks first (sane counts,
//! enough live brokers, said in the cluster's terms), then CreateTopics.

use crate::backend::snapshot::{BrokerState, ClusterSnapshot};
use crate::backend::ClusterControl;
use crate::client::admin::Admin;
use crate::client::ClientError;
use crate::cluster::BrokerId;

use super::{count, ControlError};

/// The most partitions a topic may be created with: far beyond any lesson, well below what
/// would take the sandbox minutes to place and replicate.
pub(crate) const MAX_PARTITIONS: i64 = 10_000;

/// Why `replication` replicas cannot be placed now, in the cluster's own terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Shortfall {
    /// The cluster has fewer brokers than replicas, whatever their state.
    #[error("replication factor {replication} needs {replication} brokers; the cluster has {}", count(*.total, "broker", "brokers"))]
    TooFewBrokers {
        /// The replication factor asked for.
        replication: i64,
        /// Brokers in the cluster.
        total: i64,
    },
    /// Enough brokers, but too few of them live.
    #[error("replication factor {replication} needs {replication} live brokers; {} up ({})", are(*.live), out_of_cluster(.out))]
    TooFewLive {
        /// The replication factor asked for.
        replication: i64,
        /// Live brokers.
        live: i64,
        /// The brokers out of the cluster, with their state.
        out: Vec<(BrokerId, BrokerState)>,
    },
}

/// "1 is", "2 are".
fn are(n: i64) -> String {
    if n == 1 {
        "1 is".to_string()
    } else {
        format!("{n} are")
    }
}

/// "broker 2 is down, broker 3 is out of the cluster".
fn out_of_cluster(brokers: &[(BrokerId, BrokerState)]) -> String {
    brokers
        .iter()
        .map(|(id, state)| match state {
            BrokerState::Up => format!("broker {id} is out of the cluster"),
            other => format!("broker {id} is {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `replication` replicas cannot be placed now, or `None` if they can: "replication factor
/// 3 needs 3 live brokers; 2 are up (broker 2 is down)".
pub(crate) fn replication_shortfall(
    snapshot: &ClusterSnapshot,
    replication: i64,
) -> Option<Shortfall> {
    let live = snapshot.brokers.iter().filter(|b| !b.fenced).count() as i64;
    if replication <= live {
        return None;
    }
    let total = snapshot.brokers.len() as i64;
    if replication > total {
        return Some(Shortfall::TooFewBrokers { replication, total });
    }
    Some(Shortfall::TooFewLive {
        replication,
        live,
        out: snapshot
            .brokers
            .iter()
            .filter(|b| b.fenced)
            .map(|b| (b.id, b.state))
            .collect(),
    })
}

/// How long a topic's creation waits for brokers that run but are not in the cluster yet (just
/// started or restarted, still registering with the controller).
const REGISTERING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the brokers that run but are not yet in the cluster (registering after a start)
/// would make `replication` live brokers once they are in: then a creation waits for them
/// rather than refuse, as a script that restarts a broker and creates a topic expects.
fn registering_would_cover(snapshot: &ClusterSnapshot, replication: i64) -> bool {
    let live = snapshot.brokers.iter().filter(|b| !b.fenced).count() as i64;
    let registering = snapshot
        .brokers
        .iter()
        .filter(|b| b.fenced && b.state == BrokerState::Up)
        .count() as i64;
    live < replication && live + registering >= replication
}

/// CreateTopics with the sandbox's checks first: sane counts, and enough live brokers.
pub async fn create_topic(
    cluster: &dyn ClusterControl,
    admin: &Admin,
    name: &str,
    partitions: i64,
    replication: i64,
    configs: &[(String, String)],
) -> Result<String, ControlError> {
    if partitions < 1 || replication < 1 {
        return Err(ControlError::TopicCounts {
            topic: name.to_string(),
            partitions,
            replication,
        });
    }
    if partitions > MAX_PARTITIONS {
        return Err(ControlError::TooManyPartitions {
            topic: name.to_string(),
            partitions,
        });
    }
    let shortfall = |snapshot: &ClusterSnapshot| {
        replication_shortfall(snapshot, replication).map(|shortfall| ControlError::Shortfall {
            topic: name.to_string(),
            shortfall,
        })
    };
    let deadline = tokio::time::Instant::now() + REGISTERING_WAIT;
    loop {
        let snapshot = cluster.snapshot();
        let Some(e) = shortfall(&snapshot) else {
            break;
        };
        if !registering_would_cover(&snapshot, replication)
            || tokio::time::Instant::now() >= deadline
        {
            return Err(e);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Both fit now: partitions ≤ MAX_PARTITIONS, replication ≤ the number of brokers.
    loop {
        match admin
            .create_topic(name, partitions as i32, replication as i16, configs)
            .await
        {
            Ok(()) => {
                return Ok(format!(
                    "created topic {name} ({}, replication factor {replication})",
                    count(partitions, "partition", "partitions")
                ))
            }
            // The controller counts fewer live brokers than the snapshot: one that was just
            // restarted is still registering (or one just killed not yet fenced). Enough run
            // for the replicas, so try again until they are in.
            Err(ClientError::Refused { code, .. })
                if code == "INVALID_REPLICATION_FACTOR"
                    && running(&cluster.snapshot()) >= replication
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(ClientError::Refused { code, .. }) if code == "INVALID_REPLICATION_FACTOR" => {
                return Err(shortfall(&cluster.snapshot()).unwrap_or_else(|| {
                    ControlError::NotEnoughLive {
                        topic: name.to_string(),
                        replication,
                    }
                }))
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Brokers the backend runs and that are neither frozen nor cut off.
fn running(snapshot: &ClusterSnapshot) -> i64 {
    snapshot
        .brokers
        .iter()
        .filter(|b| b.state == BrokerState::Up)
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replication_factor_beyond_the_live_brokers_is_explained() {
        use crate::backend::snapshot::BrokerStatus;
        let snapshot = ClusterSnapshot {
            metadata_offset: 0,
            controller: None,
            brokers: [(1, false), (2, true), (3, false)]
                .iter()
                .map(|(id, fenced)| BrokerStatus {
                    id: crate::cluster::BrokerId(*id),
                    addr: String::new(),
                    state: if *fenced {
                        BrokerState::Down
                    } else {
                        BrokerState::Up
                    },
                    fenced: *fenced,
                    metadata_offset: Some(0),
                    counters: None,
                })
                .collect(),
            topics: Vec::new(),
        };
        assert_eq!(replication_shortfall(&snapshot, 2), None);
        assert_eq!(
            replication_shortfall(&snapshot, 3).unwrap().to_string(),
            "replication factor 3 needs 3 live brokers; 2 are up (broker 2 is down)"
        );
        assert_eq!(
            replication_shortfall(&snapshot, 5).unwrap().to_string(),
            "replication factor 5 needs 5 brokers; the cluster has 3 brokers"
        );
        assert_eq!(count(1, "partition", "partitions"), "1 partition");
        assert!(
            !registering_would_cover(&snapshot, 3),
            "broker 2 is down, not registering"
        );
        let mut restarting = snapshot.clone();
        restarting.brokers[1].state = BrokerState::Up;
        assert!(
            registering_would_cover(&restarting, 3),
            "broker 2 runs and is registering"
        );
        assert!(
            !registering_would_cover(&restarting, 2),
            "2 are live already"
        );
    }
}
