//! Fetch, for consumers and followers alike. Consumers read up to the high watermark;
//! followers (a replica id in the request) read up to the log end, and their fetch offset is
//! how the leader learns their progress — which moves the high watermark and decides ISR
//! membership. With too little data the request waits up to `max_wait_ms` for more.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;

use crate::cluster::broker::replica::Role;
use crate::cluster::broker::{Broker, IsrProposal};

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
    let out = PartitionData::default().with_partition_index(p.partition);
    let error = |code: ResponseError| {
        PartitionData::default()
            .with_partition_index(p.partition)
            .with_error_code(code.code())
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
    };
    let Some(replica) = broker.replica(topic, p.partition) else {
        return error(if broker.image().topics.contains_key(topic) {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        });
    };
    let mut st = replica.state();
    if st.role != Role::Leader {
        return error(ResponseError::NotLeaderOrFollower);
    }
    if p.current_leader_epoch >= 0 && p.current_leader_epoch < st.leader_epoch {
        return error(ResponseError::FencedLeaderEpoch);
    }
    if p.current_leader_epoch > st.leader_epoch {
        return error(ResponseError::UnknownLeaderEpoch);
    }
    let mut log = replica.log();
    let leo = log.log_end_offset();
    if p.fetch_offset < log.log_start_offset() || p.fetch_offset > leo {
        return error(ResponseError::OffsetOutOfRange);
    }
    let follower = replica_id >= 0;
    if follower && record_progress {
        let Some(progress) = st.followers.get_mut(&replica_id) else {
            return error(ResponseError::NotLeaderOrFollower);
        };
        progress.record_fetch(p.fetch_offset, leo, Instant::now());
        let hw = st.high_watermark(broker.id(), leo);
        if hw > log.high_watermark() {
            log.set_high_watermark(hw);
            broker.notify_data_changed();
        }
        let epoch_start = log.epoch_start_offset(st.leader_epoch);
        if st.pending_isr.is_none()
            && st.may_rejoin(replica_id, log.high_watermark(), epoch_start)
            && broker.image().is_alive(replica_id)
        {
            let mut new_isr = st.isr.clone();
            new_isr.push(replica_id);
            tracing::info!(
                "broker {}: {topic}-{} follower {replica_id} caught up; expanding ISR to {new_isr:?}",
                broker.id(),
                p.partition
            );
            st.pending_isr = Some(new_isr.clone());
            broker.propose_isr(IsrProposal {
                replica: replica.clone(),
                leader_epoch: st.leader_epoch,
                partition_epoch: st.partition_epoch,
                new_isr,
            });
        }
    }
    let hw = log.high_watermark();
    let upper = if follower { leo } else { hw };
    let max = (p.partition_max_bytes.max(0) as usize).min(budget).max(1);
    let records = log.read(p.fetch_offset, upper, max);
    out.with_high_watermark(hw)
        .with_last_stable_offset(hw)
        .with_log_start_offset(log.log_start_offset())
        .with_records(Some(records))
}
