//! OffsetCommit, OffsetFetch and OffsetDelete. A commit is checked against the group's generation, written
//! to the group's `__consumer_offsets` partition, and acknowledged only once the ISR has it,
//! so a committed offset survives the loss of the coordinator.

use std::time::Instant;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::Broker;
use crate::cluster::group::types::CommittedOffset;
use crate::cluster::group::StoredRecord;

pub async fn commit(broker: &Broker, r: OffsetCommitRequest) -> OffsetCommitResponse {
    let group = r.group_id.to_string();
    let instance = r.group_instance_id.as_ref().map(|i| i.to_string());
    let image = broker.image();
    let respond = |error_for: &dyn Fn(&str, i32) -> i16| {
        let topics = r
            .topics
            .iter()
            .map(|t| {
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error_for(t.name.as_str(), p.partition_index))
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    };
    let checked = broker
        .groups
        .with_group(broker, &group, true, |g, _| {
            g.check_commit(
                r.member_id.as_str(),
                instance.as_deref(),
                r.generation_id_or_member_epoch,
                Instant::now(),
            )
        })
        .and_then(|r| r);
    if let Err(e) = checked {
        return respond(&|_, _| e.code());
    }
    let known = |topic: &str, p: i32| {
        image
            .topics
            .get(topic)
            .is_some_and(|t| p >= 0 && (p as usize) < t.partitions.len())
    };
    let mut commits = Vec::new();
    for t in &r.topics {
        for p in &t.partitions {
            if known(t.name.as_str(), p.partition_index) {
                commits.push((
                    t.name.to_string(),
                    p.partition_index,
                    CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    },
                ));
            }
        }
    }
    let records: Vec<StoredRecord> = commits
        .iter()
        .map(|(t, p, o)| StoredRecord::Offset(group.clone(), t.clone(), *p, Some(o.clone())))
        .collect();
    let written = broker.groups.write(broker, &group, move |_| records).await;
    if let Err(e) = written {
        return respond(&|_, _| e.code());
    }
    let _ = broker.groups.with_group(broker, &group, true, |g, _| {
        for (t, p, o) in commits {
            g.commit_offset(t, p, o);
        }
    });
    respond(&|topic, p| {
        if known(topic, p) {
            0
        } else {
            ResponseError::UnknownTopicOrPartition.code()
        }
    })
}

/// Committed offsets of one topic: partition → offset (None: nothing committed).
type TopicOffsets = (String, Vec<(i32, Option<CommittedOffset>)>);
/// Committed offsets of one group, or an error for the group.
type Lookup = Result<Vec<TopicOffsets>, ResponseError>;

fn lookup(broker: &Broker, group: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Lookup {
    let found = broker
        .groups
        .with_group(broker, group, false, |g, _| match &topics {
            Some(list) => list
                .iter()
                .map(|(t, ps)| {
                    (
                        t.clone(),
                        ps.iter()
                            .map(|p| (*p, g.offsets.get(&(t.clone(), *p)).cloned()))
                            .collect(),
                    )
                })
                .collect(),
            None => {
                let mut by_topic: Vec<TopicOffsets> = Vec::new();
                for ((t, p), o) in &g.offsets {
                    match by_topic.last_mut() {
                        Some((name, ps)) if name == t => ps.push((*p, Some(o.clone()))),
                        _ => by_topic.push((t.clone(), vec![(*p, Some(o.clone()))])),
                    }
                }
                by_topic
            }
        });
    match found {
        Ok(v) => Ok(v),
        Err(ResponseError::GroupIdNotFound) => Ok(topics
            .unwrap_or_default()
            .into_iter()
            .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None)).collect()))
            .collect()),
        Err(e) => Err(e),
    }
}

/// The partitions of `group` whose offset a transaction has committed but not ended: an
/// OffsetFetch with `require_stable` (a read_committed consumer) gets UNSTABLE_OFFSET_COMMIT
/// for them and asks again, rather than starting from an offset that may still be rolled back.
fn unstable(broker: &Broker, group: &str, require_stable: bool) -> impl Fn(&str, i32) -> bool {
    let pending: Vec<(String, i32)> = if require_stable {
        broker
            .groups
            .with_group(broker, group, false, |g, _| g.txn_offsets.partitions())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    move |t: &str, p: i32| pending.iter().any(|(pt, pp)| pt == t && *pp == p)
}

pub fn fetch(broker: &Broker, r: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let name = |t: &str| TopicName(StrBytes::from_string(t.to_string()));
    if version >= 8 {
        let groups = r
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let out = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                let unstable = unstable(broker, g.group_id.as_str(), r.require_stable);
                match lookup(broker, g.group_id.as_str(), wanted) {
                    Ok(topics) => out.with_topics(
                        topics
                            .into_iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(name(&t))
                                    .with_partitions(
                                        ps.into_iter()
                                            .map(|(p, o)| {
                                                let o = o.unwrap_or(CommittedOffset {
                                                    offset: -1,
                                                    leader_epoch: -1,
                                                    metadata: None,
                                                });
                                                if unstable(&t, p) {
                                                    return OffsetFetchResponsePartitions::default(
                                                    )
                                                    .with_partition_index(p)
                                                    .with_committed_offset(-1)
                                                    .with_error_code(
                                                        ResponseError::UnstableOffsetCommit.code(),
                                                    );
                                                }
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(o.offset)
                                                    .with_committed_leader_epoch(o.leader_epoch)
                                                    .with_metadata(Some(StrBytes::from_string(
                                                        o.metadata.unwrap_or_default(),
                                                    )))
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                    Err(e) => out.with_error_code(e.code()),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = r.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let unstable = unstable(
        broker,
        r.group_id.as_str(),
        version >= 7 && r.require_stable,
    );
    match lookup(broker, r.group_id.as_str(), wanted) {
        Ok(topics) => OffsetFetchResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(name(&t))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, o)| {
                                    let o = o.unwrap_or(CommittedOffset {
                                        offset: -1,
                                        leader_epoch: -1,
                                        metadata: None,
                                    });
                                    if unstable(&t, p) {
                                        return OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_error_code(
                                                ResponseError::UnstableOffsetCommit.code(),
                                            );
                                    }
                                    let out = OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(o.offset)
                                        .with_metadata(Some(StrBytes::from_string(
                                            o.metadata.unwrap_or_default(),
                                        )));
                                    if version >= 5 {
                                        out.with_committed_leader_epoch(o.leader_epoch)
                                    } else {
                                        out
                                    }
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(e) if version >= 2 => OffsetFetchResponse::default().with_error_code(e.code()),
        Err(e) => {
            // v1 has no top-level error: report it on every requested partition.
            let topics = r
                .topics
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name)
                        .with_partitions(
                            t.partition_indexes
                                .into_iter()
                                .map(|p| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(-1)
                                        .with_error_code(e.code())
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetFetchResponse::default().with_topics(topics)
        }
    }
}

/// OffsetDelete: removes committed offsets of partitions the group no longer consumes,
/// writing a tombstone for each to `__consumer_offsets` before answering.
pub async fn delete(broker: &Broker, r: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let group = r.group_id.to_string();
    let asked: Vec<(String, i32)> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index))
        })
        .collect();
    let checked = broker
        .groups
        .with_group(broker, &group, false, |g, _| g.check_offset_delete(&asked))
        .and_then(|r| r);
    let verdicts = match checked {
        Ok(v) => v,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
    };
    let doomed: Vec<(String, i32)> = asked
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.is_none())
        .map(|(tp, _)| tp.clone())
        .collect();
    if !doomed.is_empty() {
        let id = group.clone();
        let tombstones = doomed.clone();
        let written = broker
            .groups
            .write(broker, &group, move |_| {
                tombstones
                    .into_iter()
                    .map(|(t, p)| StoredRecord::Offset(id.clone(), t, p, None))
                    .collect()
            })
            .await;
        if let Err(e) = written {
            return OffsetDeleteResponse::default().with_error_code(e.code());
        }
        let _ = broker.groups.with_group(broker, &group, false, |g, _| {
            for tp in &doomed {
                g.offsets.remove(tp);
            }
        });
    }
    let mut verdict = verdicts.into_iter();
    let topics = r
        .topics
        .iter()
        .map(|t| {
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let error = verdict.next().flatten().map_or(0, |e| e.code());
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
