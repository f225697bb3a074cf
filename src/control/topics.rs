//! Creating a topic from a command or a script: the sandbox's own checks first (sane counts,
//! enough live brokers, said in the cluster's terms), then CreateTopics.

use crate::backend::snapshot::{BrokerState, ClusterSnapshot};
use crate::backend::ClusterControl;
use crate::client::admin::Admin;
use crate::client::ClientError;

use super::{count, ControlError};

/// The most partitions a topic may be created with: far beyond any lesson, well below what
/// would take the sandbox minutes to place and replicate.
pub(crate) const MAX_PARTITIONS: i64 = 10_000;

/// Why `replication` replicas cannot be placed now, in the cluster's own terms, or `None` if
/// they can: "replication factor 3 needs 3 live brokers; 2 are up (broker 2 is down)".
pub(crate) fn replication_shortfall(
    snapshot: &ClusterSnapshot,
    replication: i64,
) -> Option<String> {
    let live = snapshot.brokers.iter().filter(|b| !b.fenced).count() as i64;
    if replication <= live {
        return None;
    }
    let total = snapshot.brokers.len() as i64;
    if replication > total {
        return Some(format!(
            "replication factor {replication} needs {replication} brokers; the cluster has {}",
            count(total, "broker", "brokers")
        ));
    }
    let out: Vec<String> = snapshot
        .brokers
        .iter()
        .filter(|b| b.fenced)
        .map(|b| {
            let why = match b.state {
                BrokerState::Up => "out of the cluster".to_string(),
                other => other.to_string(),
            };
            format!("broker {} is {why}", b.id)
        })
        .collect();
    Some(format!(
        "replication factor {replication} needs {replication} live brokers; {} up ({})",
        if live == 1 {
            "1 is".to_string()
        } else {
            format!("{live} are")
        },
        out.join(", ")
    ))
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
        return Err(ControlError::Invalid(format!(
            "cannot create topic '{name}' with {partitions} partitions and replication factor {replication}: both must be at least 1"
        )));
    }
    if partitions > MAX_PARTITIONS {
        return Err(ControlError::Invalid(format!(
            "cannot create topic '{name}': {partitions} partitions is more than the sandbox allows (at most {MAX_PARTITIONS})"
        )));
    }
    let shortfall = |snapshot: &ClusterSnapshot| {
        replication_shortfall(snapshot, replication)
            .map(|why| ControlError::Invalid(format!("cannot create topic '{name}': {why}")))
    };
    if let Some(e) = shortfall(&cluster.snapshot()) {
        return Err(e);
    }
    // Both fit now: partitions ≤ MAX_PARTITIONS, replication ≤ the number of brokers.
    match admin
        .create_topic(name, partitions as i32, replication as i16, configs)
        .await
    {
        Ok(()) => Ok(format!(
            "created topic {name} ({}, replication factor {replication})",
            count(partitions, "partition", "partitions")
        )),
        Err(ClientError::Refused { code, .. }) if code == "INVALID_REPLICATION_FACTOR" => {
            Err(shortfall(&cluster.snapshot()).unwrap_or_else(|| {
                ControlError::Invalid(format!(
                    "cannot create topic '{name}': not enough live brokers for replication factor {replication}"
                ))
            }))
        }
        Err(e) => Err(e.into()),
    }
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
            replication_shortfall(&snapshot, 3).unwrap(),
            "replication factor 3 needs 3 live brokers; 2 are up (broker 2 is down)"
        );
        assert_eq!(
            replication_shortfall(&snapshot, 5).unwrap(),
            "replication factor 5 needs 5 brokers; the cluster has 3 brokers"
        );
        assert_eq!(count(1, "partition", "partitions"), "1 partition");
    }
}
