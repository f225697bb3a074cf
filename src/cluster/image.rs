//! The metadata image: everything the controller decides (brokers, topics, per-partition leader,
//! epochs, replicas, ISR). The controller appends each new image to its `__cluster_metadata`
//! log; brokers fetch that log and act on the newest image, as KRaft brokers do with deltas.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// "No leader" in Kafka's protocol.
pub(crate) const NO_LEADER: i32 = -1;

/// A registered broker as the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerImage {
    /// Broker id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Registration epoch, new at every (re)start.
    pub epoch: i64,
    /// Fenced brokers are out of the cluster: no leadership, no ISR membership.
    pub fenced: bool,
    /// `broker.rack`: replicas of a partition are spread over racks when brokers have them.
    #[serde(default)]
    pub rack: Option<String>,
}

/// One partition's replication state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    /// Replica broker ids; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replicas. Never empty: the last member stays even when it is down.
    pub isr: Vec<i32>,
    /// Current leader, or [`NO_LEADER`].
    pub leader: i32,
    /// Bumped at every leader change.
    pub leader_epoch: i32,
    /// Bumped at every change of leader or ISR.
    pub partition_epoch: i32,
}

/// A topic with its resolved settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    /// Topic id.
    pub id: Uuid,
    /// Configs set explicitly at creation.
    pub configs: BTreeMap<String, String>,
    /// Effective `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// Effective `unclean.leader.election.enable`.
    pub unclean_leader_election: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionImage>,
}

/// The whole cluster as of one metadata offset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// Offset of this image in the metadata log.
    pub offset: i64,
    /// Cluster id.
    pub cluster_id: String,
    /// Registered brokers by id.
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
}

impl MetadataImage {
    /// True if `id` is registered and not fenced.
    pub(crate) fn is_alive(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Ids of unfenced brokers, ascending.
    pub(crate) fn live_brokers(&self) -> Vec<i32> {
        self.brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.id)
            .collect()
    }

    /// The id clients are told is "the controller". Like KRaft, clients never reach the real
    /// controller: they get a live broker, which forwards admin requests.
    pub(crate) fn client_visible_controller(&self) -> i32 {
        self.live_brokers().first().copied().unwrap_or(NO_LEADER)
    }

    /// Replicas of `partition` hosted on fenced or unknown brokers.
    pub(crate) fn offline_replicas(&self, partition: &PartitionImage) -> Vec<i32> {
        partition
            .replicas
            .iter()
            .copied()
            .filter(|r| !self.is_alive(*r))
            .collect()
    }

    /// Finds a topic by id.
    pub(crate) fn topic_by_id(&self, id: Uuid) -> Option<(&String, &TopicImage)> {
        self.topics.iter().find(|(_, t)| t.id == id)
    }
}
