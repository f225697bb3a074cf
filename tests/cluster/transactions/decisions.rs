//! Commit and abort as the coordinator records, lists and completes them, also when its broker
//! is killed mid-transaction.

use kafka_protocol::messages::ListTransactionsRequest;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rdkafka::producer::Producer;

use super::{
    blocking, coordinator, describe, init, open_transaction, try_describe, txn_producer,
    wait_decided, CALL, WAIT,
};
use crate::util::*;

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
