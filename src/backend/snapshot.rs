//! The one view of a cluster everything shows: brokers and their state, and per partition the
//! leader, replicas, ISR and (where the backend can see them) each replica's log end offset and
//! high watermark. The REPL's `status` and `describe`, the browser page (`/api/state`), the
//! metrics and the timeline report all read these types; they serialise to JSON as-is.

use std::fmt;

use comfy_table::{presets::NOTHING, Cell, ContentArrangement, Table};
use serde::Serialize;

use crate::cluster::image::{MetadataImage, NO_LEADER};
use crate::cluster::BrokerId;

/// What a broker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

/// Counters a broker keeps about the requests it served (where the backend can read them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BrokerCounters {
    /// Records appended as leader (Kafka's `MessagesInPerSec`, as a total).
    pub messages_in: u64,
    /// Produce requests answered with an error (`FailedProduceRequestsPerSec`, as a total).
    pub failed_produce_requests: u64,
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerStatus {
    /// Broker id.
    pub id: BrokerId,
    /// Advertised address (`host:port`).
    pub addr: String,
    /// Process state.
    pub state: BrokerState,
    /// Whether the controller has fenced it (out of the cluster).
    pub fenced: bool,
    /// The metadata offset the broker has applied (`None` where unknown).
    pub metadata_offset: Option<i64>,
    /// Request counters (`None` where the backend cannot read them).
    pub counters: Option<BrokerCounters>,
}

/// Log end offset and high watermark of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReplicaOffsets {
    /// The broker holding the replica.
    pub broker: BrokerId,
    /// Its log end offset.
    pub log_end_offset: i64,
    /// Its high watermark.
    pub high_watermark: i64,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionView {
    /// Partition index.
    pub partition: i32,
    /// Leader, if it has one.
    pub leader: Option<BrokerId>,
    /// Leader epoch (`None` where the backend does not report it).
    pub leader_epoch: Option<i32>,
    /// Replicas, preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Replicas on brokers that are out of the cluster.
    pub offline: Vec<BrokerId>,
    /// Per-replica offsets (empty where the backend cannot see them).
    pub offsets: Vec<ReplicaOffsets>,
}

impl PartitionView {
    /// True if broker `id` leads it.
    pub fn led_by(&self, id: i32) -> bool {
        self.leader == Some(BrokerId(id))
    }

    /// True if broker `id` is in its ISR.
    pub fn in_sync(&self, id: i32) -> bool {
        self.isr.contains(&BrokerId(id))
    }

    /// Fewer in-sync replicas than replicas (Kafka's under-replicated partition).
    pub fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicView {
    /// Name.
    pub name: String,
    /// Effective `min.insync.replicas`, where known.
    pub min_insync_replicas: Option<i32>,
    /// Effective `unclean.leader.election.enable`, where known.
    pub unclean_leader_election: Option<bool>,
    /// Partitions by index.
    pub partitions: Vec<PartitionView>,
}

/// The whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSnapshot {
    /// Controller metadata offset.
    pub metadata_offset: i64,
    /// The broker clients are told is the controller, if any.
    pub controller: Option<BrokerId>,
    /// Brokers by id.
    pub brokers: Vec<BrokerStatus>,
    /// Topics by name.
    pub topics: Vec<TopicView>,
}

impl ClusterSnapshot {
    /// A broker by id.
    pub fn broker(&self, id: i32) -> Option<&BrokerStatus> {
        self.brokers.iter().find(|b| b.id == BrokerId(id))
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<&TopicView> {
        self.topics.iter().find(|t| t.name == name)
    }
}

/// Broker ids as `kafka-topics` prints them: `3,2,1`.
pub(crate) fn id_list(ids: &[BrokerId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn leader_text(leader: Option<BrokerId>) -> String {
    leader.map_or_else(|| "none".to_string(), |l| l.to_string())
}

/// The broker id of an image's leader field.
fn leader_of(id: i32) -> Option<BrokerId> {
    (id != NO_LEADER).then_some(BrokerId(id))
}

fn ids(list: &[i32]) -> Vec<BrokerId> {
    list.iter().copied().map(BrokerId).collect()
}

impl TopicView {
    /// Every topic of `image`; `offsets(topic id, partition, replica)` gives a replica's log
    /// end offset and high watermark where the caller knows them.
    pub(crate) fn all_from_image(
        image: &MetadataImage,
        offsets: impl Fn(uuid::Uuid, i32, i32) -> Option<ReplicaOffsets>,
    ) -> Vec<TopicView> {
        image
            .topics
            .iter()
            .map(|(name, t)| TopicView {
                name: name.clone(),
                min_insync_replicas: Some(t.min_insync_replicas),
                unclean_leader_election: Some(t.unclean_leader_election),
                partitions: t
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(i, p)| PartitionView {
                        partition: i as i32,
                        leader: leader_of(p.leader),
                        leader_epoch: Some(p.leader_epoch),
                        replicas: ids(&p.replicas),
                        isr: ids(&p.isr),
                        offline: ids(&image.offline_replicas(p)),
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

    /// The table `kafka-topics --describe` prints, columns aligned.
    pub(crate) fn describe_table(&self) -> String {
        let rf = self.partitions.first().map_or(0, |p| p.replicas.len());
        let mut out = format!(
            "Topic: {}  PartitionCount: {}  ReplicationFactor: {}\n",
            self.name,
            self.partitions.len(),
            rf
        );
        let width =
            |f: &dyn Fn(&PartitionView) -> usize| self.partitions.iter().map(f).max().unwrap_or(1);
        let w_leader = width(&|p| leader_text(p.leader).len());
        let w_replicas = width(&|p| id_list(&p.replicas).len());
        let w_isr = width(&|p| id_list(&p.isr).len());
        let w_part = self.partitions.len().saturating_sub(1).to_string().len();
        for p in &self.partitions {
            let offline = if p.offline.is_empty() {
                String::new()
            } else {
                format!("  Offline: {}", id_list(&p.offline))
            };
            let line = format!(
                "  Partition: {:<w_part$}  Leader: {:<w_leader$}  Replicas: {:<w_replicas$}  Isr: {:<w_isr$}{offline}",
                p.partition,
                leader_text(p.leader),
                id_list(&p.replicas),
                id_list(&p.isr),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A borderless, left-aligned table, the way command-line tools print them.
pub(crate) fn plain_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| Cell::new(*h)));
    table
}

/// A table's lines without the padding comfy-table leaves at their ends.
pub(crate) fn rendered(table: &Table) -> String {
    table
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for ClusterSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Brokers:")?;
        let mut brokers = plain_table(&["BROKER", "ADDRESS", "STATE", "MEMBERSHIP"]);
        for b in &self.brokers {
            let mut membership = if b.fenced { "fenced" } else { "in cluster" }.to_string();
            if self.controller == Some(b.id) {
                membership.push_str(" (controller for clients)");
            }
            brokers.add_row(vec![
                b.id.to_string(),
                b.addr.clone(),
                b.state.to_string(),
                membership,
            ]);
        }
        writeln!(f, "{}", rendered(&brokers))?;
        for t in self.topics.iter().filter(|t| !t.name.starts_with("__")) {
            let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
            let min_isr = t
                .min_insync_replicas
                .map_or_else(|| "?".to_string(), |m| m.to_string());
            writeln!(
                f,
                "Topic: {}  PartitionCount: {}  ReplicationFactor: {}  min.insync.replicas: {min_isr}",
                t.name,
                t.partitions.len(),
                rf,
            )?;
            let with_offsets = t.partitions.iter().any(|p| !p.offsets.is_empty());
            let mut header = vec!["PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE", "EPOCH"];
            if with_offsets {
                header.push("LEO/HW PER REPLICA");
            }
            let mut table = plain_table(&header);
            for p in &t.partitions {
                let mut row = vec![
                    p.partition.to_string(),
                    leader_text(p.leader),
                    id_list(&p.replicas),
                    id_list(&p.isr),
                    if p.offline.is_empty() {
                        "-".to_string()
                    } else {
                        id_list(&p.offline)
                    },
                    p.leader_epoch
                        .map_or_else(|| "?".to_string(), |e| e.to_string()),
                ];
                if with_offsets {
                    row.push(
                        p.offsets
                            .iter()
                            .map(|o| {
                                format!("{}:{}/{}", o.broker, o.log_end_offset, o.high_watermark)
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                }
                table.add_row(row);
            }
            writeln!(f, "{}", rendered(&table))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(index: i32, leader: Option<i32>, replicas: &[i32], isr: &[i32]) -> PartitionView {
        PartitionView {
            partition: index,
            leader: leader.map(BrokerId),
            leader_epoch: Some(1),
            replicas: ids(replicas),
            isr: ids(isr),
            offline: Vec::new(),
            offsets: Vec::new(),
        }
    }

    #[test]
    fn the_describe_table_is_aligned_and_marks_offline_replicas() {
        let mut p0 = partition(0, Some(3), &[3, 2, 1], &[3, 1]);
        p0.offline = ids(&[2]);
        let mut p1 = partition(1, None, &[1], &[1]);
        p1.offline = ids(&[1]);
        let topic = TopicView {
            name: "t".into(),
            min_insync_replicas: None,
            unclean_leader_election: None,
            partitions: vec![p0, p1],
        };
        assert_eq!(
            topic.describe_table(),
            "Topic: t  PartitionCount: 2  ReplicationFactor: 3\n  Partition: 0  Leader: 3     Replicas: 3,2,1  Isr: 3,1  Offline: 2\n  Partition: 1  Leader: none  Replicas: 1      Isr: 1    Offline: 1\n"
        );
    }

    #[test]
    fn no_leader_is_null_in_json_not_minus_one() {
        let json = serde_json::to_value(partition(0, None, &[1, 2], &[1])).unwrap();
        assert_eq!(json["leader"], serde_json::Value::Null);
        assert_eq!(json["replicas"], serde_json::json!([1, 2]));
        assert!(partition(0, Some(2), &[1, 2], &[1]).under_replicated());
    }
}
