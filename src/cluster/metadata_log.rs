//! The `__cluster_metadata` topic: the controller appends each committed image as one record
//! (the image as JSON) in a real v2 record batch at the image's offset; brokers fetch the
//! partition with the ordinary Fetch API and apply the newest record.

use bytes::Bytes;
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
