//! Admin calls through librdkafka: topics, partition layout (what `kafka-topics --describe`
//! and `kcat -L` show) and consumer groups with committed offsets and lag.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ConsumerProtocolAssignment;
use kafka_protocol::protocol::Decodable;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::ClientError;

const TIMEOUT: Duration = Duration::from_secs(10);

/// An admin connection to a cluster.
pub struct Admin {
    bootstrap: String,
    client: AdminClient<DefaultClientContext>,
}

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
        let w_leader = self
            .partitions
            .iter()
            .map(|p| leader(p).len())
            .max()
            .unwrap_or(1);
        let w_replicas = self
            .partitions
            .iter()
            .map(|p| ids(&p.replicas).len())
            .max()
            .unwrap_or(1);
        let w_isr = self
            .partitions
            .iter()
            .map(|p| ids(&p.isr).len())
            .max()
            .unwrap_or(1);
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
    /// Committed offset, or -1.
    pub committed: i64,
    /// Log end (high watermark).
    pub end: i64,
    /// end - committed (or end when nothing is committed).
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
            for o in &self.offsets {
                let committed = if o.committed < 0 {
                    "-".to_string()
                } else {
                    o.committed.to_string()
                };
                writeln!(
                    f,
                    "  {:<24} {:>9} {:>9} {:>9} {:>5}",
                    o.topic, o.partition, committed, o.end, o.lag
                )?;
            }
        }
        Ok(())
    }
}

fn decode_assignment(bytes: &[u8]) -> Vec<(String, i32)> {
    if bytes.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    let mut buf = Bytes::copy_from_slice(&bytes[2..]);
    match ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3)) {
        Ok(a) => a
            .assigned_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.to_string(), *p)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Per-attempt metadata timeout: a request that went to a broker which just died is abandoned
/// quickly and asked again (librdkafka picks a live broker the next time).
const METADATA_ATTEMPT: Duration = Duration::from_millis(1500);

impl Admin {
    /// Metadata for every topic, retried across brokers for up to [`TIMEOUT`].
    fn metadata(&self) -> Result<rdkafka::metadata::Metadata, ClientError> {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            match self.client.inner().fetch_metadata(None, METADATA_ATTEMPT) {
                Ok(md) => return Ok(md),
                Err(e) if std::time::Instant::now() >= deadline => return Err(e.into()),
                Err(_) => {}
            }
        }
    }

    /// Connects to `bootstrap`.
    pub fn new(bootstrap: &str) -> Result<Self, ClientError> {
        let client = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()?;
        Ok(Self {
            bootstrap: bootstrap.to_string(),
            client,
        })
    }

    /// CreateTopics.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i32,
        configs: &[(String, String)],
    ) -> Result<(), ClientError> {
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let results = self
            .client
            .create_topics(
                &[topic],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            )
            .await?;
        for r in results {
            r.map_err(|(_, code)| {
                ClientError::Invalid(format!("cannot create topic '{name}': {code}"))
            })?;
        }
        Ok(())
    }

    /// DeleteTopics.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let results = self
            .client
            .delete_topics(
                &[name],
                &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
            )
            .await?;
        for r in results {
            r.map_err(|(_, code)| {
                ClientError::Invalid(format!("cannot delete topic '{name}': {code}"))
            })?;
        }
        Ok(())
    }

    /// Topic names, internal topics left out, sorted.
    pub fn topics(&self) -> Result<Vec<String>, ClientError> {
        let md = self.metadata()?;
        let mut names: Vec<String> = md
            .topics()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|n| !n.starts_with("__"))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Broker ids in the cluster's metadata.
    pub fn live_brokers(&self) -> Result<Vec<i32>, ClientError> {
        let md = self.metadata()?;
        Ok(md.brokers().iter().map(|b| b.id()).collect())
    }

    /// Partition layout of a topic, as a client sees it in Metadata.
    pub fn describe(&self, topic: &str) -> Result<TopicLayout, ClientError> {
        // Ask for every topic: a Metadata request naming an unknown topic could create it.
        let md = self.metadata()?;
        let live: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
            let mut names: Vec<&str> = md
                .topics()
                .iter()
                .map(|t| t.name())
                .filter(|n| !n.starts_with("__"))
                .collect();
            names.sort();
            let list = if names.is_empty() {
                "there are none yet; create_topic() makes one".to_string()
            } else {
                format!("topics are {}", names.join(", "))
            };
            return Err(ClientError::Invalid(format!(
                "topic '{topic}' does not exist; {list}"
            )));
        };
        if let Some(err) = t.error() {
            let code: rdkafka::types::RDKafkaErrorCode = err.into();
            return Err(ClientError::Invalid(format!(
                "topic '{topic}': {code}; see topics() for the list"
            )));
        }
        let mut partitions: Vec<PartitionLayout> = t
            .partitions()
            .iter()
            .map(|p| PartitionLayout {
                partition: p.id(),
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                isr: p.isr().to_vec(),
                offline: p
                    .replicas()
                    .iter()
                    .copied()
                    .filter(|r| !live.contains(r))
                    .collect(),
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        Ok(TopicLayout {
            name: topic.to_string(),
            partitions,
        })
    }

    /// DescribeGroups plus committed offsets and lag for the group's topics.
    pub fn describe_group(&self, name: &str) -> Result<GroupDescription, ClientError> {
        let list = self.client.inner().fetch_group_list(Some(name), TIMEOUT)?;
        let info = list.groups().iter().find(|g| g.name() == name);
        let (state, protocol, members) = match info {
            Some(g) => (
                g.state().to_string(),
                g.protocol().to_string(),
                g.members()
                    .iter()
                    .map(|m| GroupMember {
                        member_id: m.id().to_string(),
                        client_id: m.client_id().to_string(),
                        client_host: m.client_host().to_string(),
                        assignment: m.assignment().map(decode_assignment).unwrap_or_default(),
                    })
                    .collect::<Vec<_>>(),
            ),
            None => ("Dead".to_string(), String::new(), Vec::new()),
        };
        let mut topics: Vec<String> = members
            .iter()
            .flat_map(|m| m.assignment.iter().map(|(t, _)| t.clone()))
            .collect();
        if topics.is_empty() {
            topics = self.topics()?;
        }
        topics.sort();
        topics.dedup();
        let offsets = self.committed(name, &topics)?;
        Ok(GroupDescription {
            name: name.to_string(),
            state,
            protocol,
            members,
            offsets,
        })
    }

    fn committed(&self, group: &str, topics: &[String]) -> Result<Vec<GroupOffset>, ClientError> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()?;
        let mut partitions: BTreeMap<(String, i32), ()> = BTreeMap::new();
        for t in topics {
            for p in self.describe(t)?.partitions {
                partitions.insert((t.clone(), p.partition), ());
            }
        }
        let mut tpl = TopicPartitionList::new();
        for (t, p) in partitions.keys() {
            tpl.add_partition(t, *p);
        }
        let committed = consumer.committed_offsets(tpl, TIMEOUT)?;
        let mut out = Vec::new();
        for e in committed.elements() {
            let committed = match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            };
            if committed < 0 {
                continue;
            }
            let (_, end) = consumer.fetch_watermarks(e.topic(), e.partition(), TIMEOUT)?;
            out.push(GroupOffset {
                topic: e.topic().to_string(),
                partition: e.partition(),
                committed,
                end,
                lag: (end - committed).max(0),
            });
        }
        Ok(out)
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
