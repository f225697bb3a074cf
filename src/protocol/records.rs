//! Record batches (magic v2) as the log stores them: raw bytes plus the few header fields the
//! broker needs. The leader rewrites only `baseOffset` and `partitionLeaderEpoch`, which sit
//! before the CRC-covered region, so batches are never re-encoded on the produce path.

use bytes::Bytes;
use thiserror::Error;

/// Size of the v2 batch header.
pub(crate) const BATCH_HEADER_LEN: usize = 61;
const LENGTH_FIELD_END: usize = 12;
const CRC_START: usize = 21;

/// Why a produced record set was refused (maps to CORRUPT_MESSAGE / UNSUPPORTED_FOR_MESSAGE_FORMAT).
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum BatchError {
    /// Shorter than a header or than its own length field says.
    #[error("record batch is truncated")]
    Truncated,
    /// Not a v2 batch.
    #[error("record batch magic {0} is not supported (only v2, Kafka 0.11+)")]
    Magic(i8),
    /// Checksum mismatch.
    #[error("record batch CRC mismatch")]
    Crc,
    /// Empty or negative record count.
    #[error("record batch has an invalid record count {0}")]
    RecordCount(i32),
}

/// The header fields of one v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Leader epoch the batch was appended in.
    pub partition_leader_epoch: i32,
    /// Attribute bits (compression, timestamp type, transactional, control).
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Offset of the last record.
    pub(crate) fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Sequence of the last record (wrapping like Kafka's).
    pub(crate) fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }

    /// True if the batch was written by an idempotent producer.
    pub(crate) fn is_idempotent(&self) -> bool {
        self.producer_id >= 0
    }

    /// True if the batch belongs to a transaction (attribute bit 4).
    pub(crate) fn is_transactional(&self) -> bool {
        self.attributes & (1 << 4) != 0
    }

    /// True if the batch is a control batch: a transaction marker (attribute bit 5).
    pub(crate) fn is_control(&self) -> bool {
        self.attributes & (1 << 5) != 0
    }
}

/// Control record type of a commit marker (Kafka's `ControlRecordType.COMMIT`).
const COMMIT_MARKER: i16 = 1;
/// Control record type of an abort marker.
const ABORT_MARKER: i16 = 0;

/// A transaction marker as a control batch, the way a partition leader writes it for the
/// transaction coordinator: one record whose key is (version 0, type) and whose value is
/// (version 0, coordinator epoch), in a transactional control batch of the producer's id and
/// epoch, with no sequence.
pub(crate) fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Bytes {
    let kind = if commit { COMMIT_MARKER } else { ABORT_MARKER };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&kind.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = kafka_protocol::records::Record {
        transactional: true,
        control: true,
        producer_id,
        producer_epoch,
        sequence: -1,
        ..plain_record(
            0,
            timestamp,
            Some(Bytes::from(key)),
            Some(Bytes::from(value)),
        )
    };
    encode_batch(std::slice::from_ref(&record))
}

/// Whether the control batch `batch` is a commit (`Some(true)`) or abort (`Some(false)`)
/// marker; `None` if its first record is no marker this broker knows.
pub(crate) fn marker_commits(batch: &Bytes) -> Option<bool> {
    marker_of(batch).map(|m| m.commit)
}

/// What a transaction marker says: commit or abort, and the epoch of the coordinator that had
/// it written (the leader epoch of its `__transaction_state` partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    /// Commit (true) or abort.
    pub commit: bool,
    /// The writing coordinator's epoch.
    pub coordinator_epoch: i32,
}

/// The marker in control batch `batch`, or `None` if it holds none this broker knows.
pub(crate) fn marker_of(batch: &Bytes) -> Option<Marker> {
    let mut bytes = batch.clone();
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).ok()?;
    let record = set.records.first()?;
    let key = record.key.as_ref()?;
    if key.len() < 4 {
        return None;
    }
    let commit = match i16::from_be_bytes([key[2], key[3]]) {
        COMMIT_MARKER => true,
        ABORT_MARKER => false,
        _ => return None,
    };
    let coordinator_epoch = record
        .value
        .as_ref()
        .filter(|v| v.len() >= 6)
        .map_or(-1, |v| i32_at(v, 2));
    Some(Marker {
        commit,
        coordinator_epoch,
    })
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses the header of the batch at the start of `bytes` (which may hold more batches).
pub(crate) fn parse_header(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    if bytes.len() < BATCH_HEADER_LEN {
        return Err(BatchError::Truncated);
    }
    let magic = bytes[16] as i8;
    if magic != 2 {
        return Err(BatchError::Magic(magic));
    }
    Ok(BatchHeader {
        base_offset: i64_at(bytes, 0),
        partition_leader_epoch: i32_at(bytes, 12),
        attributes: i16_at(bytes, 21),
        last_offset_delta: i32_at(bytes, 23),
        max_timestamp: i64_at(bytes, 35),
        producer_id: i64_at(bytes, 43),
        producer_epoch: i16_at(bytes, 51),
        base_sequence: i32_at(bytes, 53),
        record_count: i32_at(bytes, 57),
    })
}

/// Splits a record set into its batches, checking each one's length, magic and CRC.
pub(crate) fn split_batches(records: &Bytes) -> Result<Vec<(BatchHeader, Bytes)>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < records.len() {
        let rest = &records[at..];
        if rest.len() < LENGTH_FIELD_END {
            return Err(BatchError::Truncated);
        }
        let batch_length = i32_at(rest, 8);
        if batch_length < (BATCH_HEADER_LEN - LENGTH_FIELD_END) as i32 {
            return Err(BatchError::Truncated);
        }
        let total = LENGTH_FIELD_END + batch_length as usize;
        if rest.len() < total {
            return Err(BatchError::Truncated);
        }
        let header = parse_header(&rest[..total])?;
        let stored_crc = u32::from_be_bytes(rest[17..21].try_into().expect("4 bytes"));
        if crc32c::crc32c(&rest[CRC_START..total]) != stored_crc {
            return Err(BatchError::Crc);
        }
        if header.record_count <= 0 || header.last_offset_delta < 0 {
            return Err(BatchError::RecordCount(header.record_count));
        }
        out.push((header, records.slice(at..at + total)));
        at += total;
    }
    Ok(out)
}

/// Splits batches that this node itself stored or a leader sent (no CRC check: the leader
/// validated them when they were produced), stopping quietly at a partial trailing batch as
/// Kafka's fetch responses may end with one.
pub(crate) fn split_trusted(records: &Bytes) -> Vec<(BatchHeader, Bytes)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while records.len() - at >= BATCH_HEADER_LEN {
        let rest = &records[at..];
        let total = LENGTH_FIELD_END + i32_at(rest, 8).max(0) as usize;
        if total < BATCH_HEADER_LEN || rest.len() < total {
            break;
        }
        match parse_header(&rest[..total]) {
            Ok(h) => out.push((h, records.slice(at..at + total))),
            Err(_) => break,
        }
        at += total;
    }
    out
}

/// A plain (non-transactional, non-idempotent) record at `offset` for [`encode_batch`].
pub fn plain_record(
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
) -> kafka_protocol::records::Record {
    kafka_protocol::records::Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset,
        // The encoder keeps records in one batch only while offsets and sequences move together.
        sequence: offset as i32 - 1,
        timestamp,
        key,
        value,
        headers: Default::default(),
    }
}

/// Encodes records (with consecutive offsets) as uncompressed v2 batches.
pub fn encode_batch(records: &[kafka_protocol::records::Record]) -> Bytes {
    use kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("uncompressed batches always encode");
    buf.freeze()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Returns a copy of `batch` with its base offset and partition leader epoch set.
pub(crate) fn restamp(batch: &Bytes, base_offset: i64, leader_epoch: i32) -> Bytes {
    let mut owned = batch.to_vec();
    owned[0..8].copy_from_slice(&base_offset.to_be_bytes());
    owned[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
    Bytes::from(owned)
}

/// Returns a copy of `batch` stamped with the broker's clock, as a topic with
/// `message.timestamp.type=LogAppendTime` wants: the timestamp-type attribute set and the max
/// timestamp (which readers then take for every record) set to `now`, CRC recomputed.
pub(crate) fn stamp_log_append_time(batch: &Bytes, now: i64) -> (BatchHeader, Bytes) {
    let mut owned = batch.to_vec();
    let attributes = i16_at(&owned, 21) | (1 << 3);
    owned[21..23].copy_from_slice(&attributes.to_be_bytes());
    owned[35..43].copy_from_slice(&now.to_be_bytes());
    let crc = crc32c::crc32c(&owned[CRC_START..]);
    owned[17..21].copy_from_slice(&crc.to_be_bytes());
    let header = parse_header(&owned).expect("a batch that parsed before still parses");
    (header, Bytes::from(owned))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytes::BytesMut;

    /// Encodes `values` as one v2 batch, the way a client would.
    pub(crate) fn batch_of(values: &[&str]) -> Bytes {
        let records: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                plain_record(
                    i as i64,
                    1_000 + i as i64,
                    None,
                    Some(Bytes::copy_from_slice(v.as_bytes())),
                )
            })
            .collect();
        encode_batch(&records)
    }

    /// Encodes `values` as one transactional batch of producer `producer_id`.
    pub(crate) fn transactional_batch_of(
        values: &[&str],
        producer_id: i64,
        producer_epoch: i16,
        first_sequence: i32,
    ) -> Bytes {
        let records: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| kafka_protocol::records::Record {
                transactional: true,
                producer_id,
                producer_epoch,
                sequence: first_sequence + i as i32,
                ..plain_record(
                    i as i64,
                    1_000 + i as i64,
                    None,
                    Some(Bytes::copy_from_slice(v.as_bytes())),
                )
            })
            .collect();
        encode_batch(&records)
    }

    #[test]
    fn markers_are_transactional_control_batches_that_say_commit_or_abort() {
        for commit in [true, false] {
            let batch = marker_batch(7, 3, commit, 5, 1_000);
            let (header, _) = split_batches(&batch).unwrap()[0];
            assert!(header.is_control() && header.is_transactional());
            assert_eq!((header.producer_id, header.producer_epoch), (7, 3));
            assert_eq!(header.base_sequence, -1);
            assert_eq!(marker_commits(&batch), Some(commit));
            assert_eq!(marker_of(&batch).map(|m| m.coordinator_epoch), Some(5));
        }
        let data = transactional_batch_of(&["a", "b"], 7, 3, 0);
        let (header, _) = split_batches(&data).unwrap()[0];
        assert!(header.is_transactional() && !header.is_control());
        assert_eq!(header.record_count, 2);
        assert!(!split_batches(&batch_of(&["a"])).unwrap()[0]
            .0
            .is_transactional());
    }

    #[test]
    fn log_append_time_stamps_the_batch_and_keeps_its_crc_right() {
        let batch = batch_of(&["a", "b"]);
        let (header, stamped) = stamp_log_append_time(&batch, 1_700_000_000_000);
        assert_eq!(header.max_timestamp, 1_700_000_000_000);
        assert_eq!(header.attributes & (1 << 3), 1 << 3);
        assert_eq!(split_batches(&stamped).unwrap()[0].0, header);
    }

    #[test]
    fn parses_and_restamps_without_breaking_the_crc() {
        let batch = batch_of(&["a", "b", "c"]);
        let split = split_batches(&batch).unwrap();
        assert_eq!(split.len(), 1);
        assert_eq!(split[0].0.record_count, 3);
        assert_eq!(split[0].0.last_offset_delta, 2);
        let moved = restamp(&batch, 42, 7);
        let (h, _) = &split_batches(&moved).unwrap()[0];
        assert_eq!(
            (h.base_offset, h.partition_leader_epoch, h.last_offset()),
            (42, 7, 44)
        );
    }

    #[test]
    fn rejects_corruption_truncation_and_old_magic() {
        let batch = batch_of(&["a"]);
        let mut corrupt = batch.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert_eq!(split_batches(&Bytes::from(corrupt)), Err(BatchError::Crc));
        assert_eq!(
            split_batches(&batch.slice(..batch.len() - 2)),
            Err(BatchError::Truncated)
        );
        let mut old = batch.to_vec();
        old[16] = 1;
        assert_eq!(split_batches(&Bytes::from(old)), Err(BatchError::Magic(1)));
    }

    #[test]
    fn trusted_split_stops_at_a_partial_batch() {
        let mut two = BytesMut::new();
        two.extend_from_slice(&batch_of(&["x"]));
        two.extend_from_slice(&batch_of(&["y", "z"])[..20]);
        assert_eq!(split_trusted(&two.freeze()).len(), 1);
    }
}
