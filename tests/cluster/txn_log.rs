//! The log side of transactions, through the wire and a real client: transactional batches
//! and WriteTxnMarkers sent as the coordinator would send them, then librdkafka consumers with
//! isolation.level=read_committed (which must see only committed records, stopping at an open
//! transaction) and read_uncommitted (which sees everything), and a client's own control batch
//! refused.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName,
    WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use kafka_protocol::ResponseError;
use kafka_sandbox::protocol::client::Connection;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::util::*;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// One batch of `values` from producer `pid` (transactional or plain).
fn batch(values: &[&str], pid: i64, transactional: bool, control: bool) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional,
            control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: if pid < 0 { -1 } else { 0 },
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: i as i64,
            sequence: if pid < 0 { -1 } else { i as i32 },
            timestamp: 1_700_000_000_000,
            key: control.then(|| Bytes::from_static(&[0, 0, 0, 1])),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

async fn produce(conn: &mut Connection, topic: &str, records: Bytes) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_transactional_id(Some(StrBytes::from_static_str("txn-log-test").into()))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let response: ProduceResponse = conn
        .call(&request, 9, Duration::from_secs(10))
        .await
        .unwrap();
    response.responses[0].partition_responses[0].error_code
}

async fn producer_id(conn: &mut Connection) -> i64 {
    let response: InitProducerIdResponse = conn
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
            4,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(response.error_code, 0);
    response.producer_id.0
}

async fn marker(conn: &mut Connection, topic: &str, pid: i64, commit: bool) {
    let request =
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(pid.into())
            .with_producer_epoch(0)
            .with_transaction_result(commit)
            .with_coordinator_epoch(0)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(name(topic))
                .with_partition_indexes(vec![0])])]);
    let response: WriteTxnMarkersResponse = conn
        .call(&request, 1, Duration::from_secs(15))
        .await
        .unwrap();
    let code = response.markers[0].topics[0].partitions[0].error_code;
    assert_eq!(code, 0, "marker for {pid} written");
}

/// Every value a consumer with `isolation` reads from the start of partition 0 until it has
/// read nothing new for a second.
fn read_all(cluster: &TestCluster, topic: &str, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = client_config(cluster)
        .set("group.id", unique("txn-log-reader"))
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut values = Vec::new();
    let mut quiet_since = std::time::Instant::now();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while quiet_since.elapsed() < Duration::from_secs(1) && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
            quiet_since = std::time::Instant::now();
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_consumers_see_only_committed_records_and_stop_at_an_open_transaction() {
    bounded(async {
        let cluster = TestCluster::start(3).await;
        let topic = unique("txn-log");
        create_topic(&cluster, &topic, 1, 3, &[]).await;
        let leader = cluster.snapshot().topic(&topic).unwrap().partitions[0]
            .leader
            .unwrap()
            .0;
        let mut conn = broker_connection(&cluster, leader, "txn-log-test").await;
        let (committer, aborter, dawdler) = (
            producer_id(&mut conn).await,
            producer_id(&mut conn).await,
            producer_id(&mut conn).await,
        );

        assert_eq!(
            produce(&mut conn, &topic, batch(&["before"], -1, false, false)).await,
            0
        );
        let committed = batch(&["committed-1", "committed-2"], committer, true, false);
        assert_eq!(produce(&mut conn, &topic, committed).await, 0);
        assert_eq!(
            produce(&mut conn, &topic, batch(&["aborted"], aborter, true, false)).await,
            0
        );
        marker(&mut conn, &topic, committer, true).await;
        marker(&mut conn, &topic, aborter, false).await;
        assert_eq!(
            produce(&mut conn, &topic, batch(&["open"], dawdler, true, false)).await,
            0
        );
        assert_eq!(
            produce(&mut conn, &topic, batch(&["after"], -1, false, false)).await,
            0
        );

        // A client's own control batch is refused.
        let forged = batch(&["forged"], aborter, true, true);
        assert_eq!(
            produce(&mut conn, &topic, forged).await,
            ResponseError::InvalidRecord.code()
        );

        let everything = [
            "before",
            "committed-1",
            "committed-2",
            "aborted",
            "open",
            "after",
        ];
        assert_eq!(read_all(&cluster, &topic, "read_uncommitted"), everything);
        assert_eq!(
            read_all(&cluster, &topic, "read_committed"),
            ["before", "committed-1", "committed-2"],
            "the aborted record is dropped and the open transaction holds back the rest"
        );

        // Once the open transaction is aborted too, what followed it becomes readable.
        marker(&mut conn, &topic, dawdler, false).await;
        assert_eq!(
            read_all(&cluster, &topic, "read_committed"),
            ["before", "committed-1", "committed-2", "after"]
        );
    })
    .await;
}
