//! Producer epochs and timeouts: a newer producer with the same id fences the old one and
//! aborts its open transaction, a transaction past its timeout is aborted, a timeout above the
//! maximum is refused, and the raw requests answer by version as Kafka's do.

use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, EndTxnRequest, GroupId, InitProducerIdRequest, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rdkafka::producer::Producer;

use super::consumers::read_values;
use super::{
    blocking, coordinator_connection, describe, init, open_transaction, txn_producer, wait_decided,
    CALL,
};
use crate::util::*;

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
        // The abort marker ended it: read_committed readers never see its record; only
        // read_uncommitted ones do.
        let seen = {
            let (cluster, topic) = (&cluster, topic.clone());
            tokio::task::block_in_place(|| {
                (
                    read_values(cluster, &topic, 1, "read_committed", 0),
                    read_values(cluster, &topic, 1, "read_uncommitted", 1),
                )
            })
        };
        assert_eq!(seen, (Vec::<String>::new(), vec!["v0".to_string()]));
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
