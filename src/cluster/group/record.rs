//! What a group leaves in its `__consumer_offsets` partition, and how a new coordinator gets
//! the group back from it. Two kinds of record share the partition: a committed offset per
//! (group, topic, partition) and one membership record per group ([`GroupRecord`]: generation,
//! protocol, leader, members with their assignments), written when an assignment completes or
//! the group empties. A null value is a tombstone. Keys and values are JSON — this is a sandbox,
//! and a learner reading the topic with any consumer can see what the coordinator stored.
//!
//! Replaying the partition ([`replay`]) rebuilds its groups as the last records left them;
//! restored members get a fresh session from the moment of the replay, so a coordinator
//! failover alone never expires anyone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use serde::{Deserialize, Serialize};

use super::classic::Group;
use super::types::{CommittedOffset, GroupState, Member};
use crate::protocol::records::{self, now_millis, plain_record};

/// The persisted form of a group's membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Generation.
    pub generation: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen assignor.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// Members.
    pub members: Vec<MemberRecord>,
}

/// The persisted form of one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: u64,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: u64,
    /// Chosen protocol.
    pub protocol: String,
    /// Metadata for it.
    pub metadata: Vec<u8>,
    /// Assignment.
    pub assignment: Vec<u8>,
}

impl Group {
    /// A persisted view of the group (its metadata record).
    pub(crate) fn to_record(&self) -> GroupRecord {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupRecord {
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout.as_millis() as u64,
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as u64,
                    protocol: protocol.clone(),
                    metadata: m.metadata(&protocol).to_vec(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    /// Restores a group from its metadata record on a new coordinator: members keep their ids
    /// and assignments and get a fresh session from `now`. Nobody is waiting on a group being
    /// restored — it is rebuilt only while its coordinator loads the partition, before any
    /// request reaches it — so, unlike the other transitions, this one has no replies.
    pub(crate) fn restore(&mut self, record: GroupRecord, now: Instant) {
        self.generation = record.generation;
        self.protocol_type = record.protocol_type;
        self.protocol = record.protocol;
        self.leader = record.leader;
        self.members = record
            .members
            .into_iter()
            .map(|m| Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout: Duration::from_millis(m.session_timeout_ms),
                rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms),
                protocols: vec![(m.protocol, Bytes::from(m.metadata))],
                assignment: Bytes::from(m.assignment),
                last_heartbeat: now,
                awaiting_join: None,
                awaiting_sync: None,
            })
            .collect();
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

/// One batch of a `__consumer_offsets` partition, as replay needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogEntry {
    /// The coordinator's own records: they count at once.
    Plain(Vec<StoredRecord>),
    /// Offsets a producer committed inside its transaction: pending until its marker.
    Transactional(i64, Vec<StoredRecord>),
    /// The end of a producer's transaction: commit (true) or abort.
    Marker(i64, bool),
}

/// Rebuilds the groups of one `__consumer_offsets` partition from its batches, in log order:
/// later records win, tombstones delete, transactional offsets wait for their marker.
pub(crate) fn replay(entries: Vec<LogEntry>, now: Instant) -> HashMap<String, Group> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    for entry in entries {
        match entry {
            LogEntry::Plain(records) => {
                for record in records {
                    apply(&mut groups, record, now);
                }
            }
            LogEntry::Transactional(producer_id, records) => {
                for record in records {
                    if let StoredRecord::Offset(g, topic, p, Some(offset)) = record {
                        groups
                            .entry(g.clone())
                            .or_insert_with(|| Group::new(&g))
                            .txn_offsets
                            .add(producer_id, topic, p, offset);
                    }
                }
            }
            LogEntry::Marker(producer_id, commit) => {
                for group in groups.values_mut() {
                    group.end_txn(producer_id, commit);
                }
            }
        }
    }
    groups
}

fn apply(groups: &mut HashMap<String, Group>, record: StoredRecord, now: Instant) {
    match record {
        StoredRecord::Offset(g, topic, p, Some(offset)) => {
            groups
                .entry(g.clone())
                .or_insert_with(|| Group::new(&g))
                .commit_offset(topic, p, offset);
        }
        StoredRecord::Offset(g, topic, p, None) => {
            if let Some(group) = groups.get_mut(&g) {
                group.offsets.remove(&(topic, p));
            }
        }
        StoredRecord::Group(g, Some(rec)) => {
            groups
                .entry(g.clone())
                .or_insert_with(|| Group::new(&g))
                .restore(rec, now);
        }
        StoredRecord::Group(g, None) => {
            groups.remove(&g);
        }
    }
}

/// The batches of a run read from the log, as replay entries.
pub(crate) fn decode_log(bytes: &Bytes) -> Vec<LogEntry> {
    records::split_trusted(bytes)
        .into_iter()
        .filter_map(|(header, batch)| {
            if header.is_control() {
                let commit = records::marker_commits(&batch)?;
                return Some(LogEntry::Marker(header.producer_id, commit));
            }
            let decoded = decode_records(batch);
            Some(if header.is_transactional() {
                LogEntry::Transactional(header.producer_id, decoded)
            } else {
                LogEntry::Plain(decoded)
            })
        })
        .collect()
}

/// The key of a record in `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StoredKey {
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
pub(crate) fn encode_batch(records: &[StoredRecord]) -> Bytes {
    encode_batch_of(records, None)
}

/// Encodes records as one batch of producer `(id, epoch)`'s transaction (TxnOffsetCommit),
/// with no sequence, as Kafka's coordinator writes them.
pub(crate) fn encode_txn_batch(
    records: &[StoredRecord],
    producer_id: i64,
    producer_epoch: i16,
) -> Bytes {
    encode_batch_of(records, Some((producer_id, producer_epoch)))
}

fn encode_batch_of(records: &[StoredRecord], producer: Option<(i64, i16)>) -> Bytes {
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
            let record = plain_record(i as i64, now, Some(json(&key)), value);
            match producer {
                Some((producer_id, producer_epoch)) => kafka_protocol::records::Record {
                    transactional: true,
                    producer_id,
                    producer_epoch,
                    sequence: -1,
                    ..record
                },
                None => record,
            }
        })
        .collect();
    records::encode_batch(&encoded)
}

fn json<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("record keys and values serialize"))
}

/// Decodes every record in a run of batches read from the log; undecodable records are skipped.
pub(crate) fn decode_records(mut bytes: Bytes) -> Vec<StoredRecord> {
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
    use super::super::testing::{join_new, sync_request, token, LIMITS};
    use super::*;

    fn offset(offset: i64) -> Option<CommittedOffset> {
        Some(CommittedOffset {
            offset,
            leader_epoch: 1,
            metadata: None,
        })
    }

    #[test]
    fn records_round_trip() {
        let records = vec![
            StoredRecord::Offset("g".into(), "t".into(), 3, offset(42)),
            StoredRecord::Group("g".into(), None),
        ];
        assert_eq!(decode_records(encode_batch(&records)), records);
    }

    #[test]
    fn a_group_restores_from_its_record() {
        let now = Instant::now();
        let mut g = Group::new("g");
        let (a, _, _) = join_new(&mut g, "a", now);
        let assignment = vec![(a.clone(), Bytes::from_static(b"x"))];
        let _ = g.sync(sync_request(&a, 1, assignment), token(), now);
        let mut copy = Group::new("g");
        copy.restore(g.to_record(), now);
        assert_eq!((copy.state, copy.generation), (GroupState::Stable, 1));
        assert_eq!(copy.members[0].assignment, Bytes::from_static(b"x"));
        assert_eq!(copy.heartbeat(&a, None, 1, now), Ok(()));
    }

    #[test]
    fn a_restored_member_gets_a_fresh_session_from_the_replay() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let (a, _, _) = join_new(&mut g, "a", t0);
        let _ = g.sync(sync_request(&a, 1, vec![]), token(), t0);
        let restored_at = t0 + Duration::from_secs(10);
        let mut groups = replay(
            vec![LogEntry::Plain(vec![StoredRecord::Group(
                "g".into(),
                Some(g.to_record()),
            )])],
            restored_at,
        );
        let copy = groups.get_mut("g").expect("replayed");
        let soon = restored_at + Duration::from_secs(1);
        assert!(copy.expire(&LIMITS, soon).removed.is_empty());
        let late = restored_at + Duration::from_secs(4);
        assert_eq!(copy.expire(&LIMITS, late).removed, vec![a]);
    }

    #[test]
    fn replay_keeps_the_last_word_and_honours_tombstones() {
        let now = Instant::now();
        let groups = replay(
            vec![LogEntry::Plain(vec![
                StoredRecord::Offset("g".into(), "t".into(), 0, offset(5)),
                StoredRecord::Offset("g".into(), "t".into(), 0, offset(9)),
                StoredRecord::Offset("g".into(), "t".into(), 1, offset(7)),
                StoredRecord::Offset("g".into(), "t".into(), 1, None),
                StoredRecord::Offset("gone".into(), "t".into(), 0, offset(1)),
                StoredRecord::Group("gone".into(), None),
            ])],
            now,
        );
        assert_eq!(groups.keys().collect::<Vec<_>>(), vec!["g"]);
        let g = &groups["g"];
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(
            g.offsets
                .iter()
                .map(|((t, p), o)| (t.as_str(), *p, o.offset))
                .collect::<Vec<_>>(),
            vec![("t", 0, 9)]
        );
    }

    #[test]
    fn replay_applies_transactional_offsets_at_their_commit_marker_only() {
        let offsets = |o| vec![StoredRecord::Offset("g".into(), "in".into(), 0, offset(o))];
        let mut bytes = bytes::BytesMut::new();
        bytes.extend_from_slice(&encode_batch(&offsets(3)));
        bytes.extend_from_slice(&encode_txn_batch(&offsets(10), 7, 0));
        bytes.extend_from_slice(&encode_txn_batch(&offsets(20), 8, 0));
        let entries_before_markers = decode_log(&bytes.clone().freeze());
        assert_eq!(
            entries_before_markers[1],
            LogEntry::Transactional(7, offsets(10))
        );
        let g = &replay(entries_before_markers, Instant::now())["g"];
        assert_eq!(
            g.offsets[&("in".to_string(), 0)].offset,
            3,
            "nothing decided yet"
        );
        bytes.extend_from_slice(&records::marker_batch(8, 0, false, 0, 1));
        bytes.extend_from_slice(&records::marker_batch(7, 0, true, 0, 1));
        let g = &replay(decode_log(&bytes.freeze()), Instant::now())["g"];
        assert_eq!(
            g.offsets[&("in".to_string(), 0)].offset,
            10,
            "the committed transaction's offset counts, the aborted one's does not"
        );
        assert!(!g.txn_offsets.is_pending("in", 0));
    }
}
