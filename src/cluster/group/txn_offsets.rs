//! Offsets committed inside a transaction (TxnOffsetCommit, by a consume-transform-produce
//! loop). They are written to `__consumer_offsets` in a transactional batch of the producer's
//! id, like its output records, and held pending per producer: the transaction's commit marker
//! on that partition makes them the group's committed offsets, its abort marker drops them.
//! Replaying the partition's log applies the same rules in the same order, so a new
//! coordinator agrees with the old one.
//!
//! As in Kafka, the offset appended last wins: a plain OffsetCommit written after a
//! transaction's offset for the same partition is not overwritten when that transaction later
//! commits.

use std::collections::BTreeMap;

use super::classic::Group;
use super::types::CommittedOffset;

/// A group's offsets waiting for their transactions to end, by producer id.
#[derive(Debug, Clone, Default)]
pub struct TxnOffsets {
    pending: BTreeMap<i64, BTreeMap<(String, i32), Pending>>,
}

/// One offset a transaction holds.
#[derive(Debug, Clone)]
struct Pending {
    offset: CommittedOffset,
    /// A plain commit of the partition was appended after it: committing the transaction
    /// must not bring this older offset back.
    superseded: bool,
}

impl TxnOffsets {
    /// Records `offset` for `(topic, partition)` in producer `producer_id`'s transaction.
    pub(crate) fn add(
        &mut self,
        producer_id: i64,
        topic: String,
        partition: i32,
        offset: CommittedOffset,
    ) {
        self.pending.entry(producer_id).or_default().insert(
            (topic, partition),
            Pending {
                offset,
                superseded: false,
            },
        );
    }

    /// A plain commit of `(topic, partition)` was appended after every offset pending for it.
    fn supersede(&mut self, topic: &str, partition: i32) {
        for offsets in self.pending.values_mut() {
            for ((t, p), pending) in offsets.iter_mut() {
                if t == topic && *p == partition {
                    pending.superseded = true;
                }
            }
        }
    }

    /// The partitions a transaction holds an offset for that is not decided yet (OffsetFetch
    /// with `require_stable` answers UNSTABLE_OFFSET_COMMIT for them).
    pub(crate) fn partitions(&self) -> Vec<(String, i32)> {
        self.pending
            .values()
            .flat_map(|offsets| offsets.keys().cloned())
            .collect()
    }

    /// Whether a transaction holds an offset for `(topic, partition)` not decided yet.
    #[cfg(test)]
    pub(crate) fn is_pending(&self, topic: &str, partition: i32) -> bool {
        self.partitions()
            .iter()
            .any(|(t, p)| t == topic && *p == partition)
    }
}

impl Group {
    /// A plain OffsetCommit of `(topic, partition)`, appended after anything before it.
    pub(crate) fn commit_offset(&mut self, topic: String, partition: i32, offset: CommittedOffset) {
        self.txn_offsets.supersede(&topic, partition);
        self.offsets.insert((topic, partition), offset);
    }

    /// Producer `producer_id`'s transaction ended: its offsets become committed (unless a
    /// later plain commit has replaced one), or are dropped.
    pub(crate) fn end_txn(&mut self, producer_id: i64, commit: bool) {
        let Some(offsets) = self.txn_offsets.pending.remove(&producer_id) else {
            return;
        };
        if commit {
            self.offsets.extend(
                offsets
                    .into_iter()
                    .filter(|(_, pending)| !pending.superseded)
                    .map(|(key, pending)| (key, pending.offset)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset,
            leader_epoch: -1,
            metadata: None,
        }
    }

    #[test]
    fn transactional_offsets_count_only_once_committed() {
        let mut g = Group::new("g");
        g.txn_offsets.add(7, "in".into(), 0, at(10));
        g.txn_offsets.add(8, "in".into(), 1, at(20));
        assert!(g.offsets.is_empty(), "pending offsets are not committed");
        assert!(g.txn_offsets.is_pending("in", 0));
        g.end_txn(7, true);
        assert_eq!(g.offsets[&("in".to_string(), 0)].offset, 10);
        assert!(!g.txn_offsets.is_pending("in", 0));
        g.end_txn(8, false);
        assert!(
            !g.offsets.contains_key(&("in".to_string(), 1)),
            "aborted offsets are dropped"
        );
        g.end_txn(9, true);
    }

    /// TxnOffsetCommit 5, then a plain OffsetCommit 9, then the transaction commits: the plain
    /// commit was appended later and stays, as in Kafka; one appended before the transaction's
    /// offset is replaced by it.
    #[test]
    fn the_offset_appended_last_wins_when_a_transaction_commits() {
        let mut g = Group::new("g");
        g.commit_offset("in".into(), 1, at(3));
        g.txn_offsets.add(7, "in".into(), 0, at(5));
        g.txn_offsets.add(7, "in".into(), 1, at(6));
        g.commit_offset("in".into(), 0, at(9));
        g.end_txn(7, true);
        assert_eq!(g.offsets[&("in".to_string(), 0)].offset, 9);
        assert_eq!(g.offsets[&("in".to_string(), 1)].offset, 6);
    }
}
