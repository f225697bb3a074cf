//! What consumers see of transactions: read_committed only the committed ones,
//! read_uncommitted everything, and offsets sent to a transaction committed with it.

use std::time::Duration;

use rdkafka::producer::Producer;

use super::{blocking, coordinator, init, txn_producer, wait_decided, CALL, WAIT};
use crate::util::*;

/// Every value of `topic` a consumer at `isolation` reads from the beginning: reads until
/// `expected` values have come, then keeps reading for a moment so any extra one shows.
pub(super) fn read_values(
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
