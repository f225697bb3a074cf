//! Consumer groups: where a group lives and how its state is stored.
//!
//! A group belongs to one partition of the internal `__consumer_offsets` topic — the group id's
//! Java `hashCode` modulo the partition count, exactly as Kafka computes it — and its
//! coordinator is that partition's leader. Group membership and committed offsets are records
//! in that replicated partition, so whichever broker leads it next can load them and carry on.

pub mod coordinator;
pub mod state;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use serde::{Deserialize, Serialize};

use crate::protocol::records::{self, now_millis, plain_record};

use state::{CommittedOffset, GroupRecord};

/// The internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode` over UTF-16 code units, so groups land on the same partition as in Kafka.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of `group` (Kafka's `Utils.abs(hash) % partitions`).
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let h = java_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// The key of a record in `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoredKey {
    /// A committed offset.
    Offset {
        /// Group id.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// Group membership.
    Group {
        /// Group id.
        group: String,
    },
}

/// A decoded `__consumer_offsets` record: a value of `None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredRecord {
    /// An offset commit (None: deleted).
    Offset(String, String, i32, Option<CommittedOffset>),
    /// Group membership (None: group deleted).
    Group(String, Option<GroupRecord>),
}

/// Encodes records as one v2 batch (offsets are assigned by the leader on append).
pub fn encode_batch(records: &[StoredRecord]) -> Bytes {
    let now = now_millis();
    let encoded: Vec<_> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (key, value) = match r {
                StoredRecord::Offset(group, topic, partition, value) => (
                    StoredKey::Offset {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                    },
                    value.as_ref().map(json),
                ),
                StoredRecord::Group(group, value) => (
                    StoredKey::Group {
                        group: group.clone(),
                    },
                    value.as_ref().map(json),
                ),
            };
            plain_record(i as i64, now, Some(json(&key)), value)
        })
        .collect();
    records::encode_batch(&encoded)
}

fn json<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("record keys and values serialize"))
}

/// Decodes every record in a run of batches read from the log; undecodable records are skipped.
pub fn decode_records(mut bytes: Bytes) -> Vec<StoredRecord> {
    let Ok(sets) = RecordBatchDecoder::decode_all(&mut bytes) else {
        return Vec::new();
    };
    sets.into_iter()
        .flat_map(|s| s.records)
        .filter_map(|r| {
            let key: StoredKey = serde_json::from_slice(r.key.as_ref()?).ok()?;
            Some(match key {
                StoredKey::Offset {
                    group,
                    topic,
                    partition,
                } => {
                    let value = match r.value {
                        Some(v) => Some(serde_json::from_slice(&v).ok()?),
                        None => None,
                    };
                    StoredRecord::Offset(group, topic, partition, value)
                }
                StoredKey::Group { group } => {
                    let value = match r.value {
                        Some(v) => Some(serde_json::from_slice(&v).ok()?),
                        None => None,
                    };
                    StoredRecord::Group(group, value)
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_groups_like_kafka() {
        // Values of Java's "...".hashCode().
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("test-group"), 627_841_412);
        assert_eq!(partition_for("test-group", 50), 12);
        assert!((0..50).contains(&partition_for("any-group-name", 50)));
    }

    #[test]
    fn records_round_trip() {
        let records = vec![
            StoredRecord::Offset(
                "g".into(),
                "t".into(),
                3,
                Some(CommittedOffset {
                    offset: 42,
                    leader_epoch: 1,
                    metadata: None,
                }),
            ),
            StoredRecord::Group("g".into(), None),
        ];
        assert_eq!(decode_records(encode_batch(&records)), records);
    }
}
