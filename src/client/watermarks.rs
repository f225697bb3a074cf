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
