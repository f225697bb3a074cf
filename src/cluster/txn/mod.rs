//! Transactions: the transaction coordinator (KIP-98) on the sandbox's own replication.
//!
//! A transactional id belongs to one partition of the internal `__transaction_state` topic —
//! the id's Java `hashCode` modulo the partition count, as for groups — and its coordinator is
//! that partition's leader. Every change of a transaction's state is a record in that
//! replicated partition before anyone is told about it, so whichever broker leads the
//! partition next replays it and carries on: an open transaction stays open, and one that was
//! deciding (PrepareCommit, PrepareAbort) has its markers sent again and completes.
//!
//! - [`state`] — [`state::Transaction`], Kafka's `TransactionMetadata`: the states and the
//!   pure transitions (InitProducerId, AddPartitionsToTxn, EndTxn, completion, timeout) that
//!   take `now` and return either the new state or a Kafka error;
//! - [`record`] — the `__transaction_state` record format and replaying it;
//! - [`markers`] — sending WriteTxnMarkers to each partition's leader until every one has
//!   written its commit or abort marker, across leader changes;
//! - [`coordinator`] — the coordinator in each broker: loads partitions it leads, runs
//!   transitions in a per-partition write lane, starts marker sending, aborts timed-out
//!   transactions.

pub mod coordinator;
pub mod markers;
pub mod record;
pub mod state;

use std::time::Duration;

/// The internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// `transaction.max.timeout.ms` (Kafka's default, 15 minutes): a producer asking for a longer
/// `transaction.timeout.ms` gets INVALID_TRANSACTION_TIMEOUT from InitProducerId.
pub const TRANSACTION_MAX_TIMEOUT: Duration = Duration::from_millis(900_000);

/// The `__transaction_state` partition of `transactional_id`: the same placement as Kafka's
/// (`Utils.abs(hashCode) % partitions`), which is also how groups are placed.
pub fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    crate::cluster::group::partition_for(transactional_id, partitions)
}
