//! What admin calls return, and how it prints: a topic's partition layout in the format of
//! `kafka-topics --describe`, and a consumer group with its members, committed offsets and lag.

use std::fmt;

/// One partition's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLayout {
    /// Partition index.
    pub partition: i32,
    /// Leader id, -1 if none.
    pub leader: i32,
    /// Replicas, preferred first.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas on brokers missing from the cluster's metadata.
    pub offline: Vec<i32>,
}

/// A topic's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLayout {
    /// Topic name.
    pub name: String,
    /// Partitions.
    pub partitions: Vec<PartitionLayout>,
}

fn ids(list: &[i32]) -> String {
    list.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for TopicLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rf = self.partitions.first().map_or(0, |p| p.replicas.len());
        writeln!(
            f,
            "Topic: {}  PartitionCount: {}  ReplicationFactor: {}",
            self.name,
            self.partitions.len(),
            rf
        )?;
        let leader = |p: &PartitionLayout| {
            if p.leader < 0 {
                "none".to_string()
            } else {
                p.leader.to_string()
            }
        };
        let width = |f: &dyn Fn(&PartitionLayout) -> usize| {
            self.partitions.iter().map(f).max().unwrap_or(1)
        };
        let w_leader = width(&|p| leader(p).len());
        let w_replicas = width(&|p| ids(&p.replicas).len());
        let w_isr = width(&|p| ids(&p.isr).len());
        let w_part = self.partitions.len().saturating_sub(1).to_string().len();
        for p in &self.partitions {
            let offline = if p.offline.is_empty() {
                String::new()
            } else {
                format!("  Offline: {}", ids(&p.offline))
            };
            let line = format!(
                "  Partition: {:<w_part$}  Leader: {:<w_leader$}  Replicas: {:<w_replicas$}  Isr: {:<w_isr$}{offline}",
                p.partition,
                leader(p),
                ids(&p.replicas),
                ids(&p.isr),
            );
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A group member as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Member id.
    pub member_id: String,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Assigned (topic, partition) pairs.
    pub assignment: Vec<(String, i32)>,
}

/// One partition's committed offset and lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset.
    pub committed: i64,
    /// Log end (high watermark), or -1 when its leader did not answer.
    pub end: i64,
    /// end - committed, or -1 when the end is unknown.
    pub lag: i64,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub name: String,
    /// State (Stable, Empty, PreparingRebalance, …; Dead if unknown).
    pub state: String,
    /// Assignor.
    pub protocol: String,
    /// Members.
    pub members: Vec<GroupMember>,
    /// Committed offsets.
    pub offsets: Vec<GroupOffset>,
}

impl fmt::Display for GroupDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Group: {}  State: {}  Assignor: {}  Members: {}",
            self.name,
            self.state,
            self.protocol,
            self.members.len()
        )?;
        let w_client = self
            .members
            .iter()
            .map(|m| m.client_id.len())
            .max()
            .unwrap_or(0)
            .max(6);
        for m in &self.members {
            let parts: Vec<String> = m
                .assignment
                .iter()
                .map(|(t, p)| format!("{t}[{p}]"))
                .collect();
            writeln!(
                f,
                "  {:<w_client$}  {}  {}",
                m.client_id,
                m.client_host,
                parts.join(" ")
            )?;
        }
        if !self.offsets.is_empty() {
            writeln!(
                f,
                "  {:<24} {:>9} {:>9} {:>9} {:>5}",
                "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"
            )?;
            let known = |v: i64| {
                if v < 0 {
                    "?".to_string()
                } else {
                    v.to_string()
                }
            };
            for o in &self.offsets {
                writeln!(
                    f,
                    "  {:<24} {:>9} {:>9} {:>9} {:>5}",
                    o.topic,
                    o.partition,
                    o.committed,
                    known(o.end),
                    known(o.lag)
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_describe_table_is_aligned_and_marks_offline_replicas() {
        let layout = TopicLayout {
            name: "t".into(),
            partitions: vec![
                PartitionLayout {
                    partition: 0,
                    leader: 3,
                    replicas: vec![3, 2, 1],
                    isr: vec![3, 1],
                    offline: vec![2],
                },
                PartitionLayout {
                    partition: 1,
                    leader: -1,
                    replicas: vec![1],
                    isr: vec![1],
                    offline: vec![1],
                },
            ],
        };
        let text = layout.to_string();
        assert_eq!(
            text,
            "Topic: t  PartitionCount: 2  ReplicationFactor: 3\n  Partition: 0  Leader: 3     Replicas: 3,2,1  Isr: 3,1  Offline: 2\n  Partition: 1  Leader: none  Replicas: 1      Isr: 1    Offline: 1\n"
        );
    }
}
