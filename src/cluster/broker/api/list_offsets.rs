//! Offset lookups: ListOffsets (earliest, latest, max timestamp, by timestamp) and
//! OffsetForLeaderEpoch, which clients and followers use after a leader change to find where
//! their history and the leader's diverge.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};
use kafka_protocol::ResponseError;

use crate::cluster::broker::partition::Partition;
use crate::cluster::broker::Broker;
use std::sync::Arc;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

/// Finds the partition this broker leads and checks the caller's view of the leader epoch.
fn leader_partition(
    broker: &Broker,
    topic: &str,
    index: i32,
    current_epoch: i32,
) -> Result<Arc<Partition>, ResponseError> {
    let partition = broker.partition(topic, index).ok_or_else(|| {
        if broker.image().topics.contains_key(topic) {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        }
    })?;
    partition.check_leader(current_epoch)?;
    Ok(partition)
}

pub fn handle(broker: &Broker, r: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let partition = match leader_partition(
                        broker,
                        t.name.as_str(),
                        p.partition_index,
                        p.current_leader_epoch,
                    ) {
                        Ok(r) => r,
                        Err(code) => {
                            return out
                                .with_error_code(code.code())
                                .with_offset(-1)
                                .with_timestamp(-1)
                        }
                    };
                    let epoch = partition.state().leader_epoch;
                    let log = partition.log();
                    // A read_committed client sees up to the last stable offset (Kafka's
                    // ListOffsets with isolation level 1), others up to the high watermark.
                    let hw = if r.isolation_level == 1 {
                        log.last_stable_offset()
                    } else {
                        log.high_watermark()
                    };
                    let (offset, timestamp) = match p.timestamp {
                        LATEST => (hw, -1),
                        EARLIEST => (log.log_start_offset(), -1),
                        MAX_TIMESTAMP => log.max_timestamp(hw).unwrap_or((-1, -1)),
                        ts => log.offset_for_timestamp(ts, hw).unwrap_or((-1, -1)),
                    };
                    let out = out.with_offset(offset).with_timestamp(timestamp);
                    if version >= 4 {
                        out.with_leader_epoch(epoch)
                    } else {
                        out
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

pub(crate) fn offset_for_leader_epoch(
    broker: &Broker,
    r: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = EpochEndOffset::default().with_partition(p.partition);
                    match leader_partition(
                        broker,
                        t.topic.as_str(),
                        p.partition,
                        p.current_leader_epoch,
                    ) {
                        Ok(partition) => {
                            let (epoch, end) = partition.log().end_offset_for_epoch(p.leader_epoch);
                            out.with_leader_epoch(epoch).with_end_offset(end)
                        }
                        Err(code) => out
                            .with_error_code(code.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
