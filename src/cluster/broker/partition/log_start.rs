//! Where a partition's log starts. DeleteRecords moves it on the leader (never past the high
//! watermark); followers learn the leader's start from every fetch response and follow it, and
//! a follower whose whole log lies before the leader's start begins again there — Kafka's
//! `maybeIncrementLogStartOffset` and `truncateFullyAndStartAt`.

use kafka_protocol::ResponseError;

use super::{Partition, Role};

impl Partition {
    /// DeleteRecords as leader: everything before `offset` (-1: the high watermark) goes.
    /// Returns the new log start offset (Kafka's low watermark on this replica).
    pub(crate) fn delete_records(&self, offset: i64) -> Result<i64, ResponseError> {
        let st = self.state();
        if st.role != Role::Leader {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        let mut log = self.log();
        let high_watermark = log.high_watermark();
        let target = if offset == -1 { high_watermark } else { offset };
        if target < 0 || target > high_watermark {
            return Err(ResponseError::OffsetOutOfRange);
        }
        log.advance_log_start(target);
        Ok(log.log_start_offset())
    }

    /// As a follower: the leader's log start offset, from a fetch response. Ours follows it,
    /// but never past our own high watermark.
    pub(crate) fn follow_log_start(&self, leader_start: i64) {
        let mut log = self.log();
        let upto = leader_start.min(log.high_watermark());
        log.advance_log_start(upto);
    }

    /// As a follower whose log ends before the leader's start: nothing it holds is still
    /// kept by the leader, so it empties its log and fetches from `offset`.
    pub(crate) fn restart_log_at(&self, offset: i64) {
        let _st = self.state();
        self.log().restart_at(offset);
    }

    /// This replica's log start offset.
    pub fn log_start_offset(&self) -> i64 {
        self.log().log_start_offset()
    }
}
