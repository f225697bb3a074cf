//! What a group lookup returns, and how it prints: a consumer group with its members,
//! committed offsets and lag. A topic's layout is the shared
//! [`crate::backend::snapshot::TopicView`].

use std::fmt;

use crate::backend::snapshot::{plain_table, rendered};

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
            if self.protocol.is_empty() {
                "-"
            } else {
                &self.protocol
            },
            self.members.len()
        )?;
        if self.state == "Dead" && self.members.is_empty() && self.offsets.is_empty() {
            // Kafka answers Dead for a group it has never heard of; its CLI says "does not exist".
            writeln!(
                f,
                "  (no such group: nobody has joined it and it has no committed offsets)"
            )?;
        }
        if !self.members.is_empty() {
            let mut members = plain_table(&["CLIENT-ID", "HOST", "PARTITIONS"]);
            for m in &self.members {
                let parts: Vec<String> = m
                    .assignment
                    .iter()
                    .map(|(t, p)| format!("{t}[{p}]"))
                    .collect();
                members.add_row(vec![
                    m.client_id.clone(),
                    m.client_host.clone(),
                    parts.join(" "),
                ]);
            }
            writeln!(f, "{}", rendered(&members))?;
        }
        if !self.offsets.is_empty() {
            let known = |v: i64| {
                if v < 0 {
                    "?".to_string()
                } else {
                    v.to_string()
                }
            };
            let mut offsets = plain_table(&["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"]);
            for o in &self.offsets {
                offsets.add_row(vec![
                    o.topic.clone(),
                    o.partition.to_string(),
                    o.committed.to_string(),
                    known(o.end),
                    known(o.lag),
                ]);
            }
            writeln!(f, "{}", rendered(&offsets))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(state: &str) -> GroupDescription {
        GroupDescription {
            name: "g".into(),
            state: state.into(),
            protocol: String::new(),
            members: Vec::new(),
            offsets: Vec::new(),
        }
    }

    #[test]
    fn an_unknown_group_is_said_not_to_exist() {
        let unknown = group("Dead").to_string();
        assert!(
            unknown.starts_with("Group: g  State: Dead  Assignor: -  Members: 0\n")
                && unknown.contains("no such group"),
            "{unknown}"
        );
        let empty = group("Empty").to_string();
        assert!(!empty.contains("no such group"), "{empty}");
    }
}
