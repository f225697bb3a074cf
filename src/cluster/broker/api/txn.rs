//! The transaction APIs a producer and an admin client send to the transaction coordinator:
//! InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
//! DescribeTransactions and ListTransactions. Each decodes the request, runs the transaction's
//! transition through the coordinator (which persists the new state before answering), and
//! encodes the answer for the client's version — older versions know PRODUCER_FENCED as
//! INVALID_PRODUCER_EPOCH (KIP-588 added the new code to InitProducerId v4 and to the others
//! at v2).

use std::collections::BTreeMap;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    describe_transactions_response, list_transactions_response, AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    DescribeTransactionsRequest, DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse,
    InitProducerIdRequest, InitProducerIdResponse, ListTransactionsRequest,
    ListTransactionsResponse, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::{groups, producer_id};
use crate::cluster::broker::Broker;
use crate::cluster::group::{partition_for as group_partition, OFFSETS_TOPIC};
use crate::cluster::txn::state::{InitOutcome, InitRequest, Transaction, TxnState};
use crate::cluster::txn::TRANSACTION_MAX_TIMEOUT;
use crate::protocol::records::now_millis;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

/// PRODUCER_FENCED as a client of `version` knows it: versions before `since` only know
/// INVALID_PRODUCER_EPOCH.
fn for_version(e: ResponseError, version: i16, since: i16) -> ResponseError {
    if e == ResponseError::ProducerFenced && version < since {
        ResponseError::InvalidProducerEpoch
    } else {
        e
    }
}

/// InitProducerId with a transactional id: a new id gets a producer id at epoch 0, a known
/// one its epoch bumped (fencing the previous producer); an open transaction of the previous
/// producer is aborted first.
pub(crate) async fn init(
    broker: &Broker,
    id: &TransactionalId,
    r: &InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let answer = |result: Result<(i64, i16), ResponseError>| match result {
        Ok((pid, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(pid.into())
            .with_producer_epoch(epoch),
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(for_version(e, version, 4).code())
            .with_producer_id((-1).into())
            .with_producer_epoch(-1),
    };
    let id = id.as_str();
    if id.is_empty() {
        return answer(Err(ResponseError::InvalidRequest));
    }
    let timeout_ms = r.transaction_timeout_ms;
    if timeout_ms <= 0 || i64::from(timeout_ms) > TRANSACTION_MAX_TIMEOUT.as_millis() as i64 {
        return answer(Err(ResponseError::InvalidTransactionTimeout));
    }
    let fresh = if broker.transactions.needs_producer_id(broker, id) {
        match producer_id::allocate(broker).await {
            Ok(pid) => Some(pid),
            Err(e) => return answer(Err(e)),
        }
    } else {
        None
    };
    let request = InitRequest {
        timeout_ms,
        producer_id: r.producer_id.0,
        producer_epoch: r.producer_epoch,
    };
    let result = broker
        .transactions
        .update(broker, id, |t, now| match t {
            None => {
                let pid = fresh.ok_or(ResponseError::CoordinatorNotAvailable)?;
                Ok((
                    Ok((pid, 0)),
                    Some(Transaction::new(id, pid, timeout_ms, now)),
                ))
            }
            Some(t) => match t.init(request, fresh, now)? {
                InitOutcome::Ready(next) => {
                    Ok((Ok((next.producer_id, next.producer_epoch)), Some(next)))
                }
                InitOutcome::AbortFirst(next) => {
                    Ok((Err(ResponseError::ConcurrentTransactions), Some(next)))
                }
            },
        })
        .await
        .and_then(|r| r);
    answer(result)
}

/// Adds `partitions` to `id`'s transaction (opening it if none is open).
async fn add(
    broker: &Broker,
    id: &str,
    producer_id: i64,
    epoch: i16,
    partitions: &[(String, i32)],
) -> Result<(), ResponseError> {
    broker
        .transactions
        .update(broker, id, |t, now| {
            let t = t.ok_or(ResponseError::InvalidProducerIdMapping)?;
            Ok(((), t.add_partitions(producer_id, epoch, partitions, now)?))
        })
        .await
}

/// AddPartitionsToTxn v0–3 (one transaction per request; v4+ is for brokers verifying a
/// transaction, which this coordinator does not ask for).
pub(crate) async fn add_partitions(
    broker: &Broker,
    r: AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    let image = broker.image();
    let mut wanted = Vec::new();
    let mut unknown = Vec::new();
    for topic in &r.v3_and_below_topics {
        let count = image
            .topics
            .get(topic.name.as_str())
            .map_or(0, |t| t.partitions.len() as i32);
        for p in &topic.partitions {
            let key = (topic.name.to_string(), *p);
            if (0..count).contains(p) {
                wanted.push(key);
            } else {
                unknown.push(key);
            }
        }
    }
    // Kafka adds none of the partitions if any is unknown, and says which one was.
    let outcome = if unknown.is_empty() {
        add(
            broker,
            r.v3_and_below_transactional_id.as_str(),
            r.v3_and_below_producer_id.0,
            r.v3_and_below_producer_epoch,
            &wanted,
        )
        .await
        .map_err(|e| for_version(e, version, 2))
    } else {
        Err(ResponseError::OperationNotAttempted)
    };
    let mut by_topic: BTreeMap<String, Vec<(i32, i16)>> = BTreeMap::new();
    let code = outcome.err().map_or(0, |e| e.code());
    for (topic, p) in wanted {
        by_topic.entry(topic).or_default().push((p, code));
    }
    for (topic, p) in unknown {
        let unknown = ResponseError::UnknownTopicOrPartition.code();
        by_topic.entry(topic).or_default().push((p, unknown));
    }
    let results = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(s(topic)))
                .with_results_by_partition(
                    partitions
                        .into_iter()
                        .map(|(p, code)| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction, so the
/// offsets the producer commits with TxnOffsetCommit get the transaction's marker.
pub(crate) async fn add_offsets(
    broker: &Broker,
    r: AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    groups::ensure_offsets_topic(broker).await;
    let partitions = broker
        .image()
        .topics
        .get(OFFSETS_TOPIC)
        .map(|t| t.partitions.len() as i32);
    let outcome = match partitions {
        None => Err(ResponseError::CoordinatorNotAvailable),
        Some(n) => {
            let partition = (
                OFFSETS_TOPIC.to_string(),
                group_partition(r.group_id.as_str(), n),
            );
            add(
                broker,
                r.transactional_id.as_str(),
                r.producer_id.0,
                r.producer_epoch,
                &[partition],
            )
            .await
        }
    };
    let code = outcome
        .err()
        .map_or(0, |e| for_version(e, version, 2).code());
    AddOffsetsToTxnResponse::default().with_error_code(code)
}

/// EndTxn: records the decision (PrepareCommit or PrepareAbort) and answers; the markers are
/// written in the background and the transaction then completes.
pub(crate) async fn end(broker: &Broker, r: EndTxnRequest, version: i16) -> EndTxnResponse {
    let (pid, epoch, commit) = (r.producer_id.0, r.producer_epoch, r.committed);
    let outcome = broker
        .transactions
        .update(broker, r.transactional_id.as_str(), |t, now| {
            let t = t.ok_or(ResponseError::InvalidProducerIdMapping)?;
            Ok(((), t.end(pid, epoch, commit, now)?))
        })
        .await;
    let code = outcome
        .err()
        .map_or(0, |e| for_version(e, version, 2).code());
    EndTxnResponse::default().with_error_code(code)
}

/// The partitions of a transaction, by topic, as the admin APIs list them.
fn topics(t: &Transaction) -> Vec<describe_transactions_response::TopicData> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, p) in &t.partitions {
        by_topic.entry(topic).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            describe_transactions_response::TopicData::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(partitions)
        })
        .collect()
}

/// DescribeTransactions: each id's state as its coordinator holds it.
pub(crate) fn describe(
    broker: &Broker,
    r: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = r
        .transactional_ids
        .into_iter()
        .map(|id| {
            let out = describe_transactions_response::TransactionState::default()
                .with_transactional_id(id.clone());
            match broker.transactions.describe(broker, id.as_str()) {
                Ok(t) => out
                    .with_transaction_state(s(t.state.name()))
                    .with_transaction_timeout_ms(t.timeout_ms)
                    .with_transaction_start_time_ms(t.start_ms)
                    .with_producer_id(t.producer_id.into())
                    .with_producer_epoch(t.producer_epoch)
                    .with_topics(topics(&t)),
                Err(e) => out.with_error_code(e.code()).with_producer_id((-1).into()),
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// ListTransactions (v0–1): the transactions this broker coordinates, filtered by state,
/// producer id and (v1) how long they have been open.
pub(crate) fn list(
    broker: &Broker,
    r: ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for f in &r.state_filters {
        match TxnState::ALL.iter().find(|st| st.name() == f.as_str()) {
            Some(st) => states.push(*st),
            None => unknown.push(f.clone()),
        }
    }
    let now = now_millis();
    let min_duration = if version >= 1 { r.duration_filter } else { -1 };
    let listed = broker
        .transactions
        .list(broker)
        .into_iter()
        .filter(|t| r.state_filters.is_empty() || states.contains(&t.state))
        .filter(|t| {
            r.producer_id_filters.is_empty()
                || r.producer_id_filters.iter().any(|p| p.0 == t.producer_id)
        })
        .filter(|t| min_duration < 0 || (t.start_ms >= 0 && now - t.start_ms >= min_duration))
        .map(|t| {
            list_transactions_response::TransactionState::default()
                .with_transactional_id(TransactionalId(s(t.transactional_id)))
                .with_producer_id(t.producer_id.into())
                .with_transaction_state(s(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(listed)
}
