//! A partition log's view of transactions: which producers have a transaction open here and
//! from which offset, which transactions ended in an abort (the aborted-transaction index a
//! read_committed fetch returns), and from that the last stable offset — the end of what a
//! read_committed consumer may read.
//!
//! Everything is derived from the batches as they are appended (as leader, as follower, or
//! read back from a data directory), so every replica agrees: a transactional batch opens its
//! producer's transaction at its base offset unless one is open; a control batch (the marker
//! the coordinator had the leader write) closes it, and an abort marker records the range.
//! A closed transaction keeps the stable offset where it was until the high watermark passes
//! its marker, as Kafka's does: a marker only some replicas have could still be lost with the
//! leader, and then the transaction would be open again.

use std::collections::BTreeMap;

/// An aborted transaction: a read_committed reader drops this producer's records from
/// `first_offset` until the marker at `last_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Its first record in the transaction.
    pub first_offset: i64,
    /// The abort marker's offset.
    pub last_offset: i64,
}

/// The transactions of one partition log.
#[derive(Debug, Default)]
pub(crate) struct Transactions {
    /// Producer id → first offset of its open transaction.
    open: BTreeMap<i64, i64>,
    /// (first offset, marker offset) of transactions whose marker the high watermark has not
    /// passed yet.
    ending: Vec<(i64, i64)>,
    /// Aborted transactions, in marker order.
    aborted: Vec<AbortedTxn>,
}

impl Transactions {
    /// A data batch of `producer_id` at `base_offset`: transactional ones open (or continue)
    /// the producer's transaction.
    pub(crate) fn on_data(&mut self, producer_id: i64, base_offset: i64) {
        self.open.entry(producer_id).or_insert(base_offset);
    }

    /// A marker of `producer_id` at `offset`: the producer's open transaction, if any, ends.
    pub(crate) fn on_marker(&mut self, producer_id: i64, offset: i64, commit: bool) {
        let Some(first_offset) = self.open.remove(&producer_id) else {
            return;
        };
        self.ending.push((first_offset, offset));
        if !commit {
            self.aborted.push(AbortedTxn {
                producer_id,
                first_offset,
                last_offset: offset,
            });
        }
    }

    /// The last stable offset given high watermark `hw`: the first offset of a transaction not
    /// yet decided on every in-sync replica, else the high watermark.
    pub(crate) fn last_stable_offset(&self, hw: i64) -> i64 {
        let open = self.open.values().copied();
        let ending = self
            .ending
            .iter()
            .filter(|(_, marker)| *marker >= hw)
            .map(|(first, _)| *first);
        open.chain(ending).fold(hw, i64::min)
    }

    /// Forgets ending transactions whose marker is below the high watermark `hw`.
    pub(crate) fn settle(&mut self, hw: i64) {
        self.ending.retain(|(_, marker)| *marker >= hw);
    }

    /// The aborted transactions a reader of `[from, upper)` must know about: those whose
    /// range overlaps it.
    pub(crate) fn aborted_between(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        self.aborted
            .iter()
            .filter(|t| t.last_offset >= from && t.first_offset < upper)
            .copied()
            .collect()
    }

    /// Forgets aborted transactions wholly below the log start.
    pub(crate) fn forget_below(&mut self, log_start: i64) {
        self.aborted.retain(|t| t.last_offset >= log_start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stable_offset_waits_for_open_transactions_and_unreplicated_markers() {
        let mut t = Transactions::default();
        assert_eq!(t.last_stable_offset(10), 10);
        t.on_data(1, 4);
        t.on_data(1, 6); // the same transaction continues
        t.on_data(2, 5);
        assert_eq!(t.last_stable_offset(10), 4);
        t.on_marker(1, 10, false);
        // Marker at 10 not yet below the high watermark: still unstable from 4.
        assert_eq!(t.last_stable_offset(10), 4);
        assert_eq!(t.last_stable_offset(11), 5, "producer 2 is still open");
        t.on_marker(2, 11, true);
        assert_eq!(t.last_stable_offset(12), 12);
        t.settle(12);
        assert_eq!(t.last_stable_offset(12), 12);
        assert_eq!(
            t.aborted_between(0, 12),
            [AbortedTxn {
                producer_id: 1,
                first_offset: 4,
                last_offset: 10
            }]
        );
        assert!(
            t.aborted_between(11, 20).is_empty(),
            "after the abort marker"
        );
        assert!(t.aborted_between(0, 4).is_empty(), "before the transaction");
        t.forget_below(11);
        assert!(t.aborted_between(0, 20).is_empty());
        // A marker without an open transaction (a retried marker) changes nothing.
        t.on_marker(3, 13, false);
        assert_eq!(t.last_stable_offset(14), 14);
    }
}
