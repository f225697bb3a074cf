//! Which partitions' data moved — log start, log end or high watermark — for the requests
//! waiting on them. A fetch long-polls every partition of its request or session, and any
//! append on the broker wakes it; with thousands of partitions, re-reading them all on every
//! wake-up made a single acks=all write cost O(partitions). Instead every change is written
//! to a short journal, and a waiter asks what moved since its cursor: only those partitions
//! are read again. Fetch sessions keep their cursor between requests, so an incremental
//! fetch reads only what its client listed and what moved since its last response.
//!
//! The journal is bounded. A cursor older than what it keeps, or an applied metadata image
//! (which may change any partition's role, ISR or high watermark), answers
//! [`Changed::Everything`].

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;

use super::partition::Partition;

/// How many changes are kept for waiters to catch up on; a waiter further behind reads
/// everything.
const KEPT: usize = 8192;

/// What moved since a cursor.
#[derive(Debug)]
pub(crate) enum Changed {
    /// Anything may have: read everything.
    Everything,
    /// These partitions (each once).
    Only(Vec<Arc<Partition>>),
}

#[derive(Debug)]
enum Entry {
    /// Weak, so a deleted partition's log is not kept alive by the journal.
    Partition(Weak<Partition>),
    Everything,
}

#[derive(Debug)]
struct Journal {
    /// The position of `entries[0]`.
    first: u64,
    entries: VecDeque<Entry>,
}

impl Journal {
    fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    fn push(&mut self, entry: Entry) {
        if self.entries.len() == KEPT {
            self.entries.pop_front();
            self.first += 1;
        }
        self.entries.push_back(entry);
    }
}

/// A broker's journal of data changes, and the signal its waiters wake on.
#[derive(Debug)]
pub(crate) struct DataChanges {
    journal: Mutex<Journal>,
    /// The journal's end, published on every change.
    end: watch::Sender<u64>,
}

impl Default for DataChanges {
    fn default() -> Self {
        Self {
            journal: Mutex::new(Journal {
                first: 0,
                entries: VecDeque::new(),
            }),
            end: watch::channel(0).0,
        }
    }
}

impl DataChanges {
    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// These partitions' data moved. Call after the change, so that a waiter whose cursor
    /// predates the entry reads the change.
    pub(crate) fn record<'a>(&self, partitions: impl IntoIterator<Item = &'a Arc<Partition>>) {
        let mut journal = self.journal();
        let before = journal.end();
        for p in partitions {
            journal.push(Entry::Partition(Arc::downgrade(p)));
        }
        let end = journal.end();
        drop(journal);
        if end != before {
            self.end.send_replace(end);
        }
    }

    /// Anything may have moved (a metadata image was applied).
    pub(crate) fn record_everything(&self) {
        let mut journal = self.journal();
        journal.push(Entry::Everything);
        let end = journal.end();
        drop(journal);
        self.end.send_replace(end);
    }

    /// The journal's end now: take it before reading, and everything that moves afterwards
    /// is in [`Self::since`] it.
    pub(crate) fn cursor(&self) -> u64 {
        self.journal().end()
    }

    /// A receiver that changes with every recorded change, to wait on.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.end.subscribe()
    }

    /// What moved after `cursor`, and the cursor to ask from next time.
    pub(crate) fn since(&self, cursor: u64) -> (Changed, u64) {
        let journal = self.journal();
        let end = journal.end();
        if cursor < journal.first {
            return (Changed::Everything, end);
        }
        let skip = (cursor - journal.first) as usize;
        let mut moved: Vec<Arc<Partition>> = Vec::new();
        let mut seen: HashSet<*const Partition> = HashSet::new();
        for entry in journal.entries.iter().skip(skip) {
            match entry {
                Entry::Everything => return (Changed::Everything, end),
                Entry::Partition(p) => {
                    if seen.insert(Weak::as_ptr(p)) {
                        // A partition gone since has nothing left to read.
                        moved.extend(p.upgrade());
                    }
                }
            }
        }
        (Changed::Only(moved), end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn partition(index: i32) -> Arc<Partition> {
        Arc::new(Partition::new("t", Uuid::nil(), index, Default::default()))
    }

    fn only(changed: Changed) -> Vec<i32> {
        match changed {
            Changed::Only(ps) => ps.iter().map(|p| p.index).collect(),
            Changed::Everything => panic!("expected a list of partitions"),
        }
    }

    #[test]
    fn a_waiter_learns_exactly_what_moved_after_its_cursor() {
        let changes = DataChanges::default();
        let (a, b) = (partition(0), partition(1));
        changes.record([&a]);
        let cursor = changes.cursor();
        let (nothing, same) = changes.since(cursor);
        assert!(only(nothing).is_empty());
        assert_eq!(same, cursor);
        changes.record([&b, &a, &b]);
        let (moved, next) = changes.since(cursor);
        assert_eq!(only(moved), vec![1, 0], "each partition once, in order");
        assert!(only(changes.since(next).0).is_empty());
    }

    #[test]
    fn a_metadata_image_or_a_cursor_past_the_journal_means_everything() {
        let changes = DataChanges::default();
        let a = partition(0);
        let cursor = changes.cursor();
        changes.record([&a]);
        changes.record_everything();
        assert!(matches!(changes.since(cursor).0, Changed::Everything));
        let cursor = changes.cursor();
        for _ in 0..=KEPT {
            changes.record([&a]);
        }
        assert!(
            matches!(changes.since(cursor).0, Changed::Everything),
            "a waiter the journal no longer reaches back to must read everything"
        );
        assert_eq!(only(changes.since(changes.cursor() - 1).0), vec![0]);
    }

    #[test]
    fn the_journal_does_not_keep_a_dropped_partition_alive() {
        let changes = DataChanges::default();
        let cursor = changes.cursor();
        let gone = partition(0);
        let weak = Arc::downgrade(&gone);
        let kept = partition(1);
        changes.record([&gone, &kept]);
        drop(gone);
        assert!(weak.upgrade().is_none(), "only the journal referred to it");
        assert_eq!(only(changes.since(cursor).0), vec![1]);
    }

    #[tokio::test]
    async fn recording_wakes_waiters_and_an_empty_record_does_not() {
        let changes = DataChanges::default();
        let mut rx = changes.watch();
        rx.borrow_and_update();
        changes.record(std::iter::empty());
        assert!(!rx.has_changed().unwrap());
        changes.record([&partition(0)]);
        assert!(rx.has_changed().unwrap());
    }
}
