//! Fetch, for consumers and followers alike. Consumers read up to the high watermark;
//! followers (a replica id in the request) read up to the log end, and their fetch offset is
//! how the leader learns their progress ([`Partition::record_follower_fetch`]), which moves the
//! high watermark — completing acks=all produces waiting on it — and decides ISR membership.
//! With too little data the request waits up to `max_wait_ms` for more.
//!
//! [`Partition::record_follower_fetch`]: crate::cluster::broker::partition::Partition::record_follower_fetch

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;

use crate::cluster::broker::Broker;

pub async fn handle(broker: &Broker, r: FetchRequest, version: i16) -> FetchResponse {
    let replica_id = if version >= 15 {
        r.replica_state.replica_id.0
    } else {
        r.replica_id.0
    };
    let deadline = Instant::now() + Duration::from_millis(r.max_wait_ms.max(0) as u64);
    let mut changes = broker.watch_data();
    let mut first_pass = true;
    loop {
        changes.borrow_and_update();
        let (response, bytes, errors) = read_all(broker, &r, replica_id, first_pass);
        first_pass = false;
        if errors || bytes >= r.min_bytes.max(0) as usize || Instant::now() >= deadline {
            return response;
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

fn read_all(
    broker: &Broker,
    r: &FetchRequest,
    replica_id: i32,
    record_progress: bool,
) -> (FetchResponse, usize, bool) {
    let mut budget = if r.max_bytes > 0 {
        r.max_bytes as usize
    } else {
        usize::MAX
    };
    let mut total = 0usize;
    let mut errors = false;
    let responses = r
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = read_partition(
                        broker,
                        t.topic.as_str(),
                        p,
                        replica_id,
                        record_progress,
                        budget,
                    );
                    if out.error_code != 0 {
                        errors = true;
                    }
                    let n = out.records.as_ref().map_or(0, Bytes::len);
                    total += n;
                    budget = budget.saturating_sub(n).max(1);
                    out
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        errors,
    )
}

fn read_partition(
    broker: &Broker,
    topic: &str,
    p: &FetchPartition,
    replica_id: i32,
    record_progress: bool,
    budget: usize,
) -> PartitionData {
    let error = |code: ResponseError| {
        PartitionData::default()
            .with_partition_index(p.partition)
            .with_error_code(code.code())
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
    };
    let Some(partition) = broker.partition(topic, p.partition) else {
        return error(if broker.image().topics.contains_key(topic) {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        });
    };
    if let Err(code) = partition.check_leader(p.current_leader_epoch) {
        return error(code);
    }
    let follower = replica_id >= 0;
    if follower && record_progress {
        let alive = broker.image().is_alive(replica_id);
        match partition.record_follower_fetch(
            broker.id(),
            replica_id,
            p.fetch_offset,
            alive,
            Instant::now(),
        ) {
            Ok(progress) => {
                if progress.high_watermark_moved {
                    broker.notify_data_changed();
                }
                if let Some(proposal) = progress.proposal {
                    broker.propose_isr(proposal);
                }
            }
            Err(code) => return error(code).with_log_start_offset(partition.log_start_offset()),
        }
    }
    let max = (p.partition_max_bytes.max(0) as usize).min(budget).max(1);
    match partition.read(p.fetch_offset, follower, max) {
        Ok(read) => PartitionData::default()
            .with_partition_index(p.partition)
            .with_high_watermark(read.high_watermark)
            .with_last_stable_offset(read.high_watermark)
            .with_log_start_offset(read.log_start_offset)
            .with_records(Some(read.records)),
        // Say where the log starts, so a reader (or a follower) below it knows where to go.
        Err(code) => error(code).with_log_start_offset(partition.log_start_offset()),
    }
}
