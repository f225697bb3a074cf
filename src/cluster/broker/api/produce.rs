//! Produce. Each partition's batches are validated here (framing, CRC, magic), then handed to
//! [`Partition::append_as_leader`] — the leader check, `min.insync.replicas` for acks=all,
//! offsets and leader epoch. acks=1 answers at once; acks=all waits on each partition's high
//! watermark ([`Partition::watch_high_watermark`]), which moves when followers fetch past the
//! write ([`Partition::record_follower_fetch`], in the fetch handler), until
//! [`Partition::replication`] says every in-sync replica has it; acks=0 gets no answer at all,
//! exactly as on the wire with Kafka.
//!
//! [`Partition::append_as_leader`]: crate::cluster::broker::partition::Partition::append_as_leader
//! [`Partition::watch_high_watermark`]: crate::cluster::broker::partition::Partition::watch_high_watermark
//! [`Partition::record_follower_fetch`]: crate::cluster::broker::partition::Partition::record_follower_fetch
//! [`Partition::replication`]: crate::cluster::broker::partition::Partition::replication

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::partition::{LeaderAppend, Partition, Replication};
use crate::cluster::broker::Broker;
use crate::cluster::KafkaError;
use crate::protocol::records::{now_millis, split_batches, stamp_log_append_time, BatchError};

/// The outcome of appending to one partition, before any acks=all wait.
struct Pending {
    topic_index: usize,
    partition: i32,
    outcome: Result<Waiting, KafkaError>,
}

/// Tells waiting fetches which partitions took the writes.
fn record_appends(broker: &Broker, pending: &[Pending]) {
    let appended = pending.iter().filter_map(|p| p.outcome.as_ref().ok());
    broker.data_changes().record(appended.map(|w| &w.partition));
}

struct Waiting {
    partition: Arc<Partition>,
    write: LeaderAppend,
    /// The broker's time the batches were stamped with, on a LogAppendTime topic.
    log_append_time: Option<i64>,
}

pub async fn handle(broker: &Broker, r: ProduceRequest, _version: i16) -> Option<ProduceResponse> {
    let acks = r.acks;
    let mut pending = Vec::new();
    for (topic_index, topic) in r.topic_data.iter().enumerate() {
        for p in &topic.partition_data {
            let outcome = if !(-1..=1).contains(&acks) {
                Err(KafkaError::new(
                    ResponseError::InvalidRequiredAcks,
                    "acks must be -1 (all), 0 or 1",
                ))
            } else {
                append(
                    broker,
                    topic.name.as_str(),
                    p.index,
                    p.records.as_ref(),
                    acks,
                    Origin::Client,
                )
            };
            pending.push(Pending {
                topic_index,
                partition: p.index,
                outcome,
            });
        }
    }
    record_appends(broker, &pending);
    let appended: u64 = pending
        .iter()
        .filter_map(|p| p.outcome.as_ref().ok())
        .map(|w| (w.write.last_offset - w.write.base_offset + 1) as u64)
        .sum();
    broker
        .stats
        .messages_in
        .fetch_add(appended, std::sync::atomic::Ordering::Relaxed);
    if acks == 0 {
        count_failure(broker, &pending);
        return None;
    }
    if acks == -1 {
        wait_for_replication(
            broker,
            &mut pending,
            Duration::from_millis(r.timeout_ms.max(0) as u64),
        )
        .await;
    }
    count_failure(broker, &pending);
    let mut responses: Vec<TopicProduceResponse> = r
        .topic_data
        .iter()
        .map(|t| TopicProduceResponse::default().with_name(t.name.clone()))
        .collect();
    for p in pending {
        let out = PartitionProduceResponse::default()
            .with_index(p.partition)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(0);
        let out = match p.outcome {
            Ok(w) => out
                .with_base_offset(w.write.base_offset)
                .with_log_append_time_ms(w.log_append_time.unwrap_or(-1))
                .with_log_start_offset(w.partition.log_start_offset()),
            Err(e) => out
                .with_base_offset(-1)
                .with_error_code(e.code.code())
                .with_error_message(Some(StrBytes::from_string(e.message))),
        };
        responses[p.topic_index].partition_responses.push(out);
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// Counts a produce request that failed for any of its partitions.
fn count_failure(broker: &Broker, pending: &[Pending]) {
    if pending.iter().any(|p| p.outcome.is_err()) {
        broker
            .stats
            .failed_produce_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Appends one record batch as leader and waits until the ISR has it (acks=all), for the
/// broker's own writes such as group metadata and committed offsets.
pub(crate) async fn append_and_replicate(
    broker: &Broker,
    topic: &str,
    partition: i32,
    batch: bytes::Bytes,
    timeout: Duration,
) -> Result<i64, KafkaError> {
    let mut pending = vec![Pending {
        topic_index: 0,
        partition,
        outcome: append(broker, topic, partition, Some(&batch), -1, Origin::Broker),
    }];
    record_appends(broker, &pending);
    wait_for_replication(broker, &mut pending, timeout).await;
    let Some(p) = pending.pop() else {
        unreachable!("one entry was pushed")
    };
    p.outcome.map(|w| w.write.base_offset)
}

/// Who wrote a batch: clients may not write control batches (transaction markers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A producer's Produce request.
    Client,
    /// The broker itself: group records, offsets, transaction markers.
    Broker,
}

fn append(
    broker: &Broker,
    topic: &str,
    index: i32,
    records: Option<&bytes::Bytes>,
    acks: i16,
    origin: Origin,
) -> Result<Waiting, KafkaError> {
    let Some(partition) = broker.partition(topic, index) else {
        let known = broker.image().topics.contains_key(topic);
        let (code, msg) = if known {
            (
                ResponseError::NotLeaderOrFollower,
                format!("broker {} hosts no replica of {topic}-{index}", broker.id()),
            )
        } else {
            (
                ResponseError::UnknownTopicOrPartition,
                format!("{topic}-{index} does not exist"),
            )
        };
        return Err(KafkaError::new(code, msg));
    };
    let batches = match records {
        None => {
            return Err(KafkaError::new(
                ResponseError::CorruptMessage,
                "no records in the request",
            ))
        }
        Some(bytes) => split_batches(bytes).map_err(|e| {
            let code = match e {
                BatchError::Magic(_) => ResponseError::UnsupportedForMessageFormat,
                _ => ResponseError::CorruptMessage,
            };
            KafkaError::new(code, e.to_string())
        })?,
    };
    if batches.is_empty() {
        return Err(KafkaError::new(
            ResponseError::CorruptMessage,
            "empty record set",
        ));
    }
    let image = broker.image();
    let config = |key: &str| image.topics.get(topic).and_then(|t| t.configs.get(key));
    let compacted =
        config("cleanup.policy").is_some_and(|p| p.split(',').any(|p| p.trim() == "compact"));
    for (header, bytes) in &batches {
        if origin == Origin::Client && header.is_control() {
            return Err(KafkaError::new(
                ResponseError::InvalidRecord,
                "clients cannot write control batches; transaction markers come from the transaction coordinator",
            ));
        }
        crate::cluster::log_validator::validate(header, bytes, compacted)?;
    }
    let log_append_time = config("message.timestamp.type")
        .is_some_and(|t| t == "LogAppendTime")
        .then(now_millis);
    let batches = match log_append_time {
        Some(now) => batches
            .iter()
            .map(|(_, bytes)| stamp_log_append_time(bytes, now))
            .collect(),
        None => batches,
    };
    let write = partition.append_as_leader(broker.id(), &batches, acks)?;
    Ok(Waiting {
        partition,
        write,
        log_append_time,
    })
}

/// Waits until every appended batch is below its partition's high watermark, the leader loses
/// its role, or the request's timeout passes.
async fn wait_for_replication(broker: &Broker, pending: &mut [Pending], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    // Leadership changes arrive through metadata, high-watermark moves through each partition.
    let mut roles = broker.watch_data();
    let mut marks: Vec<(usize, tokio::sync::watch::Receiver<i64>)> = pending
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.outcome
                .as_ref()
                .ok()
                .map(|w| (i, w.partition.watch_high_watermark()))
        })
        .collect();
    loop {
        marks.retain(|(i, _)| {
            let p = &mut pending[*i];
            let Ok(w) = &p.outcome else { return false };
            match w.partition.replication(&w.write) {
                Replication::Pending => true,
                Replication::Done => false,
                Replication::Failed(e) => {
                    p.outcome = Err(e);
                    false
                }
            }
        });
        if marks.is_empty() {
            return;
        }
        let timed_out = {
            let any_moved = futures_util::future::select_all(
                marks.iter_mut().map(|(_, rx)| Box::pin(rx.changed())),
            );
            tokio::select! {
                _ = any_moved => false,
                _ = roles.changed() => false,
                _ = tokio::time::sleep_until(deadline.into()) => true,
            }
        };
        if timed_out {
            for (i, _) in marks {
                pending[i].outcome = Err(KafkaError::new(
                    ResponseError::RequestTimedOut,
                    "the in-sync replicas did not confirm the write in time",
                ));
            }
            return;
        }
    }
}
