//! Leaders and ISRs: AlterPartition proposals from leaders, elections (clean, unclean,
//! preferred), and the automatic preferred-leader rebalance.

use std::time::Instant;

use uuid::Uuid;

use super::ControllerState;
use crate::cluster::image::{PartitionImage, NO_LEADER};
use crate::cluster::{KafkaError, ResponseError};

/// Which kind of election ElectLeaders asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElectionType {
    /// Move leadership back to the first replica.
    Preferred,
    /// Elect any live replica for leaderless partitions, accepting data loss.
    Unclean,
}

impl ControllerState {
    /// AlterPartition: the leader proposes a new ISR. Checked against the leader epoch and the
    /// partition epoch so that a deposed leader or a stale proposal cannot win, and refused
    /// from a leader whose heartbeats stopped a session ago: it is about to be fenced (cut off
    /// by a network partition, say), and shrinking the ISR to itself first would leave the
    /// partition without an eligible leader once it is.
    #[allow(clippy::too_many_arguments)] // mirrors the fields of one AlterPartition entry
    pub(crate) fn alter_partition(
        &mut self,
        broker: i32,
        broker_epoch: i64,
        topic_id: Uuid,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: &[i32],
        now: Instant,
    ) -> Result<PartitionImage, KafkaError> {
        if self.image.brokers.get(&broker).map(|b| b.epoch) != Some(broker_epoch) {
            return Err(KafkaError::new(
                ResponseError::StaleBrokerEpoch,
                format!("broker {broker} epoch {broker_epoch} is stale"),
            ));
        }
        let silent = self
            .sessions
            .get(&broker)
            .is_none_or(|s| now.saturating_duration_since(s.last_heartbeat) > self.session_timeout);
        if !self.image.is_alive(broker) || silent {
            return Err(KafkaError::new(
                ResponseError::StaleBrokerEpoch,
                format!("broker {broker} is fenced or missed its heartbeats; its ISR changes are not accepted"),
            ));
        }
        let alive = self.image.live_brokers();
        let Some(topic) = self.image.topics.values_mut().find(|t| t.id == topic_id) else {
            return Err(KafkaError::new(
                ResponseError::UnknownTopicId,
                "no such topic",
            ));
        };
        let Some(p) = topic.partitions.get_mut(partition as usize) else {
            return Err(KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                "no such partition",
            ));
        };
        if p.leader != broker {
            return Err(KafkaError::new(
                ResponseError::NotLeaderOrFollower,
                format!("broker {broker} is not the leader (leader is {})", p.leader),
            ));
        }
        if leader_epoch != p.leader_epoch {
            return Err(KafkaError::new(
                ResponseError::FencedLeaderEpoch,
                format!("leader epoch {leader_epoch} is not {}", p.leader_epoch),
            ));
        }
        if partition_epoch != p.partition_epoch {
            return Err(KafkaError::new(
                ResponseError::InvalidUpdateVersion,
                format!(
                    "partition epoch {partition_epoch} is not {}",
                    p.partition_epoch
                ),
            ));
        }
        if !new_isr.contains(&broker) || new_isr.iter().any(|r| !p.replicas.contains(r)) {
            return Err(KafkaError::new(
                ResponseError::InvalidRequest,
                "the ISR must contain the leader and only replicas",
            ));
        }
        if new_isr
            .iter()
            .any(|r| !p.isr.contains(r) && !alive.contains(r))
        {
            return Err(KafkaError::new(
                ResponseError::IneligibleReplica,
                "a fenced broker cannot join the ISR",
            ));
        }
        if p.isr != new_isr {
            p.isr = new_isr.to_vec();
            p.partition_epoch += 1;
            self.changed = true;
        }
        Ok(p.clone())
    }

    /// ElectLeaders for one partition.
    pub fn elect(
        &mut self,
        topic: &str,
        partition: i32,
        kind: ElectionType,
    ) -> Result<i32, KafkaError> {
        let alive = self.image.live_brokers();
        let p = self
            .image
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
            .ok_or_else(|| {
                KafkaError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("{topic}-{partition} does not exist"),
                )
            })?;
        match kind {
            ElectionType::Preferred => {
                let preferred = p.replicas[0];
                if p.leader == preferred {
                    return Err(KafkaError::new(
                        ResponseError::ElectionNotNeeded,
                        "the preferred replica already leads",
                    ));
                }
                if !alive.contains(&preferred) || !p.isr.contains(&preferred) {
                    return Err(KafkaError::new(
                        ResponseError::PreferredLeaderNotAvailable,
                        format!("preferred replica {preferred} is not alive and in sync"),
                    ));
                }
                set_leader(p, preferred);
            }
            ElectionType::Unclean => {
                if p.leader != NO_LEADER {
                    return Err(KafkaError::new(
                        ResponseError::ElectionNotNeeded,
                        "the partition has a leader",
                    ));
                }
                elect_leader(p, &alive, true);
                if p.leader == NO_LEADER {
                    return Err(KafkaError::new(
                        ResponseError::EligibleLeadersNotAvailable,
                        "no replica of this partition is alive",
                    ));
                }
            }
        }
        self.changed = true;
        Ok(p.leader)
    }

    /// Kafka's automatic leader rebalance: for each broker whose share of partitions led by
    /// someone else exceeds the imbalance percentage, hand back what it can lead.
    /// Returns the partitions moved.
    pub(crate) fn rebalance_preferred_leaders(&mut self) -> Vec<(String, i32)> {
        if !self.defaults.auto_leader_rebalance {
            return Vec::new();
        }
        let alive = self.image.live_brokers();
        let mut moved = Vec::new();
        for broker in alive.iter().copied() {
            let mut preferred = 0u32;
            let mut elsewhere = Vec::new();
            for (name, topic) in &self.image.topics {
                for (i, p) in topic.partitions.iter().enumerate() {
                    if p.replicas[0] == broker {
                        preferred += 1;
                        if p.leader != broker {
                            elsewhere.push((name.clone(), i as i32));
                        }
                    }
                }
            }
            if preferred == 0
                || (elsewhere.len() as u32) * 100
                    <= self.defaults.leader_imbalance_per_broker_percentage * preferred
            {
                continue;
            }
            for (name, i) in elsewhere {
                if self.elect(&name, i, ElectionType::Preferred).is_ok() {
                    moved.push((name, i));
                }
            }
        }
        moved
    }
}

/// Elects a leader: the first replica (in replica order) that is alive and in the ISR; with
/// unclean election allowed and none in sync, any live replica, which then becomes the whole
/// ISR — the data it lacks is lost. Bumps the epochs when the leader changes.
pub(super) fn elect_leader(p: &mut PartitionImage, alive: &[i32], unclean: bool) {
    let clean = p
        .replicas
        .iter()
        .copied()
        .find(|r| alive.contains(r) && p.isr.contains(r));
    let chosen = match clean {
        Some(r) => Some(r),
        None if unclean => p.replicas.iter().copied().find(|r| alive.contains(r)),
        None => None,
    };
    match chosen {
        Some(r) => {
            if !p.isr.contains(&r) {
                p.isr = vec![r];
            }
            set_leader(p, r);
        }
        None => set_leader(p, NO_LEADER),
    }
}

fn set_leader(p: &mut PartitionImage, leader: i32) {
    if p.leader != leader {
        p.leader = leader;
        p.leader_epoch += 1;
        p.partition_epoch += 1;
    }
}
