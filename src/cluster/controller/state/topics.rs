//! Topic creation, growth (CreatePartitions) and deletion: Kafka's name and config validation, replica placement, the
//! topic-level settings the controller acts on.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::ControllerState;
use crate::cluster::assignment::{assign_replicas, assign_replicas_across_racks};
use crate::cluster::image::{PartitionImage, TopicImage, NO_LEADER};
use crate::cluster::{KafkaError, ResponseError};

/// A request to create one topic.
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count, or -1 for the default.
    pub partitions: i32,
    /// Replication factor, or -1 for the default.
    pub replication: i16,
    /// Explicit replica lists, by partition (overrides counts when non-empty).
    pub assignments: Vec<Vec<i32>>,
    /// Topic configs.
    pub configs: BTreeMap<String, String>,
}

/// Every topic config Kafka documents (its names), accepted by CreateTopics and reported by
/// DescribeConfigs. The sandbox acts on `min.insync.replicas`, `unclean.leader.election.enable`,
/// `cleanup.policy` (keyless records refused when compacted) and `message.timestamp.type`; the
/// rest are stored and reported as set (see docs/architecture.md). The last three were
/// removed in Kafka 4.0 and are still accepted from older tools.
const KNOWN_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.difference.max.ms",
];

impl ControllerState {
    /// CreateTopics for one topic. With `validate_only` nothing changes.
    pub fn create_topic(&mut self, req: &NewTopic, validate_only: bool) -> Result<(), KafkaError> {
        validate_topic_name(&req.name)?;
        if self.image.topics.contains_key(&req.name) {
            return Err(KafkaError::new(
                ResponseError::TopicAlreadyExists,
                format!("topic '{}' already exists", req.name),
            ));
        }
        let live = self.image.live_brokers();
        let replicas = if req.assignments.is_empty() {
            let partitions = if req.partitions == -1 {
                self.defaults.num_partitions
            } else {
                req.partitions
            };
            let replication = if req.replication == -1 {
                self.defaults.replication_factor
            } else {
                req.replication
            };
            if partitions < 1 {
                return Err(KafkaError::new(
                    ResponseError::InvalidPartitions,
                    "the number of partitions must be at least 1",
                ));
            }
            if replication < 1 {
                return Err(KafkaError::new(
                    ResponseError::InvalidReplicationFactor,
                    "the replication factor must be at least 1",
                ));
            }
            self.place(&live, partitions, i32::from(replication))?
        } else {
            for r in &req.assignments {
                let mut distinct = r.clone();
                distinct.sort();
                distinct.dedup();
                if r.is_empty()
                    || distinct.len() != r.len()
                    || r.iter().any(|b| !self.image.brokers.contains_key(b))
                {
                    return Err(KafkaError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!("replica list {r:?} must name distinct registered brokers"),
                    ));
                }
            }
            req.assignments.clone()
        };
        let (min_isr, unclean) = self.resolve_configs(&req.configs)?;
        if validate_only {
            return Ok(());
        }
        let partitions = replicas
            .into_iter()
            .map(|replicas| {
                let leader = replicas
                    .iter()
                    .copied()
                    .find(|r| live.contains(r))
                    .unwrap_or(NO_LEADER);
                PartitionImage {
                    isr: replicas.clone(),
                    replicas,
                    leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                }
            })
            .collect();
        self.image.topics.insert(
            req.name.clone(),
            TopicImage {
                id: Uuid::new_v4(),
                configs: req.configs.clone(),
                min_insync_replicas: min_isr,
                unclean_leader_election: unclean,
                partitions,
            },
        );
        self.changed = true;
        Ok(())
    }

    /// CreatePartitions: grows `name` to `count` partitions. New partitions get the topic's
    /// replication factor, placed as Kafka places a topic's partitions (or on `assignments`,
    /// one replica list per new partition), led by their first live replica with every
    /// replica in sync (they are empty). Partitions are never removed.
    pub fn create_partitions(
        &mut self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let Some(topic) = self.image.topics.get(name) else {
            return Err(KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            ));
        };
        let current = topic.partitions.len() as i32;
        if count <= current {
            let why = if count == current {
                format!("topic '{name}' already has {current} partitions")
            } else {
                format!("topic '{name}' has {current} partitions, more than the {count} asked for; partitions cannot be removed")
            };
            return Err(KafkaError::new(ResponseError::InvalidPartitions, why));
        }
        let replication = topic.partitions.first().map_or(1, |p| p.replicas.len()) as i32;
        let added = count - current;
        let live = self.image.live_brokers();
        let replicas = match assignments {
            Some(lists) => {
                if lists.len() != added as usize {
                    return Err(KafkaError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!(
                            "{} replica lists given for {added} new partitions",
                            lists.len()
                        ),
                    ));
                }
                for r in lists {
                    let mut distinct = r.clone();
                    distinct.sort();
                    distinct.dedup();
                    if distinct.len() != r.len()
                        || r.len() as i32 != replication
                        || r.iter().any(|b| !self.image.brokers.contains_key(b))
                    {
                        return Err(KafkaError::new(
                            ResponseError::InvalidReplicaAssignment,
                            format!("replica list {r:?} must name {replication} distinct registered brokers"),
                        ));
                    }
                }
                lists.to_vec()
            }
            None => {
                let mut all = self.place(&live, count, replication)?;
                all.split_off(current as usize)
            }
        };
        if validate_only {
            return Ok(());
        }
        let topic = self.image.topics.get_mut(name).expect("checked above");
        topic
            .partitions
            .extend(replicas.into_iter().map(|replicas| {
                PartitionImage {
                    leader: replicas
                        .iter()
                        .copied()
                        .find(|r| live.contains(r))
                        .unwrap_or(NO_LEADER),
                    isr: replicas.clone(),
                    replicas,
                    leader_epoch: 0,
                    partition_epoch: 0,
                }
            }));
        self.changed = true;
        Ok(())
    }

    /// Kafka's placement over the live brokers, with random seeds; across racks when any
    /// broker has one.
    fn place(
        &self,
        live: &[i32],
        partitions: i32,
        replication: i32,
    ) -> Result<Vec<Vec<i32>>, KafkaError> {
        let seed = Uuid::new_v4().as_u128();
        let (start, shift) = ((seed & 0xffff) as usize, ((seed >> 16) & 0xffff) as usize);
        let racked: Vec<(i32, Option<String>)> = live
            .iter()
            .map(|id| (*id, self.image.brokers.get(id).and_then(|b| b.rack.clone())))
            .collect();
        let placed = if racked.iter().any(|(_, rack)| rack.is_some()) {
            assign_replicas_across_racks(&racked, partitions, replication, start, shift)
        } else {
            assign_replicas(live, partitions, replication, start, shift)
        };
        placed.map_err(|e| KafkaError::new(ResponseError::InvalidReplicationFactor, e.to_string()))
    }

    pub(super) fn resolve_configs(
        &self,
        configs: &BTreeMap<String, String>,
    ) -> Result<(i32, bool), KafkaError> {
        let invalid = |msg: String| KafkaError::new(ResponseError::InvalidConfig, msg);
        for key in configs.keys() {
            if !KNOWN_TOPIC_CONFIGS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "unknown topic config '{key}' (known: {})",
                    KNOWN_TOPIC_CONFIGS.join(", ")
                )));
            }
        }
        let min_isr = match configs.get("min.insync.replicas") {
            None => self.defaults.min_insync_replicas,
            Some(v) => match v.parse::<i32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(invalid(format!(
                        "min.insync.replicas must be an integer >= 1, got '{v}'"
                    )))
                }
            },
        };
        let unclean = match configs.get("unclean.leader.election.enable") {
            None => self.defaults.unclean_leader_election,
            Some(v) => match v.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(invalid(format!(
                        "unclean.leader.election.enable must be true or false, got '{v}'"
                    )))
                }
            },
        };
        if let Some(v) = configs.get("cleanup.policy") {
            let ok = v
                .split(',')
                .all(|p| matches!(p.trim(), "delete" | "compact"));
            if !ok || v.trim().is_empty() {
                return Err(invalid(format!(
                    "cleanup.policy must be delete, compact or both, got '{v}'"
                )));
            }
        }
        if let Some(v) = configs.get("message.timestamp.type") {
            if !matches!(v.as_str(), "CreateTime" | "LogAppendTime") {
                return Err(invalid(format!(
                    "message.timestamp.type must be CreateTime or LogAppendTime, got '{v}'"
                )));
            }
        }
        Ok((min_isr, unclean))
    }

    /// DeleteTopics for one topic.
    pub(crate) fn delete_topic(&mut self, name: &str) -> Result<Uuid, KafkaError> {
        match self.image.topics.remove(name) {
            Some(t) => {
                self.changed = true;
                Ok(t.id)
            }
            None => Err(KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            )),
        }
    }
}

/// Kafka's topic-name rules: 1–249 characters from `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn validate_topic_name(name: &str) -> Result<(), KafkaError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    if name.is_empty() || name.len() > 249 || !ok_chars || name == "." || name == ".." {
        return Err(KafkaError::new(
            ResponseError::InvalidTopicException,
            format!(
                "'{name}' is not a valid topic name: use 1-249 letters, digits, '.', '_' or '-'"
            ),
        ));
    }
    Ok(())
}
