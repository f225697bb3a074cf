//! The transaction coordinator on the wire: rdkafka's transactional producer initialises,
//! commits, aborts, is fenced by a newer producer with its id and by its own timeout, and
//! carries on through the coordinator's broker being killed; DescribeTransactions and
//! ListTransactions report what the coordinator holds.
//! A decided transaction must complete: its markers are written by the partition leaders
//! (WriteTxnMarkers), after which read_committed consumers see exactly the committed records.
//!
//! One file per concern: `decisions.rs` (commit, abort, failover), `fencing.rs` (producer
//! epochs, timeouts), `consumers.rs` (what read_committed consumers and groups see),
//! `kafka_python.rs` (a second client's transactional producer); this one holds what they
//! share.

mod consumers;
mod decisions;
mod fencing;
mod kafka_python;

use std::time::Duration;

use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, FindCoordinatorRequest, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use kafka_sandbox::backend::snapshot::BrokerState;
use kafka_sandbox::protocol::client::Connection;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};

use crate::util::*;

const CALL: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(30);

fn txn_producer(cluster: &TestCluster, id: &str, timeout_ms: u32) -> FutureProducer {
    client_config(cluster)
        .set("socket.timeout.ms", "2000")
        .set("transactional.id", id)
        .set("transaction.timeout.ms", timeout_ms.to_string())
        .create()
        .expect("transactional producer")
}

/// Runs one of rdkafka's blocking transaction calls off the runtime.
async fn blocking<T: Send + 'static>(
    producer: &FutureProducer,
    call: impl FnOnce(&FutureProducer) -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || call(&producer))
        .await
        .expect("the call does not panic")
}

async fn init(producer: &FutureProducer) -> Result<(), KafkaError> {
    blocking(producer, |p| p.init_transactions(CALL * 3)).await
}

/// Some running broker.
fn any_broker(cluster: &TestCluster) -> i32 {
    cluster
        .snapshot()
        .brokers
        .iter()
        .find(|b| b.state == BrokerState::Up)
        .expect("a running broker")
        .id
        .0
}

/// The coordinator of `id` as FindCoordinator(TRANSACTION) names it, and what it answers to
/// DescribeTransactions; None while the coordinator cannot be found or reached (a failover).
async fn try_describe(cluster: &TestCluster, id: &str) -> Option<(i32, TransactionState)> {
    let addr = cluster.broker_addr(any_broker(cluster)).ok()?;
    let mut conn = Connection::connect(&addr.to_string(), "txn-test", CALL)
        .await
        .ok()?;
    let request = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_key(StrBytes::from_string(id.to_string()));
    let found = conn.call(&request, 3, CALL).await.ok()?;
    if found.error_code != 0 {
        return None;
    }
    let node = found.node_id.0;
    let addr = cluster.broker_addr(node).ok()?;
    let mut conn = Connection::connect(&addr.to_string(), "txn-test", CALL)
        .await
        .ok()?;
    let request = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]);
    let mut answer = conn.call(&request, 0, CALL).await.ok()?;
    Some((node, answer.transaction_states.remove(0)))
}

/// The coordinator of `id`.
async fn coordinator(cluster: &TestCluster, id: &str) -> i32 {
    wait_for_async(
        "a coordinator",
        WAIT,
        || try_describe(cluster, id),
        Option::is_some,
    )
    .await
    .map(|(node, _)| node)
    .expect("found")
}

/// DescribeTransactions for `id`, asked of its coordinator.
async fn describe(cluster: &TestCluster, id: &str) -> TransactionState {
    let answered = |d: &Option<(i32, TransactionState)>| {
        d.as_ref().is_some_and(|(_, t)| {
            t.error_code != ResponseError::NotCoordinator.code()
                && t.error_code != ResponseError::CoordinatorNotAvailable.code()
        })
    };
    wait_for_async("an answer", WAIT, || try_describe(cluster, id), answered)
        .await
        .map(|(_, t)| t)
        .expect("answered")
}

/// Waits until `id`'s state is one of `states`.
async fn wait_state(cluster: &TestCluster, id: &str, states: &[&str]) -> TransactionState {
    wait_for_async(
        &format!("transaction {id} to reach one of {states:?}"),
        WAIT,
        || describe(cluster, id),
        |t| states.contains(&t.transaction_state.as_str()),
    )
    .await
}

/// The state a decided transaction must reach: complete once markers are answered.
async fn wait_decided(cluster: &TestCluster, id: &str, commit: bool) -> TransactionState {
    let complete = if commit {
        "CompleteCommit"
    } else {
        "CompleteAbort"
    };
    wait_state(cluster, id, &[complete]).await
}

async fn open_transaction(producer: &FutureProducer, topic: &str, records: usize) {
    blocking(producer, |p| p.begin_transaction())
        .await
        .expect("begin");
    for i in 0..records {
        send(producer, topic, &format!("k{i}"), &format!("v{i}"))
            .await
            .expect("sent in the transaction");
    }
}

/// A connection to the coordinator of `id`.
async fn coordinator_connection(cluster: &TestCluster, id: &str) -> Connection {
    let node = coordinator(cluster, id).await;
    broker_connection(cluster, node, "txn-test").await
}
