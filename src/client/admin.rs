//! Admin calls over the Kafka protocol: topics, partition layout (what `kafka-topics
//! --describe` and `kcat -L` show) and consumer groups with committed offsets and lag.
//!
//! Every call goes through [`wire::Brokers`], so a paused or cut-off broker costs one short
//! attempt instead of a stalled session, and the answer says which broker stayed silent.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    BrokerId, ConsumerProtocolAssignment, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeGroupsRequest, ElectLeadersRequest, FindCoordinatorRequest, GroupId,
    ListOffsetsRequest, MetadataRequest, MetadataResponse, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::wire::{self, Answer, Brokers, Silent};
use super::{kafka_error_name, ClientError};

/// How long topic creation and deletion may take at the controller.
const ADMIN_ATTEMPT: Duration = Duration::from_secs(3);
/// How long a group lookup keeps trying while its coordinator moves.
const GROUP_DEADLINE: Duration = Duration::from_millis(2500);
/// How long `create_topic` waits for the new topic's leaders to show in metadata.
const SETTLE: Duration = Duration::from_secs(5);

/// An admin connection to a cluster.
pub struct Admin {
    brokers: Brokers,
}

/// A result, and which brokers did not answer on the way to it (empty when all did).
#[derive(Debug, Clone)]
pub struct Seen<T> {
    /// The result.
    pub value: T,
    /// Brokers that stayed silent, in one line, or empty.
    pub note: String,
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

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// The error a call gets when no broker answered.
fn unreachable(silent: &[Silent]) -> ClientError {
    ClientError::Unreachable(wire::silent_note(silent))
}

/// A Kafka error code in a response, as a sentence naming what was refused.
fn refused(what: String, code: i16, message: Option<&StrBytes>) -> ClientError {
    ClientError::Refused {
        what,
        code: kafka_error_name(code),
        detail: message.map(|m| m.to_string()).unwrap_or_default(),
    }
}

/// Brokers named in a Metadata answer, by id.
fn brokers_of(md: &MetadataResponse) -> BTreeMap<i32, String> {
    md.brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
        .collect()
}

/// The layout of `topic` in a Metadata answer, if it is there.
fn layout_of(md: &MetadataResponse, topic: &str) -> Option<Result<TopicLayout, i16>> {
    let live: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))?;
    if t.error_code != 0 {
        return Some(Err(t.error_code));
    }
    let mut partitions: Vec<PartitionLayout> = t
        .partitions
        .iter()
        .map(|p| PartitionLayout {
            partition: p.partition_index,
            leader: p.leader_id.0,
            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
            offline: p
                .replica_nodes
                .iter()
                .map(|b| b.0)
                .filter(|r| !live.contains(r))
                .collect(),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Some(Ok(TopicLayout {
        name: topic.to_string(),
        partitions,
    }))
}

fn topic_names(md: &MetadataResponse) -> Vec<String> {
    let mut names: Vec<String> = md
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .filter(|n| !n.starts_with("__"))
        .collect();
    names.sort();
    names
}

impl Admin {
    /// An admin connection to the cluster at `bootstrap`; nothing is sent until the first call.
    pub fn new(bootstrap: &str) -> Self {
        Self {
            brokers: Brokers::new(bootstrap, "kafka-sandbox-admin"),
        }
    }

    /// Metadata for every topic, from the first broker that answers.
    async fn metadata(&self) -> Result<Answer<MetadataResponse>, ClientError> {
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false);
        let answer = self
            .brokers
            .call_any(&request, 12, wire::ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        self.brokers.learn(&brokers_of(&answer.response));
        Ok(answer)
    }

    /// Topic names, internal topics left out, sorted.
    pub async fn topics(&self) -> Result<Seen<Vec<String>>, ClientError> {
        let md = self.metadata().await?;
        Ok(Seen {
            value: topic_names(&md.response),
            note: wire::silent_note(&md.silent),
        })
    }

    /// Partition layout of a topic, as a client sees it in Metadata.
    pub async fn describe(&self, topic: &str) -> Result<Seen<TopicLayout>, ClientError> {
        // Ask for every topic: a Metadata request naming an unknown topic could create it.
        let md = self.metadata().await?;
        match layout_of(&md.response, topic) {
            Some(Ok(layout)) => Ok(Seen {
                value: layout,
                note: wire::silent_note(&md.silent),
            }),
            Some(Err(code)) => Err(refused(format!("topic '{topic}'"), code, None)),
            None => Err(ClientError::UnknownTopic {
                topic: topic.to_string(),
                existing: topic_names(&md.response),
            }),
        }
    }

    /// CreateTopics; returns once every partition of the new topic has a leader in metadata
    /// (or after a few seconds), so the topic can be used at once.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: &[(String, String)],
    ) -> Result<(), ClientError> {
        let topic = CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(replication)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(s(k))
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(ADMIN_ATTEMPT.as_millis() as i32);
        let answer = self
            .brokers
            .call_any(&request, 7, ADMIN_ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        for t in &answer.response.topics {
            if t.error_code != 0 {
                return Err(refused(
                    format!("cannot create topic '{name}'"),
                    t.error_code,
                    t.error_message.as_ref(),
                ));
            }
        }
        self.settle(|md| {
            matches!(layout_of(md, name), Some(Ok(l))
                if l.partitions.len() == partitions as usize
                    && l.partitions.iter().all(|p| p.leader >= 0))
        })
        .await;
        Ok(())
    }

    /// DeleteTopics; returns once the topic is gone from metadata (or after a few seconds).
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let request = DeleteTopicsRequest::default()
            .with_topic_names(vec![TopicName(s(name))])
            .with_timeout_ms(ADMIN_ATTEMPT.as_millis() as i32);
        let answer = self
            .brokers
            .call_any(&request, 5, ADMIN_ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        for t in &answer.response.responses {
            if t.error_code != 0 {
                return Err(refused(
                    format!("cannot delete topic '{name}'"),
                    t.error_code,
                    t.error_message.as_ref(),
                ));
            }
        }
        self.settle(|md| layout_of(md, name).is_none()).await;
        Ok(())
    }

    /// A preferred-leader election for every partition (`kafka-leader-election
    /// --election-type preferred --all-topic-partitions`); returns the partitions whose leader
    /// moved.
    pub async fn elect_preferred_leaders(&self) -> Result<Vec<(String, i32)>, ClientError> {
        let request = ElectLeadersRequest::default()
            .with_election_type(0)
            .with_topic_partitions(None)
            .with_timeout_ms(ADMIN_ATTEMPT.as_millis() as i32);
        let answer = self
            .brokers
            .call_any(&request, 2, ADMIN_ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        let r = answer.response;
        if r.error_code != 0 {
            return Err(refused(
                "the preferred-leader election".into(),
                r.error_code,
                None,
            ));
        }
        let mut moved: Vec<(String, i32)> = r
            .replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_result
                    .iter()
                    .filter(|p| p.error_code == 0)
                    .map(move |p| (t.topic.to_string(), p.partition_id))
            })
            .collect();
        moved.sort();
        Ok(moved)
    }

    /// Polls metadata until `done` holds or [`SETTLE`] passes.
    async fn settle(&self, done: impl Fn(&MetadataResponse) -> bool) {
        let deadline = Instant::now() + SETTLE;
        while Instant::now() < deadline {
            if let Ok(md) = self.metadata().await {
                if done(&md.response) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The group's coordinator: (broker id, address), asking any broker.
    async fn coordinator(&self, group: &str) -> Result<Answer<(i32, String)>, ClientError> {
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![s(group)]);
        let answer = self
            .brokers
            .call_any(&request, 4, wire::ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        let Some(c) = answer.response.coordinators.first() else {
            return Err(ClientError::EmptyAnswer(format!(
                "the coordinator of group '{group}'"
            )));
        };
        if c.error_code != 0 {
            return Err(refused(
                format!("the coordinator of group '{group}'"),
                c.error_code,
                c.error_message.as_ref(),
            ));
        }
        Ok(Answer {
            response: (c.node_id.0, format!("{}:{}", c.host, c.port)),
            from: answer.from,
            silent: answer.silent,
        })
    }

    /// DescribeGroups plus committed offsets and lag. While the group's coordinator does not
    /// answer (its broker paused, cut off or just failed) the lookup is retried until the
    /// coordinator moves, for [`GROUP_DEADLINE`] at most.
    pub async fn describe_group(&self, name: &str) -> Result<Seen<GroupDescription>, ClientError> {
        let deadline = Instant::now() + GROUP_DEADLINE;
        let mut silent: Vec<Silent> = Vec::new();
        loop {
            let outcome = match self.coordinator(name).await {
                Ok(c) => {
                    silent.extend(c.silent);
                    let (id, addr) = c.response;
                    self.describe_at(name, id, &addr).await
                }
                Err(e) => Err(Attempt::Failed(e)),
            };
            let retry = match outcome {
                Ok((description, more)) => {
                    silent.extend(more);
                    silent.dedup();
                    return Ok(Seen {
                        value: description,
                        note: wire::silent_note(&silent),
                    });
                }
                Err(Attempt::Silent(s)) => {
                    let e = ClientError::Unreachable(format!(
                        "the coordinator of group '{name}' did not answer; {}",
                        s.describe()
                    ));
                    silent.push(s);
                    e
                }
                Err(Attempt::Failed(e)) => e,
            };
            let retriable = match &retry {
                ClientError::Refused { code, .. } => matches!(
                    code.as_str(),
                    "COORDINATOR_NOT_AVAILABLE"
                        | "NOT_COORDINATOR"
                        | "COORDINATOR_LOAD_IN_PROGRESS"
                ),
                ClientError::Unreachable(_) => true,
                _ => false,
            };
            if !retriable || Instant::now() >= deadline {
                return Err(retry);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// DescribeGroups and OffsetFetch at the coordinator, then the log ends from the leaders.
    async fn describe_at(
        &self,
        name: &str,
        coordinator: i32,
        addr: &str,
    ) -> Result<(GroupDescription, Vec<Silent>), Attempt> {
        let silent_coordinator = |e: crate::protocol::ProtocolError| {
            Attempt::Silent(Silent {
                addr: addr.to_string(),
                broker: Some(coordinator),
                why: e.to_string(),
            })
        };
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(name))]);
        let described = self
            .brokers
            .call_at(addr, &request, 5, wire::ATTEMPT)
            .await
            .map_err(silent_coordinator)?;
        let Some(g) = described.groups.first() else {
            return Err(Attempt::Failed(ClientError::EmptyAnswer(format!(
                "group '{name}'"
            ))));
        };
        if g.error_code != 0 {
            return Err(Attempt::Failed(refused(
                format!("group '{name}'"),
                g.error_code,
                g.error_message.as_ref(),
            )));
        }
        let members: Vec<GroupMember> = g
            .members
            .iter()
            .map(|m| GroupMember {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                assignment: decode_assignment(&m.member_assignment),
            })
            .collect();
        let state = g.group_state.to_string();
        let protocol = g.protocol_data.to_string();

        let request = OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default().with_group_id(GroupId(s(name))),
        ]);
        let fetched = self
            .brokers
            .call_at(addr, &request, 8, wire::ATTEMPT)
            .await
            .map_err(silent_coordinator)?;
        let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for group in &fetched.groups {
            if group.error_code != 0 {
                return Err(Attempt::Failed(refused(
                    format!("the committed offsets of group '{name}'"),
                    group.error_code,
                    None,
                )));
            }
            for t in &group.topics {
                for p in t.partitions.iter().filter(|p| p.committed_offset >= 0) {
                    committed.insert((t.name.to_string(), p.partition_index), p.committed_offset);
                }
            }
        }
        let (ends, silent) = self.log_ends(committed.keys()).await;
        let offsets = committed
            .into_iter()
            .map(|((topic, partition), committed)| {
                let end = ends.get(&(topic.clone(), partition)).copied().unwrap_or(-1);
                GroupOffset {
                    topic,
                    partition,
                    committed,
                    end,
                    lag: if end < 0 {
                        -1
                    } else {
                        (end - committed).max(0)
                    },
                }
            })
            .collect();
        Ok((
            GroupDescription {
                name: name.to_string(),
                state,
                protocol,
                members,
                offsets,
            },
            silent,
        ))
    }

    /// High watermarks of `partitions`, asked of each partition's leader. Partitions whose
    /// leader is unknown or silent are left out; the silent leaders are returned.
    async fn log_ends<'a>(
        &self,
        partitions: impl Iterator<Item = &'a (String, i32)>,
    ) -> (BTreeMap<(String, i32), i64>, Vec<Silent>) {
        let mut ends = BTreeMap::new();
        let mut silent = Vec::new();
        let Ok(md) = self.metadata().await else {
            return (ends, silent);
        };
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let leader = layout_of(&md.response, topic)
                .and_then(Result::ok)
                .and_then(|l| l.partitions.into_iter().find(|p| p.partition == *partition))
                .map_or(-1, |p| p.leader);
            if leader >= 0 {
                by_leader
                    .entry(leader)
                    .or_default()
                    .entry(topic.clone())
                    .or_default()
                    .push(*partition);
            }
        }
        for (leader, topics) in by_leader {
            let Some(addr) = self.brokers.addr_of(leader) else {
                continue;
            };
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(
                    topics
                        .iter()
                        .map(|(t, ps)| {
                            ListOffsetsTopic::default()
                                .with_name(TopicName(s(t)))
                                .with_partitions(
                                    ps.iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(*p)
                                                .with_timestamp(-1)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            match self
                .brokers
                .call_at(&addr, &request, 7, wire::ATTEMPT)
                .await
            {
                Ok(r) => {
                    for t in &r.topics {
                        for p in t.partitions.iter().filter(|p| p.error_code == 0) {
                            ends.insert((t.name.to_string(), p.partition_index), p.offset);
                        }
                    }
                }
                Err(e) => silent.push(Silent {
                    addr,
                    broker: Some(leader),
                    why: e.to_string(),
                }),
            }
        }
        (ends, silent)
    }
}

/// How one try at the group's coordinator ended.
enum Attempt {
    /// The coordinator did not answer.
    Silent(Silent),
    /// It answered with an error, or the answer made no sense.
    Failed(ClientError),
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
