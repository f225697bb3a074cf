//! Produce. The leader validates each record batch, checks `min.insync.replicas` for acks=all,
//! assigns offsets and stamps its leader epoch; then acks=1 answers at once, acks=all waits
//! until the high watermark covers the batch (every in-sync replica has it), and acks=0 gets
//! no answer at all, exactly as on the wire with Kafka.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::replica::{Replica, Role};
use crate::cluster::broker::Broker;
use crate::cluster::KafkaError;
use crate::protocol::records::{split_batches, BatchError};

/// The outcome of appending to one partition, before any acks=all wait.
struct Pending {
    topic_index: usize,
    partition: i32,
    outcome: Result<Waiting, KafkaError>,
}

struct Waiting {
    replica: Arc<Replica>,
    leader_epoch: i32,
    base_offset: i64,
    last_offset: i64,
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
            } else if r.transactional_id.is_some() {
                Err(KafkaError::new(
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "kafka-sandbox does not implement transactions",
                ))
            } else {
                append(
                    broker,
                    topic.name.as_str(),
                    p.index,
                    p.records.as_ref(),
                    acks,
                )
            };
            pending.push(Pending {
                topic_index,
                partition: p.index,
                outcome,
            });
        }
    }
    broker.notify_data_changed();
    if acks == 0 {
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
            Ok(w) => out.with_base_offset(w.base_offset),
            Err(e) => out
                .with_base_offset(-1)
                .with_error_code(e.code.code())
                .with_error_message(Some(StrBytes::from_string(e.message))),
        };
        responses[p.topic_index].partition_responses.push(out);
    }
    Some(ProduceResponse::default().with_responses(responses))
}

/// Appends one record batch as leader and waits until the ISR has it (acks=all), for the
/// broker's own writes such as group metadata and committed offsets.
pub async fn append_and_replicate(
    broker: &Broker,
    topic: &str,
    partition: i32,
    batch: bytes::Bytes,
    timeout: Duration,
) -> Result<i64, KafkaError> {
    let mut pending = vec![Pending {
        topic_index: 0,
        partition,
        outcome: append(broker, topic, partition, Some(&batch), -1),
    }];
    broker.notify_data_changed();
    wait_for_replication(broker, &mut pending, timeout).await;
    let Some(p) = pending.pop() else {
        unreachable!("one entry was pushed")
    };
    p.outcome.map(|w| w.base_offset)
}

fn append(
    broker: &Broker,
    topic: &str,
    partition: i32,
    records: Option<&bytes::Bytes>,
    acks: i16,
) -> Result<Waiting, KafkaError> {
    let Some(replica) = broker.replica(topic, partition) else {
        let known = broker.image().topics.contains_key(topic);
        let (code, msg) = if known {
            (
                ResponseError::NotLeaderOrFollower,
                format!(
                    "broker {} hosts no replica of {topic}-{partition}",
                    broker.id()
                ),
            )
        } else {
            (
                ResponseError::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist"),
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
    let st = replica.state();
    if st.role != Role::Leader {
        return Err(KafkaError::new(
            ResponseError::NotLeaderOrFollower,
            format!(
                "broker {} is not the leader of {topic}-{partition}",
                broker.id()
            ),
        ));
    }
    if acks == -1 && (st.isr.len() as i32) < st.min_insync_replicas {
        return Err(KafkaError::new(
            ResponseError::NotEnoughReplicas,
            format!(
                "ISR {:?} is smaller than min.insync.replicas={}",
                st.isr, st.min_insync_replicas
            ),
        ));
    }
    let mut log = replica.log();
    let appended = log.append_as_leader(&batches, st.leader_epoch)?;
    let hw = st.high_watermark(broker.id(), log.log_end_offset());
    if hw > log.high_watermark() {
        log.set_high_watermark(hw);
    }
    let leader_epoch = st.leader_epoch;
    drop(log);
    drop(st);
    Ok(Waiting {
        replica,
        leader_epoch,
        base_offset: appended.base_offset,
        last_offset: appended.last_offset,
    })
}

/// Waits until every appended batch is below the high watermark, the leader loses its role,
/// or the request's timeout passes.
async fn wait_for_replication(broker: &Broker, pending: &mut [Pending], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut changes = broker.watch_data();
    let mut open: Vec<usize> = (0..pending.len())
        .filter(|i| pending[*i].outcome.is_ok())
        .collect();
    loop {
        open.retain(|i| {
            let p = &mut pending[*i];
            let Ok(w) = &p.outcome else { return false };
            let verdict = {
                let st = w.replica.state();
                if st.role != Role::Leader || st.leader_epoch != w.leader_epoch {
                    Some(Err(KafkaError::new(
                        ResponseError::NotLeaderOrFollower,
                        "leadership moved before the write was replicated",
                    )))
                } else if w.replica.log().high_watermark() > w.last_offset {
                    if (st.isr.len() as i32) < st.min_insync_replicas {
                        Some(Err(KafkaError::new(
                            ResponseError::NotEnoughReplicasAfterAppend,
                            format!(
                                "written, but the ISR {:?} shrank below min.insync.replicas",
                                st.isr
                            ),
                        )))
                    } else {
                        Some(Ok(()))
                    }
                } else {
                    None
                }
            };
            match verdict {
                None => true,
                Some(Ok(())) => false,
                Some(Err(e)) => {
                    p.outcome = Err(e);
                    false
                }
            }
        });
        if open.is_empty() {
            return;
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {
                for i in open {
                    pending[i].outcome = Err(KafkaError::new(
                        ResponseError::RequestTimedOut,
                        "the in-sync replicas did not confirm the write in time",
                    ));
                }
                return;
            }
        }
    }
}
