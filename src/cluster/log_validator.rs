//! Kafka's `LogValidator`, for what a produced batch claims about its records: the leader
//! checks them before anything is appended, so a batch that lies is refused whole and never
//! reaches a consumer. A v2 batch must hold exactly `record count` records, numbered by offset
//! delta 0, 1, 2 … up to `last offset delta`, each exactly as long as it says, with nothing
//! left over; a compressed batch must decompress (gzip, snappy, lz4 and zstd, what librdkafka
//! produces), to no more than a ceiling; a compacted topic takes no record without a key.

use bytes::{Buf, Bytes};
use kafka_protocol::ResponseError;

use super::decompress::DecompressError;

use crate::cluster::KafkaError;
use crate::protocol::records::{BatchHeader, BATCH_HEADER_LEN};

/// Why a batch was refused, before the error code is chosen.
fn invalid(message: String) -> KafkaError {
    KafkaError::new(ResponseError::InvalidRecord, message)
}

/// The records of `batch` (a whole v2 batch), decompressed (at most
/// [`MAX_DECOMPRESSED`](super::decompress::MAX_DECOMPRESSED)).
fn records(header: &BatchHeader, batch: &Bytes) -> Result<Bytes, KafkaError> {
    let body = batch.slice(BATCH_HEADER_LEN.min(batch.len())..);
    super::decompress::records(header.attributes & 0x7, body).map_err(|e| {
        let code = match e {
            DecompressError::TooLarge { .. } => ResponseError::InvalidRecord,
            _ => ResponseError::CorruptMessage,
        };
        KafkaError::new(code, e.to_string())
    })
}

/// A zigzag varint (Kafka's record fields), or `None` if the bytes end first.
fn varint(buf: &mut Bytes) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        if !buf.has_remaining() {
            return None;
        }
        let b = buf.get_u8();
        raw |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

/// Skips a length-prefixed field (-1: null); returns whether it was null.
fn skip_field(buf: &mut Bytes) -> Option<bool> {
    let len = varint(buf)?;
    if len < 0 {
        return Some(true);
    }
    let len = usize::try_from(len).ok()?;
    if buf.remaining() < len {
        return None;
    }
    buf.advance(len);
    Some(false)
}

/// Checks one record; returns whether its key was null.
fn record(buf: &mut Bytes, expected_delta: i64) -> Result<bool, String> {
    let length = varint(buf).ok_or("a record's length is cut off")?;
    let length = usize::try_from(length).map_err(|_| format!("a record length of {length}"))?;
    if buf.remaining() < length {
        return Err(format!(
            "record {expected_delta} claims {length} bytes but only {} remain in the batch",
            buf.remaining()
        ));
    }
    let mut body = buf.split_to(length);
    let cut = || format!("record {expected_delta} ends inside its own fields");
    body.get_u8_checked().ok_or_else(cut)?; // attributes
    varint(&mut body).ok_or_else(cut)?; // timestamp delta
    let delta = varint(&mut body).ok_or_else(cut)?;
    if delta != expected_delta {
        return Err(format!(
            "record offset deltas must run 0, 1, 2 …: found {delta} where {expected_delta} belongs"
        ));
    }
    let key_null = skip_field(&mut body).ok_or_else(cut)?;
    skip_field(&mut body).ok_or_else(cut)?;
    let headers = varint(&mut body).ok_or_else(cut)?;
    for _ in 0..headers.max(0) {
        let name = varint(&mut body).ok_or_else(cut)?;
        let name = usize::try_from(name).map_err(|_| cut())?;
        if body.remaining() < name {
            return Err(cut());
        }
        body.advance(name);
        skip_field(&mut body).ok_or_else(cut)?;
    }
    if body.has_remaining() {
        return Err(format!(
            "record {expected_delta} is {} bytes longer than its fields",
            body.remaining()
        ));
    }
    Ok(key_null)
}

/// Validates one produced batch as Kafka's leader does before appending it.
pub(crate) fn validate(
    header: &BatchHeader,
    batch: &Bytes,
    compacted: bool,
) -> Result<(), KafkaError> {
    if i64::from(header.last_offset_delta) + 1 != i64::from(header.record_count) {
        return Err(invalid(format!(
            "inconsistent batch: last offset delta {} with {} records",
            header.last_offset_delta, header.record_count
        )));
    }
    let mut buf = records(header, batch)?;
    for delta in 0..i64::from(header.record_count) {
        let key_null = record(&mut buf, delta).map_err(invalid)?;
        if key_null && compacted {
            return Err(invalid(
                "a compacted topic (cleanup.policy=compact) takes only records with a key".into(),
            ));
        }
    }
    if buf.has_remaining() {
        return Err(invalid(format!(
            "{} bytes follow the batch's {} records",
            buf.remaining(),
            header.record_count
        )));
    }
    Ok(())
}

trait CheckedU8 {
    fn get_u8_checked(&mut self) -> Option<u8>;
}

impl CheckedU8 for Bytes {
    fn get_u8_checked(&mut self) -> Option<u8> {
        self.has_remaining().then(|| self.get_u8())
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};

    use super::*;
    use crate::protocol::records::tests::batch_of;
    use crate::protocol::records::{plain_record, split_batches};

    fn check(batch: &Bytes, compacted: bool) -> Result<(), ResponseError> {
        let (header, bytes) = split_batches(batch).expect("a well-framed batch")[0].clone();
        validate(&header, &bytes, compacted).map_err(|e| e.code)
    }

    /// `batch` with `edit` applied to its bytes and the CRC made right again, so only the
    /// lie being tested is wrong.
    fn edited(batch: &Bytes, edit: impl FnOnce(&mut Vec<u8>)) -> Bytes {
        let mut raw = batch.to_vec();
        edit(&mut raw);
        let length = (raw.len() - 12) as i32;
        raw[8..12].copy_from_slice(&length.to_be_bytes());
        let crc = crc32c::crc32c(&raw[21..]);
        raw[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(raw)
    }

    fn compressed(values: &[&str], compression: Compression) -> Bytes {
        let records: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                plain_record(
                    i as i64,
                    1_000,
                    Some(Bytes::from_static(b"k")),
                    Some(Bytes::copy_from_slice(v.as_bytes())),
                )
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression,
            },
        )
        .unwrap();
        buf.freeze()
    }

    #[test]
    fn honest_batches_pass_compressed_or_not() {
        assert_eq!(check(&batch_of(&["a", "b", "c"]), false), Ok(()));
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert_eq!(
                check(&compressed(&["x", "y", "z"], codec), true),
                Ok(()),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_count_or_delta_that_lies_is_an_invalid_record() {
        let honest = batch_of(&["only"]);
        // lastOffsetDelta (bytes 23..27) claims 2^31 - 1 for a one-record batch.
        let far = edited(&honest, |b| {
            b[23..27].copy_from_slice(&i32::MAX.to_be_bytes())
        });
        assert_eq!(check(&far, false), Err(ResponseError::InvalidRecord));
        // Record count (bytes 57..61) and lastOffsetDelta agree on two, but there is one.
        let two = edited(&honest, |b| {
            b[23..27].copy_from_slice(&1i32.to_be_bytes());
            b[57..61].copy_from_slice(&2i32.to_be_bytes());
        });
        assert_eq!(check(&two, false), Err(ResponseError::InvalidRecord));
        // Trailing bytes after the last record.
        let trailing = edited(&honest, |b| b.extend_from_slice(&[0, 0, 0]));
        assert_eq!(check(&trailing, false), Err(ResponseError::InvalidRecord));
    }

    #[test]
    fn offset_deltas_must_run_in_order() {
        let batch = batch_of(&["a", "b"]);
        // The second record's offset delta (its 4th byte: length, attributes, timestamp
        // delta, offset delta) becomes 0 instead of 1 (zigzag 2 → 0).
        let first_len = {
            let mut b = batch.slice(61..);
            let l = varint(&mut b).unwrap() as usize;
            61 + (batch.len() - 61 - b.len()) + l
        };
        let swapped = edited(&batch, |b| {
            let at = first_len + 3;
            assert_eq!(b[at], 2, "the zigzag of offset delta 1");
            b[at] = 0;
        });
        assert_eq!(check(&swapped, false), Err(ResponseError::InvalidRecord));
    }

    #[test]
    fn a_compression_flag_over_plain_data_is_corrupt() {
        let lying = edited(&batch_of(&["a"]), |b| {
            b[21..23].copy_from_slice(&4i16.to_be_bytes())
        });
        assert_eq!(check(&lying, false), Err(ResponseError::CorruptMessage));
    }

    #[test]
    fn a_compacted_topic_refuses_records_without_a_key() {
        assert_eq!(
            check(&batch_of(&["keyless"]), true),
            Err(ResponseError::InvalidRecord)
        );
    }
}
