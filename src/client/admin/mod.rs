//! Admin calls over the Kafka protocol: topics, partition layout (what `kafka-topics
//! --describe` and `kcat -L` show) and consumer groups with committed offsets and lag
//! ([`groups`]). What they return, and how it prints, is in [`layout`].
//!
//! Every call goes through [`wire::Brokers`], so a paused or cut-off broker costs one short
//! attempt instead of a stalled session, and the answer says which broker stayed silent.

pub mod groups;
pub mod layout;
pub mod transactions;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, ElectLeadersRequest,
    MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::wire::{self, Answer, Brokers, Silent};
use super::{kafka_error_name, ClientError};
use crate::backend::snapshot::{PartitionView, TopicView};
use crate::cluster::BrokerId;
pub use layout::{GroupDescription, GroupMember, GroupOffset};

/// How long topic creation and deletion may take at the controller.
const ADMIN_ATTEMPT: Duration = Duration::from_secs(3);
/// How long a group lookup keeps trying while its coordinator moves.
pub(super) const GROUP_DEADLINE: Duration = Duration::from_millis(2500);
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

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// The error a call gets when no broker answered.
pub(super) fn unreachable(silent: &[Silent]) -> ClientError {
    ClientError::Unreachable(wire::silent_note(silent))
}

/// A Kafka error code in a response, as a sentence naming what was refused.
pub(super) fn refused(what: String, code: i16, message: Option<&StrBytes>) -> ClientError {
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
pub(super) fn layout_of(md: &MetadataResponse, topic: &str) -> Option<Result<TopicView, i16>> {
    let live: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))?;
    if t.error_code != 0 {
        return Some(Err(t.error_code));
    }
    let id = |b: &kafka_protocol::messages::BrokerId| BrokerId(b.0);
    let mut partitions: Vec<PartitionView> = t
        .partitions
        .iter()
        .map(|p| PartitionView {
            partition: p.partition_index,
            leader: (p.leader_id.0 >= 0).then_some(BrokerId(p.leader_id.0)),
            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
            replicas: p.replica_nodes.iter().map(id).collect(),
            isr: p.isr_nodes.iter().map(id).collect(),
            offline: p
                .replica_nodes
                .iter()
                .filter(|r| !live.contains(&r.0))
                .map(id)
                .collect(),
            // A client does not see each replica's log end.
            offsets: Vec::new(),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Some(Ok(TopicView {
        name: topic.to_string(),
        // Metadata does not carry topic configs.
        min_insync_replicas: None,
        unclean_leader_election: None,
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
    pub(super) async fn metadata(&self) -> Result<Answer<MetadataResponse>, ClientError> {
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

    /// Each live broker's `broker.rack` (`None`: it has none), as Metadata reports them.
    pub(crate) async fn racks(&self) -> Result<BTreeMap<i32, Option<String>>, ClientError> {
        let md = self.metadata().await?;
        Ok(md
            .response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, b.rack.as_ref().map(|r| r.to_string())))
            .collect())
    }

    /// Partition layout of a topic, as a client sees it in Metadata.
    pub async fn describe(&self, topic: &str) -> Result<Seen<TopicView>, ClientError> {
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
                    && l.partitions.iter().all(|p| p.leader.is_some()))
        })
        .await;
        Ok(())
    }

    /// CreatePartitions: grows `name` to `total` partitions (Kafka places the new replicas);
    /// returns once every partition has a leader in metadata (or after a few seconds).
    pub(crate) async fn create_partitions(
        &self,
        name: &str,
        total: i32,
    ) -> Result<(), ClientError> {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(TopicName(s(name)))
                .with_count(total)
                .with_assignments(None)])
            .with_timeout_ms(ADMIN_ATTEMPT.as_millis() as i32);
        let answer = self
            .brokers
            .call_any(&request, 3, ADMIN_ATTEMPT)
            .await
            .map_err(|silent| unreachable(&silent))?;
        for t in &answer.response.results {
            if t.error_code != 0 {
                return Err(refused(
                    format!("cannot add partitions to '{name}'"),
                    t.error_code,
                    t.error_message.as_ref(),
                ));
            }
        }
        self.settle(|md| {
            matches!(layout_of(md, name), Some(Ok(l))
                if l.partitions.len() == total as usize
                    && l.partitions.iter().all(|p| p.leader.is_some()))
        })
        .await;
        Ok(())
    }

    /// DeleteTopics; returns once the topic is gone from metadata (or after a few seconds).
    pub(crate) async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
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
}
