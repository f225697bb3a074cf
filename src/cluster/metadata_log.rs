//! The `__cluster_metadata` topic: the controller appends each committed image as one record
//! (the image as JSON) in a real v2 record batch at the image's offset; brokers fetch the
//! partition with the ordinary Fetch API and apply the newest record.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::image::MetadataImage;

/// The metadata topic's name, as in KRaft.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// Encodes `image` as a one-record batch at offset `image.offset`.
pub fn encode(image: &MetadataImage) -> Bytes {
    let value = serde_json::to_vec(image).expect("images always serialize");
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: image.offset,
        sequence: -1,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
        key: None,
        value: Some(Bytes::from(value)),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("a single uncompressed record always encodes");
    buf.freeze()
}

/// Decodes the newest image in a fetched record set.
pub fn decode_latest(mut records: Bytes) -> Result<Option<MetadataImage>, String> {
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
