//! Commit and abort as the coordinator records, lists and completes them, also when its broker
//! is killed mid-transaction.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{DescribeConfigsRequest, ListTransactionsRequest};
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

        // The coordinator's own topic has the settings Kafka forces on it.
        let described = conn
            .call(
                &DescribeConfigsRequest::default().with_resources(vec![
                    DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(StrBytes::from_static_str("__transaction_state")),
                ]),
                4,
                CALL,
            )
            .await
            .expect("DescribeConfigs");
        let setting = |name: &str| {
            described.results[0]
                .configs
                .iter()
                .find(|c| c.name.as_str() == name)
                .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
        };
        assert_eq!(setting("cleanup.policy").as_deref(), Some("compact"));
        assert_eq!(
            setting("unclean.leader.election.enable").as_deref(),
            Some("false")
        );
        assert_eq!(
            setting("min.insync.replicas").as_deref(),
            Some("2"),
            "transaction.state.log.min.isr"
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
/// `__transaction_state` partition, replays it, and the producer commits there. Then, with the
/// first broker back, that coordinator is killed too while the decision is recorded, and the
/// next one carries it out.
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
        // One broker down at a time: `__transaction_state` keeps Kafka's min.insync.replicas
        // of 2, so with two of three brokers down no coordinator could record anything.
        cluster.control().start(first).await.expect("started");
        cluster
            .wait_until(
                "the restarted broker back in every ISR of __transaction_state",
                WAIT,
                |s| fully_in_sync(s, "__transaction_state"),
            )
            .await;
        let second = coordinator(&cluster, &id).await;
        cluster.kill_broker(second).await.expect("killed");
        let (_, last) = wait_for_async(
            "another broker to coordinate the transaction",
            WAIT,
            || try_describe(&cluster, &id),
            |d| {
                d.as_ref()
                    .is_some_and(|(node, t)| *node != second && t.error_code == 0)
            },
        )
        .await
        .expect("the last coordinator answers");
        assert!(
            ["PrepareCommit", "CompleteCommit"].contains(&last.transaction_state.as_str()),
            "the recorded decision survived its coordinator: {}",
            last.transaction_state.as_str()
        );
        let decided = wait_decided(&cluster, &id, true).await;
        assert_eq!(decided.producer_id, before.producer_id);
    })
    .await;
}
