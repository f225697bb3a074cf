//! A partition's log end offset as a client asks for it (ListOffsets through librdkafka),
//! asked again while leadership moves.
//!
//! librdkafka's `query_watermark_offsets` asks the leader it knows once and hands back the
//! broker's error. Right after a failover, or when the controller moves leaders back to their
//! preferred replicas, that leader may have stepped down: the answer is NOT_LEADER_OR_FOLLOWER,
//! which Kafka's clients treat as retriable (refresh metadata, ask the new leader). Doing the
//! same here keeps a read-back or a consumer start from failing on a leadership change a
//! moment old.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// The high watermark of `topic`-`partition`, asking again on retriable errors until `within`
/// has passed; the last error is returned when it never answers.
pub(crate) fn high_watermark<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    within: Duration,
) -> Result<i64, KafkaError> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_watermarks(topic, partition, left.max(Duration::from_millis(100))) {
            Ok((_, high)) => return Ok(high),
            Err(e) if retriable(&e) && Instant::now() + PAUSE < deadline => {
                std::thread::sleep(PAUSE)
            }
            Err(e) => return Err(e),
        }
    }
}

/// How long to wait before asking again: about the time a leader change takes to reach the
/// brokers' metadata.
const PAUSE: Duration = Duration::from_millis(100);

/// Errors Kafka's clients retry after refreshing metadata: the leader moved or is being chosen,
/// or the broker asked did not answer in time.
fn retriable(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::FencedLeaderEpoch
                | RDKafkaErrorCode::UnknownLeaderEpoch
                | RDKafkaErrorCode::OffsetNotAvailable
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::UnknownTopicOrPartition
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::embedded::EmbeddedCluster;
    use crate::client::admin::Admin;
    use crate::config::ClusterConfig;
    use rdkafka::config::ClientConfig;

    /// The consumer learns the leaders, then the controller moves a leadership to a broker
    /// that is still up: the first ListOffsets goes to a broker that no longer leads, answers
    /// NOT_LEADER_OR_FOLLOWER, and the end offset still comes back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_end_offset_comes_back_after_the_leader_moved() {
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .expect("the cluster starts");
        let admin = Admin::new(&cluster.bootstrap());
        admin.create_topic("moving", 1, 3, &[]).await.unwrap();
        let leader = |c: &EmbeddedCluster| {
            c.snapshot().topic("moving").unwrap().partitions[0]
                .leader
                .map_or(-1, |b| b.0)
        };
        let preferred = leader(&cluster);
        // A controlled stop moves the leadership away; back in the ISR, the broker does not
        // lead again until a preferred-leader election.
        cluster.stop_broker(preferred).await.unwrap();
        cluster.start_broker(preferred).await.unwrap();
        let back = cluster
            .wait_for(Duration::from_secs(10), |s| {
                let p = &s.topic("moving").unwrap().partitions[0];
                p.isr.len() == 3 && p.leader.is_some_and(|b| b.0 != preferred)
            })
            .await;
        assert!(
            back,
            "the stopped broker is back in the ISR: {}",
            cluster.snapshot()
        );
        let stand_in = leader(&cluster);

        // The consumer knows the stand-in as the leader.
        let bootstrap = cluster.broker_addr(stand_in).unwrap().to_string();
        let consumer = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .unwrap();
            consumer
                .fetch_metadata(Some("moving"), Duration::from_secs(5))
                .unwrap();
            consumer
        })
        .await
        .unwrap();
        cluster.elect_preferred_leaders();
        assert_eq!(leader(&cluster), preferred);
        let high = tokio::task::spawn_blocking(move || {
            high_watermark(&consumer, "moving", 0, Duration::from_secs(10))
        })
        .await
        .unwrap();
        assert_eq!(high.unwrap(), 0);
        cluster.shutdown().await;
    }
}
