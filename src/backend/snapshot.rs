//! A point-in-time view of a cluster: brokers and their state, and per partition the leader,
//! replicas, ISR and each replica's log end offset and high watermark. Its `Display` is the
//! `status` table, laid out like `kafka-topics --describe`.

use std::fmt;

use crate::cluster::image::{MetadataImage, NO_LEADER};

/// What a broker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Running and reachable.
    Up,
    /// Stopped or killed.
    Down,
    /// Frozen.
    Paused,
    /// Running but cut off from its peers.
    Isolated,
}

impl fmt::Display for BrokerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BrokerState::Up => "up",
            BrokerState::Down => "down",
            BrokerState::Paused => "paused",
            BrokerState::Isolated => "isolated",
        })
    }
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatus {
    /// Broker id.
    pub id: i32,
    /// Advertised address (`host:port`).
    pub addr: String,
    /// Process state.
    pub state: BrokerState,
    /// Whether the controller has fenced it (out of the cluster).
    pub fenced: bool,
    /// The metadata offset the broker has applied (-1 if down).
    pub metadata_offset: i64,
}

/// Log end offset and high watermark of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaOffsets {
    /// The broker holding the replica.
    pub broker: i32,
    /// Its log end offset.
    pub log_end_offset: i64,
    /// Its high watermark.
    pub high_watermark: i64,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSnapshot {
    /// Partition index.
    pub partition: i32,
    /// Leader id, or -1.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas on brokers that are out of the cluster.
    pub offline: Vec<i32>,
    /// Per-replica offsets.
    pub offsets: Vec<ReplicaOffsets>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSnapshot {
    /// Name.
    pub name: String,
    /// Effective min.insync.replicas.
    pub min_insync_replicas: i32,
    /// Effective unclean.leader.election.enable.
    pub unclean_leader_election: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionSnapshot>,
}

/// The whole cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSnapshot {
    /// Controller metadata offset.
    pub metadata_offset: i64,
    /// Brokers by id.
    pub brokers: Vec<BrokerStatus>,
    /// Topics by name.
    pub topics: Vec<TopicSnapshot>,
}

impl ClusterSnapshot {
    /// A broker by id.
    pub fn broker(&self, id: i32) -> Option<&BrokerStatus> {
        self.brokers.iter().find(|b| b.id == id)
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicSnapshot> {
        self.topics.iter().find(|t| t.name == name)
    }
}

fn ids(list: &[i32]) -> String {
    list.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl TopicSnapshot {
    /// Every topic of `image`; `offsets(topic id, partition, replica)` gives a replica's log
    /// end offset and high watermark where the caller knows them.
    pub fn all_from_image(
        image: &MetadataImage,
        offsets: impl Fn(uuid::Uuid, i32, i32) -> Option<ReplicaOffsets>,
    ) -> Vec<TopicSnapshot> {
        image
            .topics
            .iter()
            .map(|(name, t)| TopicSnapshot {
                name: name.clone(),
                min_insync_replicas: t.min_insync_replicas,
                unclean_leader_election: t.unclean_leader_election,
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PartitionSnapshot {
                        partition: i as i32,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replicas.clone(),
                        isr: p.isr.clone(),
                        offline: image.offline_replicas(p),
                        offsets: p
                            .replicas
                            .iter()
                            .filter_map(|r| offsets(t.id, i as i32, *r))
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }
}

impl fmt::Display for ClusterSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Brokers:")?;
        for b in &self.brokers {
            let membership = if b.fenced { "fenced" } else { "in cluster" };
            writeln!(
                f,
                "  {:>3}  {:<21}  {:<8}  {membership}",
                b.id,
                b.addr.to_string(),
                b.state.to_string()
            )?;
        }
        for t in &self.topics {
            if t.name.starts_with("__") {
                continue;
            }
            let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
            writeln!(
                f,
                "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tmin.insync.replicas: {}",
                t.name,
                t.partitions.len(),
                rf,
                t.min_insync_replicas
            )?;
            for p in &t.partitions {
                let leader = if p.leader == NO_LEADER {
                    "none".to_string()
                } else {
                    p.leader.to_string()
                };
                let offline = if p.offline.is_empty() {
                    String::new()
                } else {
                    format!("\tOffline: {}", ids(&p.offline))
                };
                let offsets = if p.offsets.is_empty() {
                    String::new()
                } else {
                    let each = p
                        .offsets
                        .iter()
                        .map(|o| format!("{}:{}/{}", o.broker, o.log_end_offset, o.high_watermark))
                        .collect::<Vec<_>>()
                        .join(" ");
                    format!("\tLEO/HW: {each}")
                };
                writeln!(
                    f,
                    "\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}{offline}\tEpoch: {}{offsets}",
                    p.partition,
                    ids(&p.replicas),
                    ids(&p.isr),
                    p.leader_epoch
                )?;
            }
        }
        Ok(())
    }
}
