//! One partition replica's log: record batches in offset order, the leader-epoch cache that
//! makes truncation after a leader change exact, the idempotent-producer state, and the
//! checkpointed high watermark. In memory, where it outlives an embedded broker's restart
//! like a disk would; a node running as its own process also writes it to a file ([`file`]).

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::RecordBatchDecoder;

mod file;
mod txn;

use file::LogFile;
pub use txn::AbortedTxn;
use txn::Transactions;

use crate::cluster::{KafkaError, ResponseError};
use crate::protocol::records::{restamp, BatchHeader};

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
const PRODUCER_BATCH_MEMORY: usize = 5;

#[derive(Debug, Clone)]
struct StoredBatch {
    header: BatchHeader,
    bytes: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProducedBatch {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone)]
struct ProducerState {
    epoch: i16,
    recent: Vec<ProducedBatch>,
    /// The epoch of the transaction coordinator whose marker this producer last got here (-1:
    /// none): a marker from an older coordinator — one deposed but not yet aware of it — is
    /// refused, so it cannot end a transaction its successor did not decide.
    coordinator_epoch: i32,
}

impl Default for ProducerState {
    fn default() -> Self {
        Self {
            epoch: 0,
            recent: Vec::new(),
            coordinator_epoch: -1,
        }
    }
}

/// The offsets a leader append was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// True if the batch was a retry of one already in the log (nothing new was written).
    pub duplicate: bool,
}

/// A partition replica's log.
#[derive(Debug, Default)]
pub struct PartitionLog {
    batches: Vec<StoredBatch>,
    log_end_offset: i64,
    high_watermark: i64,
    /// (leader epoch, first offset written in it), ascending.
    epochs: Vec<(i32, i64)>,
    producers: HashMap<i64, ProducerState>,
    size_bytes: usize,
    /// First offset a reader may ask for; moved only by DeleteRecords (no retention here).
    log_start_offset: i64,
    /// The file every change is written to, for a node that is its own process.
    file: Option<LogFile>,
    /// Open and aborted transactions, from the transactional batches and markers.
    transactions: Transactions,
}

impl PartitionLog {
    /// The log kept in directory `dir` (created if new): what the file holds is read back —
    /// batches, and from them the producer state and leader epochs — and every later change
    /// is written to it. The high watermark starts at the log start; the leader's fetch
    /// responses (or, as leader, the ISR) move it up again, as after a Kafka restart without
    /// a recent checkpoint.
    pub(crate) fn on_disk(dir: &std::path::Path) -> std::io::Result<Self> {
        let (file, recovered) = LogFile::open(dir)?;
        let first = recovered.batches.first().map(|(h, _)| h.base_offset);
        let start = recovered.log_start.or(first).unwrap_or(0);
        let mut log = Self {
            log_start_offset: start,
            log_end_offset: start,
            high_watermark: start,
            ..Self::default()
        };
        for (header, bytes) in recovered.batches {
            log.note_epoch(header.partition_leader_epoch, header.base_offset);
            log.push(header, bytes);
        }
        log.file = Some(file);
        Ok(log)
    }

    /// Writes the whole log to its file again (after a change that is not an append).
    fn rewrite_file(&mut self) {
        if let Some(file) = &mut self.file {
            file.rewrite(
                self.log_start_offset,
                self.batches.iter().map(|b| b.bytes.as_ref()),
            );
        }
    }

    /// First offset a reader may ask for: 0 unless DeleteRecords moved it (the sandbox has no
    /// retention).
    pub(crate) fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Moves the log start offset up to `offset` (never back, never past the log end) and
    /// drops the batches wholly before it. A batch that straddles it stays, as Kafka keeps the
    /// segment that holds the new start; reads below it are refused all the same.
    pub(crate) fn advance_log_start(&mut self, offset: i64) {
        let offset = offset.min(self.log_end_offset);
        if offset <= self.log_start_offset {
            return;
        }
        self.log_start_offset = offset;
        let gone = self
            .batches
            .partition_point(|b| b.header.last_offset() < offset);
        self.batches.drain(..gone);
        self.size_bytes = self.batches.iter().map(|b| b.bytes.len()).sum();
        self.transactions.forget_below(offset);
        self.rewrite_file();
    }

    /// Empties the log and starts it at `offset`: a follower whose log ends before the
    /// leader's start has nothing the leader still keeps (Kafka's `truncateFullyAndStartAt`).
    pub(crate) fn restart_at(&mut self, offset: i64) {
        self.batches.clear();
        self.producers.clear();
        self.transactions = Transactions::default();
        self.epochs.clear();
        self.size_bytes = 0;
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.high_watermark = offset;
        self.rewrite_file();
    }

    /// Offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// The checkpointed high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// Sets the high watermark, never beyond the log end.
    pub(crate) fn set_high_watermark(&mut self, hw: i64) {
        self.high_watermark = hw.clamp(0, self.log_end_offset);
        self.transactions.settle(self.high_watermark);
    }

    /// The end of what a read_committed consumer may read: the first offset of a transaction
    /// not yet decided on the in-sync replicas, else the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.transactions.last_stable_offset(self.high_watermark)
    }

    /// The aborted transactions whose records lie in `[from, upper)`.
    pub(crate) fn aborted_between(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        self.transactions.aborted_between(from, upper)
    }

    /// The newest leader epoch in the cache.
    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|(e, _)| *e)
    }

    /// First offset written in `epoch` (the log end if nothing was written in it yet).
    pub(crate) fn epoch_start_offset(&self, epoch: i32) -> i64 {
        self.epochs
            .iter()
            .find(|(e, _)| *e == epoch)
            .map_or(self.log_end_offset, |(_, start)| *start)
    }

    /// Records that `epoch` starts at the current log end (a replica becoming leader).
    pub(crate) fn start_epoch(&mut self, epoch: i32) {
        self.note_epoch(epoch, self.log_end_offset);
    }

    fn note_epoch(&mut self, epoch: i32, start: i64) {
        match self.epochs.last() {
            Some((last, _)) if *last >= epoch => {}
            _ => self.epochs.push((epoch, start)),
        }
    }

    /// Appends produced batches as leader in `leader_epoch`: checks idempotent sequences,
    /// assigns offsets, stamps the epoch. All batches are checked before any is written.
    pub(crate) fn append_as_leader(
        &mut self,
        batches: &[(BatchHeader, Bytes)],
        leader_epoch: i32,
    ) -> Result<Appended, KafkaError> {
        if let Some((h, _)) = batches.first().filter(|(h, _)| !h.is_control()) {
            if let Some(original) = self.find_duplicate(h) {
                return Ok(Appended {
                    base_offset: original.base_offset,
                    last_offset: original.last_offset,
                    duplicate: true,
                });
            }
        }
        for (h, bytes) in batches {
            self.check_sequence(h)?;
            if h.is_control() {
                self.check_coordinator(h, bytes)?;
            }
        }
        self.start_epoch(leader_epoch);
        let base_offset = self.log_end_offset;
        for (h, bytes) in batches {
            let offset = self.log_end_offset;
            let stamped = restamp(bytes, offset, leader_epoch);
            let mut header = *h;
            header.base_offset = offset;
            header.partition_leader_epoch = leader_epoch;
            self.push(header, stamped);
        }
        Ok(Appended {
            base_offset,
            last_offset: self.log_end_offset - 1,
            duplicate: false,
        })
    }

    /// Appends batches fetched from the leader, which already carry offsets and epochs.
    /// Batches the log already has are skipped; a gap is refused.
    pub(crate) fn append_as_follower(
        &mut self,
        batches: Vec<(BatchHeader, Bytes)>,
    ) -> Result<(), KafkaError> {
        for (h, bytes) in batches {
            if h.last_offset() < self.log_end_offset {
                continue;
            }
            if h.base_offset != self.log_end_offset {
                return Err(KafkaError::new(
                    ResponseError::CorruptMessage,
                    format!(
                        "fetched batch starts at {} but the log ends at {}",
                        h.base_offset, self.log_end_offset
                    ),
                ));
            }
            self.note_epoch(h.partition_leader_epoch, h.base_offset);
            self.push(h, bytes);
        }
        Ok(())
    }

    fn push(&mut self, header: BatchHeader, bytes: Bytes) {
        if header.is_control() {
            // A marker ends the producer's transaction and carries its (possibly bumped)
            // epoch; it has no sequence, so the producer's sequence state is left alone.
            if let Some(marker) = crate::protocol::records::marker_of(&bytes) {
                self.transactions
                    .on_marker(header.producer_id, header.base_offset, marker.commit);
                let state = self.producers.entry(header.producer_id).or_default();
                state.coordinator_epoch = state.coordinator_epoch.max(marker.coordinator_epoch);
            }
        } else if header.is_transactional() {
            self.transactions
                .on_data(header.producer_id, header.base_offset);
        }
        if header.is_idempotent() && (header.is_control() || header.base_sequence < 0) {
            let state = self.producers.entry(header.producer_id).or_default();
            if header.producer_epoch > state.epoch {
                state.recent.clear();
                state.epoch = header.producer_epoch;
            }
        }
        if header.is_idempotent() && !header.is_control() && header.base_sequence >= 0 {
            let state = self.producers.entry(header.producer_id).or_default();
            if header.producer_epoch != state.epoch {
                state.recent.clear();
                state.epoch = header.producer_epoch;
            }
            state.recent.push(ProducedBatch {
                first_seq: header.base_sequence,
                last_seq: header.last_sequence(),
                base_offset: header.base_offset,
                last_offset: header.last_offset(),
            });
            if state.recent.len() > PRODUCER_BATCH_MEMORY {
                state.recent.remove(0);
            }
        }
        self.log_end_offset = header.last_offset() + 1;
        self.size_bytes += bytes.len();
        if let Some(file) = &mut self.file {
            file.append(&bytes);
        }
        self.batches.push(StoredBatch { header, bytes });
    }

    fn find_duplicate(&self, h: &BatchHeader) -> Option<ProducedBatch> {
        if !h.is_idempotent() || h.base_sequence < 0 {
            return None;
        }
        let state = self.producers.get(&h.producer_id)?;
        if state.epoch != h.producer_epoch {
            return None;
        }
        state
            .recent
            .iter()
            .copied()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence())
    }

    /// Refuses a marker from a coordinator older than the one whose marker this producer last
    /// got here, as Kafka's producer state does (TRANSACTION_COORDINATOR_FENCED).
    fn check_coordinator(&self, h: &BatchHeader, bytes: &Bytes) -> Result<(), KafkaError> {
        let (Some(state), Some(marker)) = (
            self.producers.get(&h.producer_id),
            crate::protocol::records::marker_of(bytes),
        ) else {
            return Ok(());
        };
        if marker.coordinator_epoch < state.coordinator_epoch {
            return Err(KafkaError::new(
                ResponseError::TransactionCoordinatorFenced,
                format!(
                    "marker from coordinator epoch {} but producer {} last had one from {}",
                    marker.coordinator_epoch, h.producer_id, state.coordinator_epoch
                ),
            ));
        }
        Ok(())
    }

    fn check_sequence(&self, h: &BatchHeader) -> Result<(), KafkaError> {
        if !h.is_idempotent() {
            return Ok(());
        }
        let Some(state) = self.producers.get(&h.producer_id) else {
            return Ok(());
        };
        if h.is_control() || h.base_sequence < 0 {
            // A marker, or a batch the broker wrote for the producer without a sequence
            // (TxnOffsetCommit's offsets): only an older epoch than the producer has since
            // written is refused, as fenced.
            if h.producer_epoch < state.epoch {
                return Err(KafkaError::new(
                    ResponseError::InvalidProducerEpoch,
                    format!("epoch {} is older than {}", h.producer_epoch, state.epoch),
                ));
            }
            return Ok(());
        }
        if h.producer_epoch < state.epoch {
            return Err(KafkaError::new(
                ResponseError::InvalidProducerEpoch,
                format!(
                    "producer epoch {} is older than {}",
                    h.producer_epoch, state.epoch
                ),
            ));
        }
        if h.producer_epoch > state.epoch {
            return Ok(());
        }
        let Some(last) = state.recent.last() else {
            return Ok(());
        };
        let expected = if last.last_seq == i32::MAX {
            0
        } else {
            last.last_seq + 1
        };
        if h.base_sequence != expected {
            return Err(KafkaError::new(
                ResponseError::OutOfOrderSequenceNumber,
                format!("expected sequence {expected}, got {}", h.base_sequence),
            ));
        }
        Ok(())
    }

    /// Reads whole batches from `offset` up to (not including) `upper`, at most `max_bytes`
    /// but always at least one batch if there is one (so a large batch cannot stall a reader).
    pub fn read(&self, offset: i64, upper: i64, max_bytes: usize) -> Bytes {
        let start = self
            .batches
            .partition_point(|b| b.header.last_offset() < offset);
        // Which batches go, first, so the response is one allocation of the right size (or
        // none: a single batch is shared, not copied).
        let mut end = start;
        let mut size = 0usize;
        for b in &self.batches[start..] {
            if b.header.last_offset() >= upper {
                break;
            }
            if end > start && size + b.bytes.len() > max_bytes {
                break;
            }
            size += b.bytes.len();
            end += 1;
        }
        match &self.batches[start..end] {
            [] => Bytes::new(),
            [one] => one.bytes.clone(),
            many => {
                let mut out = BytesMut::with_capacity(size);
                for b in many {
                    out.extend_from_slice(&b.bytes);
                }
                out.freeze()
            }
        }
    }

    /// Removes everything from `offset` on (whole batches), then fixes up the epoch cache,
    /// producer state and high watermark.
    pub(crate) fn truncate_to(&mut self, offset: i64) {
        if offset >= self.log_end_offset {
            return;
        }
        let keep = self
            .batches
            .partition_point(|b| b.header.last_offset() < offset);
        self.batches.truncate(keep);
        self.log_end_offset = self
            .batches
            .last()
            .map_or(self.log_start_offset, |b| b.header.last_offset() + 1);
        self.size_bytes = self.batches.iter().map(|b| b.bytes.len()).sum();
        let end = self.log_end_offset;
        self.epochs.retain(|(_, start)| *start < end);
        self.high_watermark = self.high_watermark.min(end);
        self.producers.clear();
        self.transactions = Transactions::default();
        let batches = std::mem::take(&mut self.batches);
        self.log_end_offset = self.log_start_offset;
        self.size_bytes = 0;
        // Replayed for the producer state only: the file gets the kept batches once, below.
        let file = self.file.take();
        for b in batches {
            self.push(b.header, b.bytes);
        }
        self.file = file;
        self.transactions.settle(self.high_watermark);
        self.rewrite_file();
    }

    /// OffsetForLeaderEpoch: the largest epoch <= `epoch` this log knows, and the offset where
    /// it ended (the start of the next epoch, or the log end for the latest one).
    /// `(-1, -1)` when the log knows no such epoch.
    pub(crate) fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let idx = self.epochs.partition_point(|(e, _)| *e <= epoch);
        if idx == 0 {
            return (-1, -1);
        }
        let found = self.epochs[idx - 1].0;
        let end = self
            .epochs
            .get(idx)
            .map_or(self.log_end_offset, |(_, start)| *start);
        (found, end)
    }

    /// ListOffsets by timestamp: the first record with a timestamp >= `ts` below `upper`,
    /// as (offset, timestamp).
    pub(crate) fn offset_for_timestamp(&self, ts: i64, upper: i64) -> Option<(i64, i64)> {
        for b in &self.batches {
            if b.header.base_offset >= upper {
                break;
            }
            if b.header.max_timestamp < ts {
                continue;
            }
            let mut bytes = b.bytes.clone();
            let set = RecordBatchDecoder::decode(&mut bytes).ok()?;
            if let Some(r) = set
                .records
                .iter()
                .find(|r| r.timestamp >= ts && r.offset < upper)
            {
                return Some((r.offset, r.timestamp));
            }
        }
        None
    }

    /// ListOffsets MAX_TIMESTAMP: the record with the largest timestamp below `upper`.
    pub(crate) fn max_timestamp(&self, upper: i64) -> Option<(i64, i64)> {
        let mut best: Option<(i64, i64)> = None;
        for b in &self.batches {
            if b.header.last_offset() >= upper {
                break;
            }
            if best.is_none_or(|(_, ts)| b.header.max_timestamp > ts) {
                let mut bytes = b.bytes.clone();
                if let Ok(set) = RecordBatchDecoder::decode(&mut bytes) {
                    if let Some(r) = set.records.iter().max_by_key(|r| (r.timestamp, -r.offset)) {
                        best = Some((r.offset, r.timestamp));
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests;
