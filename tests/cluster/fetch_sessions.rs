//! Incremental fetch sessions (KIP-227) on the wire: a session opened by a full fetch answers
//! later fetches with only the partitions that changed, forgets what it is told to, and refuses
//! wrong epochs and unknown ids with Kafka's error codes.

use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use kafka_sandbox::protocol::client::Connection;
use rdkafka::producer::FutureRecord;

use crate::util::*;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// A consumer's fetch (no replica id) of `partitions` at the given offsets, not waiting.
fn fetch(topic: &str, session: (i32, i32), partitions: &[(i32, i64)]) -> FetchRequest {
    let listed = partitions
        .iter()
        .map(|(p, offset)| {
            FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(*offset)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(1 << 20)
        })
        .collect::<Vec<_>>();
    let topics = if listed.is_empty() {
        vec![]
    } else {
        vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(listed)]
    };
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_session_id(session.0)
        .with_session_epoch(session.1)
        .with_topics(topics)
}

async fn call(conn: &mut Connection, request: &FetchRequest) -> FetchResponse {
    conn.call(request, 12, Duration::from_secs(5))
        .await
        .expect("the broker answers Fetch")
}

/// (partition, records in the response) for every partition the response carries.
fn carried(response: &FetchResponse) -> Vec<(i32, usize)> {
    let mut out: Vec<(i32, usize)> = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let records = p.records.clone().map_or(0, |mut bytes| {
                kafka_protocol::records::RecordBatchDecoder::decode_all(&mut bytes)
                    .map_or(0, |sets| sets.iter().map(|s| s.records.len()).sum())
            });
            (p.partition_index, records)
        })
        .collect();
    out.sort();
    out
}

async fn produce_to(cluster: &TestCluster, topic: &str, partition: i32, values: &[&str]) {
    let producer = producer(cluster, "all");
    for v in values {
        producer
            .send(
                FutureRecord::<str, str>::to(topic)
                    .partition(partition)
                    .payload(*v),
                Duration::from_secs(10),
            )
            .await
            .expect("acknowledged");
    }
}

#[tokio::test]
async fn a_session_answers_only_what_changed_and_refuses_bad_epochs() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let topic = unique("sessions");
        create_topic(&cluster, &topic, 3, 1, &[]).await;
        produce_to(&cluster, &topic, 1, &["a", "b"]).await;
        let mut conn = broker_connection(&cluster, 1, "session-test").await;

        // A full fetch at epoch 0 opens a session and carries every partition.
        let all = [(0, 0), (1, 0), (2, 0)];
        let first = call(&mut conn, &fetch(&topic, (0, 0), &all)).await;
        assert_eq!(first.error_code, 0);
        let id = first.session_id;
        assert!(id > 0, "a session was opened: {first:?}");
        assert_eq!(carried(&first), vec![(0, 0), (1, 2), (2, 0)]);

        // Moving partition 1's position past its records: nothing has news.
        let quiet = call(&mut conn, &fetch(&topic, (id, 1), &[(1, 2)])).await;
        assert_eq!((quiet.error_code, quiet.session_id), (0, id));
        assert_eq!(
            carried(&quiet),
            vec![],
            "an unchanged session answers nothing"
        );

        // New records in partition 2 come back without partition 2 being listed again.
        produce_to(&cluster, &topic, 2, &["c"]).await;
        let news = call(&mut conn, &fetch(&topic, (id, 2), &[])).await;
        assert_eq!(
            carried(&news),
            vec![(2, 1)],
            "only the partition with news: {news:?}"
        );

        // A repeated epoch and an unknown session are refused, as Kafka does.
        let stale = call(&mut conn, &fetch(&topic, (id, 2), &[])).await;
        assert_eq!(
            stale.error_code,
            ResponseError::InvalidFetchSessionEpoch.code()
        );
        let unknown = call(&mut conn, &fetch(&topic, (id + 1000, 1), &[])).await;
        assert_eq!(
            unknown.error_code,
            ResponseError::FetchSessionIdNotFound.code()
        );

        // A forgotten partition's news no longer comes back.
        let forget = fetch(&topic, (id, 3), &[(2, 1)]).with_forgotten_topics_data(vec![
            ForgottenTopic::default()
                .with_topic(name(&topic))
                .with_partitions(vec![0]),
        ]);
        assert_eq!(carried(&call(&mut conn, &forget).await), vec![]);
        produce_to(&cluster, &topic, 0, &["d"]).await;
        produce_to(&cluster, &topic, 1, &["e"]).await;
        let after = call(&mut conn, &fetch(&topic, (id, 4), &[])).await;
        assert_eq!(carried(&after), vec![(1, 1)], "partition 0 was forgotten");

        // librdkafka's way, (0, -1), is a full fetch without a session.
        let sessionless = call(&mut conn, &fetch(&topic, (0, -1), &all)).await;
        assert_eq!(sessionless.session_id, 0);
        assert_eq!(carried(&sessionless), vec![(0, 1), (1, 3), (2, 1)]);
    })
    .await;
}

/// A waiting incremental fetch wakes for news in any of its session's partitions, listed in
/// the request or not, answers with just that partition, and sleeps through writes to
/// partitions outside its session.
#[tokio::test]
async fn a_waiting_session_wakes_only_for_its_own_partitions() {
    bounded(async {
        let cluster = TestCluster::start(1).await;
        let topic = unique("session-wait");
        create_topic(&cluster, &topic, 3, 1, &[]).await;
        let mut conn = broker_connection(&cluster, 1, "session-wait").await;
        let first = call(&mut conn, &fetch(&topic, (0, 0), &[(1, 0), (2, 0)])).await;
        let id = first.session_id;
        assert!(id > 0, "a session was opened: {first:?}");
        let waiting = |epoch: i32, max_wait_ms: i32| {
            fetch(&topic, (id, epoch), &[])
                .with_max_wait_ms(max_wait_ms)
                .with_min_bytes(1)
        };

        // A write to partition 0, which the session does not hold, does not end the wait.
        let started = std::time::Instant::now();
        let request = waiting(1, 1500);
        let (quiet, ()) = tokio::join!(
            call(&mut conn, &request),
            produce_to(&cluster, &topic, 0, &["elsewhere"])
        );
        assert_eq!(carried(&quiet), vec![]);
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "the fetch waited out its max_wait_ms: {:?}",
            started.elapsed()
        );

        // A write to partition 2, unlisted since the first request, ends it at once.
        let started = std::time::Instant::now();
        let request = waiting(2, 20_000);
        let (woken, ()) = tokio::join!(call(&mut conn, &request), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            produce_to(&cluster, &topic, 2, &["here"]).await;
        });
        assert_eq!(
            carried(&woken),
            vec![(2, 1)],
            "only the partition that moved"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "woken by the write, not the deadline: {:?}",
            started.elapsed()
        );
    })
    .await;
}
