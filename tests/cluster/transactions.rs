//! The transaction coordinator on the wire: rdkafka's transactional producer initialises,
//! commits, aborts, is fenced by a newer producer with its id and by its own timeout, and
//! carries on through the coordinator's broker being killed; DescribeTransactions and
//! ListTransactions report what the coordinator holds.
//! A decided transaction must complete: its markers are written by the partition leaders
//! (WriteTxnMarkers), after which read_committed consumers see exactly the committed records.

use std::time::Duration;

use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest, FindCoordinatorRequest,
    GroupId, InitProducerIdRequest, ListTransactionsRequest, TransactionalId,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committed_transaction_is_recorded_and_listed() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("txn-commit");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let id = unique("tx-commit");
        let producer = txn_producer(&cluster, &id, 60_000);
        init(&producer).await.expect("init_transactions");
        let fresh = describe(&cluster, &id).await;
        assert_eq!(fresh.transaction_state.as_str(), "Empty");
        assert!(fresh.producer_id.0 >= 0);
        assert_eq!(fresh.producer_epoch, 0);

        open_transaction(&producer, &topic, 4).await;
        let open = describe(&cluster, &id).await;
        assert_eq!(open.transaction_state.as_str(), "Ongoing");
        assert_eq!(open.transaction_timeout_ms, 60_000);
        assert!(open.transaction_start_time_ms > 0);
        assert_eq!(open.topics.len(), 1);
        assert_eq!(open.topics[0].topic.as_str(), topic);

        // The coordinator lists it; an unknown state filter is reported back.
        let node = coordinator(&cluster, &id).await;
        let mut conn = broker_connection(&cluster, node, "txn-test").await;
        let listed = conn
            .call(
                &ListTransactionsRequest::default().with_state_filters(vec![
                    StrBytes::from_static_str("Ongoing"),
                    StrBytes::from_static_str("Sleeping"),
                ]),
                1,
                CALL,
            )
            .await
            .expect("ListTransactions");
        assert_eq!(
            listed.unknown_state_filters,
            vec![StrBytes::from_static_str("Sleeping")]
        );
        assert!(
            listed
                .transaction_states
                .iter()
                .any(|t| t.transactional_id.as_str() == id && t.producer_id == open.producer_id),
            "{listed:?}"
        );

        blocking(&producer, |p| p.commit_transaction(CALL * 3))
            .await
            .expect("commit_transaction");
        let done = wait_decided(&cluster, &id, true).await;
        assert_eq!(done.producer_id, open.producer_id);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_aborted_transaction_is_recorded_and_unknown_ids_are_not_found() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let topic = unique("txn-abort");
        create_topic(&cluster, &topic, 1, 1, &[]).await;
        let id = unique("tx-abort");
        let producer = txn_producer(&cluster, &id, 60_000);
        init(&producer).await.expect("init_transactions");
        open_transaction(&producer, &topic, 2).await;
        blocking(&producer, |p| p.abort_transaction(CALL * 3))
            .await
            .expect("abort_transaction");
        wait_decided(&cluster, &id, false).await;

        let unknown = describe(&cluster, &unique("tx-never")).await;
        assert_eq!(
            unknown.error_code,
            ResponseError::TransactionalIdNotFound.code()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let topic = unique("txn-fence");
        create_topic(&cluster, &topic, 1, 1, &[]).await;
        let id = unique("tx-fence");
        let zombie = txn_producer(&cluster, &id, 60_000);
        init(&zombie).await.expect("first init");
        let successor = txn_producer(&cluster, &id, 60_000);
        init(&successor).await.expect("second init");
        assert_eq!(describe(&cluster, &id).await.producer_epoch, 1);

        blocking(&zombie, |p| p.begin_transaction())
            .await
            .expect("begin is local");
        let sent = send(&zombie, &topic, "k", "zombie").await;
        let committed = blocking(&zombie, |p| p.commit_transaction(CALL * 3)).await;
        assert!(
            sent.is_err() || committed.is_err(),
            "the zombie got through"
        );
        let fatal = zombie.client().fatal_error();
        let said = format!("{sent:?} {committed:?} {fatal:?}").to_lowercase();
        assert!(said.contains("fenced"), "{said}");

        // The successor works.
        open_transaction(&successor, &topic, 1).await;
        blocking(&successor, |p| p.commit_transaction(CALL * 3))
            .await
            .expect("the successor commits");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let topic = unique("txn-timeout");
        create_topic(&cluster, &topic, 1, 1, &[]).await;
        let id = unique("tx-timeout");
        let producer = txn_producer(&cluster, &id, 3_000);
        init(&producer).await.expect("init_transactions");
        open_transaction(&producer, &topic, 1).await;
        let aborted = wait_decided(&cluster, &id, false).await;
        assert_eq!(aborted.producer_epoch, 1, "the abort bumped the epoch");
        let committed = blocking(&producer, |p| p.commit_transaction(CALL * 3)).await;
        assert!(committed.is_err(), "a timed-out transaction cannot commit");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timeout_above_the_maximum_is_refused() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let producer = txn_producer(&cluster, &unique("tx-long"), 900_001);
        let err = init(&producer)
            .await
            .expect_err("above transaction.max.timeout.ms");
        // librdkafka words INVALID_TRANSACTION_TIMEOUT as below.
        assert!(
            err.to_string()
                .contains("Transaction timeout is larger than the maximum"),
            "{err}"
        );
    })
    .await;
}

/// The coordinator's broker is killed with a transaction open: another broker takes over its
/// `__transaction_state` partition, replays it, and the producer commits there. Then that
/// coordinator is killed too while the decision is recorded, and the last one carries it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_survives_its_coordinators_broker_being_killed() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("txn-failover");
        create_topic(&cluster, &topic, 3, 3, &[]).await;
        let id = unique("tx-failover");
        let producer = txn_producer(&cluster, &id, 60_000);
        init(&producer).await.expect("init_transactions");
        open_transaction(&producer, &topic, 6).await;
        let before = describe(&cluster, &id).await;
        assert_eq!(before.transaction_state.as_str(), "Ongoing");

        let first = coordinator(&cluster, &id).await;
        cluster.kill_broker(first).await.expect("killed");
        let (_, replayed) = wait_for_async(
            "another broker to coordinate the transaction",
            WAIT,
            || try_describe(&cluster, &id),
            |d| {
                d.as_ref()
                    .is_some_and(|(node, t)| *node != first && t.error_code == 0)
            },
        )
        .await
        .expect("described");
        assert_eq!(replayed.transaction_state.as_str(), "Ongoing");
        assert_eq!(
            (replayed.producer_id, replayed.producer_epoch),
            (before.producer_id, before.producer_epoch)
        );
        assert_eq!(replayed.topics, before.topics);

        blocking(&producer, |p| p.commit_transaction(CALL * 4))
            .await
            .expect("commit at the new coordinator");
        let second = coordinator(&cluster, &id).await;
        cluster.kill_broker(second).await.expect("killed");
        wait_for_async(
            "the last broker to coordinate the transaction",
            WAIT,
            || try_describe(&cluster, &id),
            |d| {
                d.as_ref()
                    .is_some_and(|(node, t)| *node != first && *node != second && t.error_code == 0)
            },
        )
        .await;
        let decided = wait_decided(&cluster, &id, true).await;
        assert_eq!(decided.producer_id, before.producer_id);
    })
    .await;
}

/// A connection to the coordinator of `id`.
async fn coordinator_connection(cluster: &TestCluster, id: &str) -> Connection {
    let node = coordinator(cluster, id).await;
    broker_connection(cluster, node, "txn-test").await
}

/// The raw requests rdkafka makes for us elsewhere, where the answer depends on the version:
/// AddOffsetsToTxn adds the group's `__consumer_offsets` partition, an old epoch is
/// PRODUCER_FENCED from v2 and INVALID_PRODUCER_EPOCH before; InitProducerId with the
/// transaction open aborts it first (CONCURRENT_TRANSACTIONS), bumping the epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_offsets_and_a_reinit_during_a_transaction_follow_kafkas_rules() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let id = unique("tx-raw");
        let txn_id = || TransactionalId(StrBytes::from_string(id.clone()));
        let init = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id()))
            .with_transaction_timeout_ms(60_000);
        let mut conn = coordinator_connection(&cluster, &id).await;
        let first = conn.call(&init, 4, CALL).await.expect("InitProducerId");
        assert_eq!(first.error_code, 0);
        let (pid, epoch) = (first.producer_id, first.producer_epoch);

        let group = unique("txn-group");
        let add = AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn_id())
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(StrBytes::from_string(group.clone())));
        let added = conn.call(&add, 3, CALL).await.expect("AddOffsetsToTxn");
        assert_eq!(added.error_code, 0);
        let open = describe(&cluster, &id).await;
        assert_eq!(open.transaction_state.as_str(), "Ongoing");
        let offsets_partitions = cluster
            .snapshot()
            .topic("__consumer_offsets")
            .expect("created for the group")
            .partitions
            .len() as i32;
        let expected = kafka_sandbox::cluster::group::partition_for(&group, offsets_partitions);
        assert_eq!(open.topics.len(), 1);
        assert_eq!(open.topics[0].topic.as_str(), "__consumer_offsets");
        assert_eq!(open.topics[0].partitions, vec![expected]);

        // A re-init aborts the open transaction first, with the epoch bumped.
        let mut conn = coordinator_connection(&cluster, &id).await;
        let second = conn.call(&init, 4, CALL).await.expect("InitProducerId");
        assert_eq!(
            second.error_code,
            ResponseError::ConcurrentTransactions.code()
        );
        let aborting = wait_decided(&cluster, &id, false).await;
        assert_eq!(aborting.producer_epoch, epoch + 1);
        // Once the abort is complete, the retried InitProducerId gets the next epoch.
        let third = conn.call(&init, 4, CALL).await.expect("InitProducerId");
        assert_eq!(
            (third.error_code, third.producer_id, third.producer_epoch),
            (0, pid, epoch + 2)
        );

        // The first producer is a zombie now: fenced, in each version's words.
        let stale = add.clone().with_producer_epoch(epoch);
        let fenced = conn
            .call(&stale, 3, CALL)
            .await
            .expect("AddOffsetsToTxn v3");
        let old = conn
            .call(&stale, 1, CALL)
            .await
            .expect("AddOffsetsToTxn v1");
        let end = EndTxnRequest::default()
            .with_transactional_id(txn_id())
            .with_producer_id(pid)
            .with_producer_epoch(epoch)
            .with_committed(true);
        let ended = conn.call(&end, 3, CALL).await.expect("EndTxn");
        assert_eq!(
            (fenced.error_code, old.error_code, ended.error_code),
            (
                ResponseError::ProducerFenced.code(),
                ResponseError::InvalidProducerEpoch.code(),
                ResponseError::ProducerFenced.code()
            )
        );
    })
    .await;
}

/// A new producer with the id of one that has a transaction open: the coordinator aborts that
/// transaction (its markers written), the new producer then gets the next epoch
/// but one, and the old producer's commit is fenced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_producer_aborts_its_predecessors_open_transaction() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("txn-takeover");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let id = unique("tx-takeover");
        let zombie = txn_producer(&cluster, &id, 60_000);
        init(&zombie).await.expect("first init");
        open_transaction(&zombie, &topic, 3).await;
        let successor = txn_producer(&cluster, &id, 60_000);
        init(&successor).await.expect("init after the abort");
        let now = describe(&cluster, &id).await;
        assert_eq!(now.transaction_state.as_str(), "Empty");
        assert_eq!(
            now.producer_epoch, 2,
            "one bump to abort, one for the successor"
        );
        let committed = blocking(&zombie, |p| p.commit_transaction(CALL * 3)).await;
        let said = format!("{committed:?}").to_lowercase();
        assert!(said.contains("fenced"), "{said}");
    })
    .await;
}

/// Every value of `topic` a consumer at `isolation` reads from the beginning: reads until
/// `expected` values have come, then keeps reading for a moment so any extra one shows.
fn read_values(
    cluster: &TestCluster,
    topic: &str,
    partitions: i32,
    isolation: &str,
    expected: usize,
) -> Vec<String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = client_config(cluster)
        .set("group.id", unique("txn-reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = std::time::Instant::now() + WAIT;
    let mut values = Vec::new();
    let mut complete_at = None;
    while std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        }
        if values.len() >= expected {
            let since = *complete_at.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
    }
    values.sort();
    values
}

/// End to end: committed transactions are visible to
/// read_committed consumers and aborted ones never are, including one committed after its
/// coordinator's broker was killed mid-transaction; read_uncommitted consumers see everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_committed_consumers_see_exactly_the_committed_transactions() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("txn-e2e");
        create_topic(&cluster, &topic, 2, 3, &[]).await;
        let id = unique("tx-e2e");
        let producer = txn_producer(&cluster, &id, 60_000);
        init(&producer).await.expect("init_transactions");
        let sends = |values: &'static [&'static str]| {
            let producer = producer.clone();
            let topic = topic.clone();
            async move {
                blocking(&producer, |p| p.begin_transaction())
                    .await
                    .expect("begin");
                for v in values {
                    send(&producer, &topic, v, v).await.expect("sent");
                }
            }
        };
        sends(&["c1", "c2", "c3"]).await;
        blocking(&producer, |p| p.commit_transaction(CALL * 3))
            .await
            .expect("commit");
        sends(&["a1", "a2"]).await;
        blocking(&producer, |p| p.abort_transaction(CALL * 3))
            .await
            .expect("abort");
        sends(&["c4", "c5"]).await;
        let coordinator = coordinator(&cluster, &id).await;
        cluster.kill_broker(coordinator).await.expect("killed");
        blocking(&producer, |p| p.commit_transaction(CALL * 6))
            .await
            .expect("commit at the next coordinator");
        wait_decided(&cluster, &id, true).await;

        let committed =
            tokio::task::block_in_place(|| read_values(&cluster, &topic, 2, "read_committed", 5));
        assert_eq!(committed, ["c1", "c2", "c3", "c4", "c5"]);
        let everything =
            tokio::task::block_in_place(|| read_values(&cluster, &topic, 2, "read_uncommitted", 7));
        assert_eq!(everything, ["a1", "a2", "c1", "c2", "c3", "c4", "c5"]);
    })
    .await;
}

/// Offsets sent to a transaction (AddOffsetsToTxn, then TxnOffsetCommit to the group
/// coordinator) become the group's committed offsets when the transaction commits, and are
/// dropped when it aborts — which takes markers on the group's `__consumer_offsets` partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offsets_sent_to_a_transaction_are_committed_with_it() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let topic = unique("txn-offsets");
        create_topic(&cluster, &topic, 1, 1, &[]).await;
        let group = unique("txn-offsets-group");
        let consumer: BaseConsumer = client_config(&cluster)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let producer = txn_producer(&cluster, &unique("tx-offsets"), 60_000);
        init(&producer).await.expect("init_transactions");
        let at = |offset| {
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(offset))
                .expect("partition");
            tpl
        };
        for (offset, commit) in [(5, true), (9, false)] {
            let offsets = at(offset);
            let metadata = consumer.group_metadata().expect("group metadata");
            blocking(&producer, move |p| {
                p.begin_transaction()?;
                p.send_offsets_to_transaction(&offsets, &metadata, CALL * 3)?;
                if commit {
                    p.commit_transaction(CALL * 3)
                } else {
                    p.abort_transaction(CALL * 3)
                }
            })
            .await
            .expect("the transaction ends");
        }
        let committed = tokio::task::block_in_place(|| {
            consumer
                .committed_offsets(at(0), CALL)
                .expect("OffsetFetch")
        });
        assert_eq!(
            committed.elements()[0].offset(),
            rdkafka::Offset::Offset(5),
            "the committed transaction's offset, not the aborted one's"
        );
    })
    .await;
}
