//! One transactional id's state and the rules it follows — Kafka's `TransactionMetadata` and
//! the checks `TransactionCoordinator` makes before changing it.
//!
//! Every transition is a pure function of (transaction, request, now): it returns the new
//! state for the coordinator to persist, or the Kafka error the request gets. Nothing here
//! touches the log or the network, so every rule is tested without a cluster. Times are wall
//! clock milliseconds because they are persisted and reported (DescribeTransactions'
//! `transaction_start_time_ms`) and must survive a coordinator failover.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};

/// The states of a transaction, with Kafka's names (DescribeTransactions and ListTransactions
/// report them). Kafka's `Dead` and `PrepareEpochFence` are not modelled: ids are never
/// expired, and fencing an ongoing transaction goes straight to PrepareAbort with the bumped
/// epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnState {
    /// A producer id is assigned and no transaction is open.
    Empty,
    /// Partitions have been added; the producer may write to them.
    Ongoing,
    /// EndTxn(commit) is recorded; commit markers are being written.
    PrepareCommit,
    /// EndTxn(abort) or a timeout is recorded; abort markers are being written.
    PrepareAbort,
    /// Every commit marker is written.
    CompleteCommit,
    /// Every abort marker is written.
    CompleteAbort,
}

impl TxnState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// Every state, for ListTransactions' state filter.
    pub const ALL: [TxnState; 6] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
    ];

    /// Whether markers are being written: the coordinator answers CONCURRENT_TRANSACTIONS
    /// until they are.
    pub fn is_deciding(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// One transactional id's state: what `__transaction_state` records for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id assigned to it.
    pub producer_id: i64,
    /// The current epoch: requests from an older one are a zombie's and are fenced.
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    /// The state.
    pub state: TxnState,
    /// Partitions in the open (or deciding) transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction began (its first AddPartitionsToTxn); -1 if none is open.
    pub start_ms: i64,
    /// When the state last changed.
    pub last_update_ms: i64,
}

/// What InitProducerId asks of the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitRequest {
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// The producer's current id and epoch (v3+, KIP-360), or -1 for a new producer.
    pub producer_id: i64,
    /// The producer's current epoch, or -1.
    pub producer_epoch: i16,
}

/// What InitProducerId on an existing transactional id did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// The producer gets this state's id and epoch once it is persisted.
    Ready(Transaction),
    /// An open transaction of the previous producer is being aborted (with the epoch bumped,
    /// so the previous producer is fenced); the new one retries on CONCURRENT_TRANSACTIONS
    /// until the abort completes, as Kafka's producer does.
    AbortFirst(Transaction),
}

impl Transaction {
    /// A new transactional id's first state, with a fresh producer id at epoch 0.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        Self {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch: 0,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
        }
    }

    /// Whether the epoch can be bumped without running out: at the last epoch, InitProducerId
    /// hands out a fresh producer id instead (Kafka does the same).
    pub fn epoch_exhausted(&self) -> bool {
        self.producer_epoch >= i16::MAX - 1
    }

    /// Checks the producer id and epoch of a request against the current ones.
    fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
        if producer_id != self.producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        Ok(())
    }

    /// InitProducerId for an id that already has a producer: bumps the epoch, which fences
    /// every older producer with this id. `fresh_id` replaces the producer id when the epoch
    /// is exhausted.
    pub fn init(
        &self,
        request: InitRequest,
        fresh_id: Option<i64>,
        now_ms: i64,
    ) -> Result<InitOutcome, ResponseError> {
        // A KIP-360 producer says which id and epoch it had: one that has been fenced since
        // must not fence its successor in turn. (Kafka also accepts the epoch before a bump
        // whose answer was lost; the sandbox does not keep the previous epoch.)
        if request.producer_id >= 0
            && (request.producer_id != self.producer_id
                || request.producer_epoch != self.producer_epoch)
        {
            return Err(ResponseError::ProducerFenced);
        }
        if self.state.is_deciding() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if self.state == TxnState::Ongoing {
            return Ok(InitOutcome::AbortFirst(self.abort_fenced(now_ms)));
        }
        let mut next = self.clone();
        match fresh_id.filter(|_| self.epoch_exhausted()) {
            Some(id) => {
                next.producer_id = id;
                next.producer_epoch = 0;
            }
            None => next.producer_epoch = self.producer_epoch.saturating_add(1),
        }
        next.timeout_ms = request.timeout_ms;
        next.state = TxnState::Empty;
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms;
        Ok(InitOutcome::Ready(next))
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, whose partition is the group's
    /// `__consumer_offsets` partition). `None` means nothing changes: every partition is
    /// already in the open transaction, so nothing needs to be written.
    pub fn add_partitions(
        &self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> Result<Option<Transaction>, ResponseError> {
        self.check_producer(producer_id, epoch)?;
        if self.state.is_deciding() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        if self.state == TxnState::Ongoing && partitions.iter().all(|p| self.partitions.contains(p))
        {
            return Ok(None);
        }
        let mut next = self.clone();
        if self.state != TxnState::Ongoing {
            next.partitions.clear();
            next.start_ms = now_ms;
        }
        next.partitions.extend(partitions.iter().cloned());
        next.state = TxnState::Ongoing;
        next.last_update_ms = now_ms;
        Ok(Some(next))
    }

    /// EndTxn. `Ok(None)` answers a retry of an end that has already completed.
    pub fn end(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Option<Transaction>, ResponseError> {
        self.check_producer(producer_id, epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = self.clone();
                next.state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                next.last_update_ms = now_ms;
                Ok(Some(next))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ResponseError::ConcurrentTransactions)
            }
            _ => Err(ResponseError::InvalidTxnState),
        }
    }

    /// Every marker of a deciding transaction is written: it is complete. `None` if the
    /// transaction has moved on (another producer epoch, another state) meanwhile.
    pub fn complete(&self, producer_id: i64, epoch: i16, now_ms: i64) -> Option<Transaction> {
        if producer_id != self.producer_id || epoch != self.producer_epoch {
            return None;
        }
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return None,
        };
        let mut next = self.clone();
        next.state = state;
        next.partitions.clear();
        next.start_ms = -1;
        next.last_update_ms = now_ms;
        Some(next)
    }

    /// Whether an open transaction has outlived its `transaction.timeout.ms`.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing
            && self.start_ms >= 0
            && now_ms - self.start_ms > i64::from(self.timeout_ms)
    }

    /// Aborts the open transaction with the epoch bumped, so the producer that opened it is
    /// fenced from then on: what the coordinator does on a timeout, and when a new producer
    /// initialises with the same id while a transaction is open.
    pub fn abort_fenced(&self, now_ms: i64) -> Transaction {
        let mut next = self.clone();
        next.producer_epoch = self.producer_epoch.saturating_add(1);
        next.state = TxnState::PrepareAbort;
        next.last_update_ms = now_ms;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    fn init_req(timeout_ms: i32) -> InitRequest {
        InitRequest {
            timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
        }
    }

    fn parts(list: &[(&str, i32)]) -> Vec<(String, i32)> {
        list.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    fn ongoing() -> Transaction {
        Transaction::new("tx", 7, 60_000, T0)
            .add_partitions(7, 0, &parts(&[("t", 0), ("t", 1)]), T0 + 1)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_reinit_bumps_the_epoch_and_fences_the_old_producer() {
        let t = Transaction::new("tx", 7, 60_000, T0);
        let InitOutcome::Ready(next) = t.init(init_req(30_000), None, T0 + 5).unwrap() else {
            panic!("no transaction was open");
        };
        assert_eq!((next.producer_id, next.producer_epoch), (7, 1));
        assert_eq!(next.timeout_ms, 30_000);
        assert_eq!(
            next.add_partitions(7, 0, &parts(&[("t", 0)]), T0 + 6),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            next.end(7, 0, true, T0 + 6),
            Err(ResponseError::ProducerFenced)
        );
        assert_eq!(
            next.add_partitions(8, 1, &parts(&[("t", 0)]), T0 + 6),
            Err(ResponseError::InvalidProducerIdMapping)
        );
    }

    #[test]
    fn an_exhausted_epoch_gets_a_fresh_producer_id() {
        let mut t = Transaction::new("tx", 7, 60_000, T0);
        t.producer_epoch = i16::MAX - 1;
        let InitOutcome::Ready(next) = t.init(init_req(1000), Some(99), T0).unwrap() else {
            panic!("no transaction was open");
        };
        assert_eq!((next.producer_id, next.producer_epoch), (99, 0));
    }

    #[test]
    fn init_while_a_transaction_is_open_aborts_it_first() {
        let t = ongoing();
        let InitOutcome::AbortFirst(next) = t.init(init_req(1000), None, T0 + 9).unwrap() else {
            panic!("the open transaction is aborted first");
        };
        assert_eq!(next.state, TxnState::PrepareAbort);
        assert_eq!(next.producer_epoch, 1);
        assert_eq!(next.partitions.len(), 2, "its partitions get abort markers");
        assert_eq!(
            next.init(init_req(1000), None, T0 + 10),
            Err(ResponseError::ConcurrentTransactions)
        );
    }

    #[test]
    fn a_fenced_kip360_producer_cannot_fence_its_successor() {
        let t = Transaction::new("tx", 7, 60_000, T0);
        let stale = InitRequest {
            timeout_ms: 1000,
            producer_id: 7,
            producer_epoch: 3,
        };
        assert_eq!(t.init(stale, None, T0), Err(ResponseError::ProducerFenced));
    }

    #[test]
    fn adding_partitions_opens_the_transaction_once() {
        let t = ongoing();
        assert_eq!(t.state, TxnState::Ongoing);
        assert_eq!(t.start_ms, T0 + 1);
        assert_eq!(
            t.add_partitions(7, 0, &parts(&[("t", 1)]), T0 + 2),
            Ok(None)
        );
        let more = t
            .add_partitions(7, 0, &parts(&[("u", 0)]), T0 + 3)
            .unwrap()
            .unwrap();
        assert_eq!(more.partitions.len(), 3);
        assert_eq!(
            more.start_ms,
            T0 + 1,
            "the transaction began at its first add"
        );
    }

    #[test]
    fn commit_prepares_then_completes() {
        let t = ongoing();
        let prepared = t.end(7, 0, true, T0 + 2).unwrap().unwrap();
        assert_eq!(prepared.state, TxnState::PrepareCommit);
        assert_eq!(
            prepared.add_partitions(7, 0, &parts(&[("t", 0)]), T0 + 3),
            Err(ResponseError::ConcurrentTransactions)
        );
        assert_eq!(
            prepared.end(7, 0, true, T0 + 3),
            Err(ResponseError::ConcurrentTransactions)
        );
        assert_eq!(
            prepared.end(7, 0, false, T0 + 3),
            Err(ResponseError::InvalidTxnState)
        );
        let done = prepared.complete(7, 0, T0 + 4).unwrap();
        assert_eq!(done.state, TxnState::CompleteCommit);
        assert!(done.partitions.is_empty());
        assert_eq!(done.end(7, 0, true, T0 + 5), Ok(None), "a retried commit");
        assert_eq!(
            done.end(7, 0, false, T0 + 5),
            Err(ResponseError::InvalidTxnState)
        );
        assert_eq!(done.complete(7, 0, T0 + 5), None);
    }

    #[test]
    fn ending_with_nothing_open_is_an_invalid_state() {
        let t = Transaction::new("tx", 7, 60_000, T0);
        assert_eq!(t.end(7, 0, true, T0), Err(ResponseError::InvalidTxnState));
        assert_eq!(t.end(7, 0, false, T0), Err(ResponseError::InvalidTxnState));
    }

    #[test]
    fn a_timed_out_transaction_is_aborted_with_a_bumped_epoch() {
        let t = ongoing();
        assert!(!t.timed_out(T0 + 60_001));
        assert!(t.timed_out(T0 + 60_002));
        let aborted = t.abort_fenced(T0 + 60_002);
        assert_eq!(aborted.state, TxnState::PrepareAbort);
        assert_eq!(
            aborted.end(7, 0, true, T0 + 60_003),
            Err(ResponseError::ProducerFenced),
            "the zombie's commit is refused"
        );
        assert_eq!(aborted.complete(7, 0, T0 + 60_004), None);
        let done = aborted.complete(7, 1, T0 + 60_004).unwrap();
        assert_eq!(done.state, TxnState::CompleteAbort);
    }
}
