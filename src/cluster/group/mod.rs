//! Consumer groups: where a group lives, the rules it follows, and how its state is stored.
//!
//! A group belongs to one partition of the internal `__consumer_offsets` topic — the group id's
//! Java `hashCode` modulo the partition count, exactly as Kafka computes it — and its
//! coordinator is that partition's leader. Group membership and committed offsets are records
//! in that replicated partition, so whichever broker leads it next can load them and carry on.
//!
//! - [`types`] — the vocabulary: group states, limits, requests, answers, the [`types::Reply`]
//!   a transition addresses to a waiting request, members, committed offsets;
//! - [`classic`] — [`classic::Group`], Kafka's `ClassicGroup`: the one owner of a group's state,
//!   whose transitions are pure functions of (group, request, now) returning replies;
//! - [`join`] — JoinGroup, completing a rebalance's join phase, the initial delay;
//! - [`sync`] — SyncGroup, Heartbeat, the OffsetCommit check, LeaveGroup, session expiry;
//! - [`offset_delete`] — which committed offsets OffsetDelete may remove;
//! - [`txn_offsets`] — offsets committed inside a transaction, pending until its marker;
//! - [`record`] — the records in `__consumer_offsets` and replaying them on a new coordinator;
//! - [`writes`] — the write path to `__consumer_offsets`, one lane per partition;
//! - [`coordinator`] — the coordinator in each broker: loads partitions, runs transitions,
//!   delivers their replies to waiting connections, writes records, expires members.

pub mod classic;
pub mod coordinator;
pub mod join;
pub mod offset_delete;
pub mod record;
pub mod sync;
pub mod txn_offsets;
pub mod types;
pub mod writes;

#[cfg(test)]
mod testing;

pub(crate) use record::StoredRecord;

/// The internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode` over UTF-16 code units, so groups land on the same partition as in Kafka.
pub(crate) fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of `group` (Kafka's `Utils.abs(hash) % partitions`).
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let h = java_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
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
}
