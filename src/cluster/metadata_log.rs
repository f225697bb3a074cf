//! The `__cluster_metadata` topic: the controller appends each committed image as one record
//! (the image as JSON) in a real v2 record batch at the image's offset; brokers fetch the
//! partition with the ordinary Fetch API and apply the newest record.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::protocol::records::{encode_batch, now_millis, plain_record};

use super::image::MetadataImage;

/// The metadata topic's name, as in KRaft.
pub(crate) const METADATA_TOPIC: &str = "__cluster_metadata";

/// Encodes `image` as a one-record batch at offset `image.offset`.
pub fn encode(image: &MetadataImage) -> Bytes {
    let value = serde_json::to_vec(image).expect("images always serialize");
    let record = plain_record(image.offset, now_millis(), None, Some(Bytes::from(value)));
    encode_batch(&[record])
}

/// The Fetch a follower of the metadata log sends (a broker with its id, the observer with -1):
/// the image at offset `next` or newer, waiting up to `wait` for it.
pub(crate) fn fetch_request(replica_id: i32, next: i64, wait: Duration) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(replica_id.into())
        .with_max_wait_ms(i32::try_from(wait.as_millis()).unwrap_or(i32::MAX))
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![FetchPartition::default()
                .with_fetch_offset(next)
                .with_partition_max_bytes(64 << 20)])])
}

/// Decodes the newest image in a fetched record set.
pub(crate) fn decode_latest(mut records: Bytes) -> Result<Option<MetadataImage>, String> {
    let sets = RecordBatchDecoder::decode_all(&mut records).map_err(|e| e.to_string())?;
    let Some(record) = sets.into_iter().flat_map(|s| s.records).last() else {
        return Ok(None);
    };
    let value = record.value.ok_or("metadata record without a value")?;
    serde_json::from_slice(&value)
        .map(Some)
        .map_err(|e| format!("bad metadata record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_round_trip_through_a_record_batch() {
        let image = MetadataImage {
            offset: 42,
            cluster_id: "c".into(),
            ..Default::default()
        };
        assert_eq!(decode_latest(encode(&image)).unwrap(), Some(image));
    }
}
