//! One partition on one broker, and the one owner of its replication rules — Kafka's
//! `Partition` class. Request handlers and background tasks only decode, call one of these
//! methods, and encode:
//!
//! - **produce** → [`Partition::append_as_leader`] (leader check, `min.insync.replicas`,
//!   offsets and leader epoch), then for acks=all [`Partition::replication`] until the high
//!   watermark covers the write;
//! - **follower fetch** → [`Partition::record_follower_fetch`]: the follower's progress moves
//!   the high watermark (waking acks=all waiters through [`Partition::watch_high_watermark`])
//!   and may propose the follower's return to the ISR;
//! - **ISR upkeep** → [`Partition::maybe_shrink_isr`] drops lagging followers; the
//!   controller's answer comes back through [`Partition::complete_isr_change`];
//! - **metadata** → [`Partition::apply_metadata`] makes it leader or follower at a leader epoch;
//! - **follower side** → [`Partition::truncate_to_leader`], [`Partition::append_from_leader`]
//!   (`follower.rs`);
//! - **log start** → [`Partition::delete_records`] on the leader, followed by followers
//!   (`log_start.rs`).
//!
//! # Locking
//!
//! Two locks: the state (role, epochs, ISR, followers' progress) and the log. Lock order is
//! always state, then log; every method takes them in that order and releases them before it
//! returns, so callers never hold either across an `.await`.

mod follower;
mod log_start;
pub mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use uuid::Uuid;

use crate::cluster::image::{PartitionImage, NO_LEADER};
use crate::cluster::log::PartitionLog;
use crate::cluster::KafkaError;
use crate::protocol::records::BatchHeader;
pub(crate) use state::PartitionState;
pub use state::Role;

/// A request to the controller to change a partition's ISR (AlterPartition).
#[derive(Debug, Clone)]
pub(crate) struct IsrProposal {
    /// The partition whose ISR changes.
    pub partition: Arc<Partition>,
    /// Leader epoch the proposal was made in.
    pub leader_epoch: i32,
    /// Partition epoch the proposal builds on.
    pub partition_epoch: i32,
    /// The proposed ISR.
    pub new_isr: Vec<i32>,
}

/// Where an append as leader landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderAppend {
    /// The leader epoch it was written in.
    pub leader_epoch: i32,
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
}

/// How far an acks=all write has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// Not every in-sync replica has it yet.
    Pending,
    /// Every in-sync replica has it.
    Done,
    /// It can no longer be confirmed (leadership moved, or the ISR shrank below
    /// `min.insync.replicas` while it waited).
    Failed(KafkaError),
}

/// What a follower's fetch changed on the leader.
#[derive(Debug, Clone, Default)]
pub(crate) struct FollowerFetch {
    /// The high watermark moved: consumers and acks=all waiters may proceed.
    pub high_watermark_moved: bool,
    /// The follower caught up and should rejoin the ISR.
    pub proposal: Option<IsrProposal>,
}

/// Who reads, which decides how far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// A follower: up to the log end.
    Follower,
    /// A consumer with isolation.level=read_uncommitted: up to the high watermark.
    Uncommitted,
    /// A consumer with isolation.level=read_committed: up to the last stable offset, told
    /// which transactions in that range were aborted.
    Committed,
}

/// What a read returns.
#[derive(Debug, Clone)]
pub struct Read {
    /// The records.
    pub records: Bytes,
    /// The high watermark at the time of the read.
    pub high_watermark: i64,
    /// The last stable offset at the time of the read.
    pub last_stable_offset: i64,
    /// The log start offset.
    pub log_start_offset: i64,
    /// For a read_committed reader: the aborted transactions among the records.
    pub aborted: Option<Vec<crate::cluster::log::AbortedTxn>>,
}

/// One partition hosted on a broker: identity, state and log.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Topic id (a re-created topic of the same name is a different topic).
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
    /// The log, shared with the broker's storage so it survives restarts.
    log: Arc<Mutex<PartitionLog>>,
    state: Mutex<PartitionState>,
    /// The high watermark, published whenever it moves.
    high_watermark: watch::Sender<i64>,
}

impl Partition {
    /// A partition with no role yet, over `log`.
    pub fn new(topic: &str, topic_id: Uuid, index: i32, log: Arc<Mutex<PartitionLog>>) -> Self {
        let hw = log.lock().map_or(0, |l| l.high_watermark());
        Self {
            topic: topic.to_string(),
            topic_id,
            index,
            log,
            state: Mutex::new(PartitionState::default()),
            high_watermark: watch::channel(hw).0,
        }
    }

    /// Locks the state. Take the log, if at all, after it.
    pub fn state(&self) -> MutexGuard<'_, PartitionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the log. Never take the state while holding it.
    pub fn log(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver of the high watermark, for acks=all waiters.
    pub(crate) fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// Raises the high watermark to the leader's rule (the smallest log end over the maximal
    /// ISR). Returns whether it moved. Callers hold the state and log locks.
    fn advance_high_watermark(&self, me: i32, st: &PartitionState, log: &mut PartitionLog) -> bool {
        let hw = st.high_watermark(me, log.log_end_offset());
        self.raise_high_watermark(log, hw)
    }

    /// Sets the high watermark if `hw` is higher, and publishes it.
    fn raise_high_watermark(&self, log: &mut PartitionLog, hw: i64) -> bool {
        if hw <= log.high_watermark() {
            return false;
        }
        log.set_high_watermark(hw);
        self.high_watermark.send_replace(hw);
        true
    }

    /// Checks a client's or follower's view of the leader epoch against this leader's:
    /// an older epoch is fenced, a newer one unknown here yet.
    pub(crate) fn check_leader(&self, current_epoch: i32) -> Result<(), ResponseError> {
        let st = self.state();
        if st.role != Role::Leader {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if current_epoch >= 0 && current_epoch < st.leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
        if current_epoch > st.leader_epoch {
            return Err(ResponseError::UnknownLeaderEpoch);
        }
        Ok(())
    }

    /// Applies the controller's view of this partition: becomes leader (at a new leader
    /// epoch), follower or offline, and adopts committed ISR changes. Returns the leader to
    /// follow, if this broker should fetch from one.
    pub(crate) fn apply_metadata(
        &self,
        me: i32,
        image: &PartitionImage,
        min_insync_replicas: i32,
        now: Instant,
    ) -> Option<i32> {
        let mut st = self.state();
        st.replicas = image.replicas.clone();
        st.min_insync_replicas = min_insync_replicas;
        if image.leader == me {
            if st.role != Role::Leader || st.leader_epoch != image.leader_epoch {
                st.become_leader(
                    me,
                    image.leader_epoch,
                    image.partition_epoch,
                    &image.isr,
                    now,
                );
                let mut log = self.log();
                log.start_epoch(image.leader_epoch);
                self.advance_high_watermark(me, &st, &mut log);
                tracing::debug!(
                    "broker {me}: leader of {}-{} at epoch {}",
                    self.topic,
                    self.index,
                    image.leader_epoch
                );
            } else if image.partition_epoch > st.partition_epoch {
                st.partition_epoch = image.partition_epoch;
                st.isr = image.isr.clone();
                st.pending_isr = None;
                // A smaller ISR may let the high watermark move at once.
                let mut log = self.log();
                self.advance_high_watermark(me, &st, &mut log);
            }
            return None;
        }
        let role = if image.leader == NO_LEADER {
            Role::Offline
        } else {
            Role::Follower
        };
        if st.role != role || st.leader != image.leader || st.leader_epoch != image.leader_epoch {
            st.role = role;
            st.leader = image.leader;
            st.leader_epoch = image.leader_epoch;
            st.needs_truncation = true;
            st.pending_isr = None;
            st.followers.clear();
        }
        st.partition_epoch = image.partition_epoch;
        st.isr = image.isr.clone();
        (role == Role::Follower).then_some(image.leader)
    }

    /// Appends produced batches as leader: refuses if this broker does not lead, or (for
    /// acks=all) if the ISR is smaller than `min.insync.replicas`; assigns offsets, stamps the
    /// leader epoch, and moves the high watermark as far as the ISR allows (a single-replica
    /// ISR commits at once).
    pub(crate) fn append_as_leader(
        &self,
        me: i32,
        batches: &[(BatchHeader, Bytes)],
        acks: i16,
    ) -> Result<LeaderAppend, KafkaError> {
        let st = self.state();
        if st.role != Role::Leader {
            return Err(KafkaError::new(
                ResponseError::NotLeaderOrFollower,
                format!(
                    "broker {me} is not the leader of {}-{}",
                    self.topic, self.index
                ),
            ));
        }
        if acks == -1 && (st.isr.len() as i32) < st.min_insync_replicas {
            return Err(KafkaError::new(
                ResponseError::NotEnoughReplicas,
                format!(
                    "ISR {:?} is smaller than min.insync.replicas={}",
                    st.isr, st.min_insync_replicas
                ),
            ));
        }
        let mut log = self.log();
        let appended = log.append_as_leader(batches, st.leader_epoch)?;
        self.advance_high_watermark(me, &st, &mut log);
        Ok(LeaderAppend {
            leader_epoch: st.leader_epoch,
            base_offset: appended.base_offset,
            last_offset: appended.last_offset,
        })
    }

    /// Where an acks=all write stands: done once the high watermark passes its last offset
    /// (with the ISR still at `min.insync.replicas`), failed if leadership moved.
    pub fn replication(&self, write: &LeaderAppend) -> Replication {
        let st = self.state();
        if st.role != Role::Leader || st.leader_epoch != write.leader_epoch {
            return Replication::Failed(KafkaError::new(
                ResponseError::NotLeaderOrFollower,
                "leadership moved before the write was replicated",
            ));
        }
        if self.log().high_watermark() <= write.last_offset {
            return Replication::Pending;
        }
        if (st.isr.len() as i32) < st.min_insync_replicas {
            return Replication::Failed(KafkaError::new(
                ResponseError::NotEnoughReplicasAfterAppend,
                format!(
                    "written, but the ISR {:?} shrank below min.insync.replicas",
                    st.isr
                ),
            ));
        }
        Replication::Done
    }

    /// A follower fetched from `fetch_offset`: record its progress (Kafka's caught-up rule),
    /// unless the offset is outside the log (`OFFSET_OUT_OF_RANGE`),
    /// move the high watermark, and propose its return to the ISR once it holds everything up
    /// to the high watermark and this leader epoch's start (if `alive` says the controller
    /// has it in the cluster).
    pub(crate) fn record_follower_fetch(
        self: &Arc<Self>,
        me: i32,
        follower: i32,
        fetch_offset: i64,
        alive: bool,
        now: Instant,
    ) -> Result<FollowerFetch, ResponseError> {
        let mut st = self.state();
        let mut log = self.log();
        let leo = log.log_end_offset();
        if fetch_offset < log.log_start_offset() || fetch_offset > leo {
            // Not progress: a follower ahead of the leader has history to truncate first.
            return Err(ResponseError::OffsetOutOfRange);
        }
        let Some(progress) = st.followers.get_mut(&follower) else {
            return Err(ResponseError::NotLeaderOrFollower);
        };
        let moved_on = progress.log_end_offset != fetch_offset;
        progress.record_fetch(fetch_offset, leo, now);
        // Every other input of the high watermark (the leader's log end, the ISR) advances it
        // where it changes, so a follower fetching from where it already was cannot move it:
        // with thousands of partitions in a fetch session, most are such.
        let mut out = FollowerFetch {
            high_watermark_moved: moved_on && self.advance_high_watermark(me, &st, &mut log),
            proposal: None,
        };
        let epoch_start = log.epoch_start_offset(st.leader_epoch);
        if alive
            && st.pending_isr.is_none()
            && st.may_rejoin(follower, log.high_watermark(), epoch_start)
        {
            let mut new_isr = st.isr.clone();
            new_isr.push(follower);
            tracing::info!(
                "broker {me}: {}-{} follower {follower} caught up; expanding ISR to {new_isr:?}",
                self.topic,
                self.index
            );
            st.pending_isr = Some(new_isr.clone());
            out.proposal = Some(IsrProposal {
                partition: self.clone(),
                leader_epoch: st.leader_epoch,
                partition_epoch: st.partition_epoch,
                new_isr,
            });
        }
        Ok(out)
    }

    /// Drops followers that have not caught up within `lag` (`replica.lag.time.max`) from the
    /// ISR, as a proposal to the controller. Nothing while another change is in flight.
    pub(crate) fn maybe_shrink_isr(
        self: &Arc<Self>,
        me: i32,
        now: Instant,
        lag: Duration,
    ) -> Option<IsrProposal> {
        let mut st = self.state();
        if st.role != Role::Leader || st.pending_isr.is_some() {
            return None;
        }
        let leader_end = self.log().log_end_offset();
        let lagging = st.lagging_followers(me, leader_end, now, lag);
        if lagging.is_empty() {
            return None;
        }
        let new_isr: Vec<i32> = st
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging.contains(r))
            .collect();
        tracing::info!(
            "broker {me}: {}-{} followers {lagging:?} lagged over {} ms; shrinking ISR to {new_isr:?}",
            self.topic,
            self.index,
            lag.as_millis()
        );
        st.pending_isr = Some(new_isr.clone());
        Some(IsrProposal {
            partition: self.clone(),
            leader_epoch: st.leader_epoch,
            partition_epoch: st.partition_epoch,
            new_isr,
        })
    }

    /// The controller answered an ISR proposal: adopt the committed ISR (a newer partition
    /// epoch) and move the high watermark over it, or just forget the proposal. Ignored if this
    /// broker no longer leads at the proposal's epoch. Returns whether the high watermark moved.
    pub(crate) fn complete_isr_change(
        &self,
        me: i32,
        proposal: &IsrProposal,
        committed: Result<(Vec<i32>, i32), i16>,
    ) -> bool {
        let mut st = self.state();
        if st.role != Role::Leader || st.leader_epoch != proposal.leader_epoch {
            return false;
        }
        st.pending_isr = None;
        match committed {
            Ok((isr, partition_epoch)) if partition_epoch > st.partition_epoch => {
                st.isr = isr;
                st.partition_epoch = partition_epoch;
                let mut log = self.log();
                self.advance_high_watermark(me, &st, &mut log)
            }
            Ok(_) => false,
            Err(code) => {
                tracing::debug!(
                    "broker {me}: ISR change for {}-{} refused with code {code}",
                    self.topic,
                    self.index
                );
                // A refused expansion no longer counts toward the high watermark.
                let mut log = self.log();
                self.advance_high_watermark(me, &st, &mut log)
            }
        }
    }

    /// The controller could not be asked: forget the proposal so the next check proposes
    /// again. Until then acks=all writes keep waiting, as in Kafka.
    pub(crate) fn abandon_isr_change(&self, me: i32, leader_epoch: i32) {
        let mut st = self.state();
        if st.leader_epoch == leader_epoch {
            st.pending_isr = None;
            if st.role == Role::Leader {
                let mut log = self.log();
                self.advance_high_watermark(me, &st, &mut log);
            }
        }
    }

    /// Reads from `offset`: a follower up to the log end, a consumer up to the high watermark
    /// or (read_committed) the last stable offset.
    pub fn read(
        &self,
        offset: i64,
        reading: Reading,
        max_bytes: usize,
    ) -> Result<Read, ResponseError> {
        let log = self.log();
        let leo = log.log_end_offset();
        if offset < log.log_start_offset() || offset > leo {
            return Err(ResponseError::OffsetOutOfRange);
        }
        let hw = log.high_watermark();
        let lso = log.last_stable_offset();
        let upper = match reading {
            Reading::Follower => leo,
            Reading::Uncommitted => hw,
            Reading::Committed => lso,
        };
        let records = log.read(offset, upper, max_bytes);
        let aborted = (reading == Reading::Committed).then(|| {
            let end = crate::protocol::records::split_trusted(&records)
                .last()
                .map_or(offset, |(h, _)| h.last_offset() + 1);
            log.aborted_between(offset, end)
        });
        Ok(Read {
            records,
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log.log_start_offset(),
            aborted,
        })
    }

    /// (log end offset, high watermark).
    pub fn offsets(&self) -> (i64, i64) {
        let log = self.log();
        (log.log_end_offset(), log.high_watermark())
    }
}

#[cfg(test)]
mod tests;
