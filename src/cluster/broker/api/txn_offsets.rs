//! TxnOffsetCommit: a transactional producer commits a consumer group's offsets as part of its
//! transaction (consume-transform-produce). The group coordinator writes them in the
//! producer's transactional batch and holds them until the transaction's marker reaches the
//! group's `__consumer_offsets` partition ([`crate::cluster::group::txn_offsets`]).

use std::time::Instant;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError;

use crate::cluster::broker::Broker;
use crate::cluster::group::types::CommittedOffset;

pub(crate) async fn commit(broker: &Broker, r: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let group = r.group_id.to_string();
    let respond = |error_for: &dyn Fn(&str, i32) -> i16| {
        let topics = r
            .topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(error_for(t.name.as_str(), p.partition_index))
                            })
                            .collect(),
                    )
            })
            .collect();
        TxnOffsetCommitResponse::default().with_topics(topics)
    };
    // From v3 a member of the group commits with its generation, checked as OffsetCommit's
    // (KIP-447); a generation of -1 is a producer outside the group's protocol.
    if r.generation_id >= 0 {
        let instance = r.group_instance_id.as_ref().map(|i| i.to_string());
        let checked = broker
            .groups
            .with_group(broker, &group, false, |g, _| {
                g.check_commit(
                    r.member_id.as_str(),
                    instance.as_deref(),
                    r.generation_id,
                    Instant::now(),
                )
            })
            .and_then(|checked| checked);
        if let Err(e) = checked {
            return respond(&|_, _| e.code());
        }
    }
    let image = broker.image();
    let known = |topic: &str, p: i32| {
        image
            .topics
            .get(topic)
            .is_some_and(|t| p >= 0 && (p as usize) < t.partitions.len())
    };
    let offsets: Vec<(String, i32, CommittedOffset)> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| known(t.name.as_str(), p.partition_index))
                .map(|p| {
                    (
                        t.name.to_string(),
                        p.partition_index,
                        CommittedOffset {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        },
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let written = if offsets.is_empty() {
        Ok(())
    } else {
        broker
            .groups
            .commit_in_txn(broker, &group, (r.producer_id.0, r.producer_epoch), offsets)
            .await
    };
    respond(&|topic, p| match &written {
        _ if !known(topic, p) => ResponseError::UnknownTopicOrPartition.code(),
        Ok(()) => 0,
        Err(e) => e.code(),
    })
}
