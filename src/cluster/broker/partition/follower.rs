//! The follower side: on a new leader epoch, cut the log where the leader's history diverges
//! (as the leader answers OffsetForLeaderEpoch, the way Kafka's replica fetcher truncates),
//! then append what the leader sends and follow its high watermark.

use bytes::Bytes;

use super::Partition;
use crate::cluster::KafkaError;
use crate::protocol::records::BatchHeader;

impl Partition {
    /// As a follower that just got a new leader epoch: where to cut the log, given the leader's
    /// answer to OffsetForLeaderEpoch (`leader_epoch`, `end_offset` for our latest epoch, or
    /// `None` when we had no epoch to ask about).
    pub(crate) fn truncate_to_leader(&self, me: i32, answer: Option<(i32, i64)>) {
        let mut st = self.state();
        let mut log = self.log();
        let before = log.log_end_offset();
        let target = match answer {
            None => before.min(log.high_watermark()),
            Some((epoch, _)) if epoch < 0 => log.high_watermark(),
            Some((epoch, end_offset)) => {
                let (_, ours) = log.end_offset_for_epoch(epoch);
                end_offset.min(if ours < 0 { before } else { ours })
            }
        };
        if target < before {
            log.truncate_to(target);
            tracing::info!(
                "broker {me}: truncated {}-{} from {before} to {} to match leader {}",
                self.topic,
                self.index,
                log.log_end_offset(),
                st.leader
            );
        }
        st.needs_truncation = false;
    }

    /// As a follower: appends what the leader sent from `fetched_at` and takes the leader's
    /// high watermark (never past our own log end). Returns false, and asks for truncation
    /// first, if the batches do not continue our log.
    pub(crate) fn append_from_leader(
        &self,
        fetched_at: i64,
        batches: Option<Vec<(BatchHeader, Bytes)>>,
        leader_high_watermark: i64,
    ) -> Result<bool, KafkaError> {
        let mut st = self.state();
        let mut log = self.log();
        if log.log_end_offset() != fetched_at {
            return Ok(false);
        }
        if let Some(batches) = batches {
            if let Err(e) = log.append_as_follower(batches) {
                st.needs_truncation = true;
                return Err(e);
            }
        }
        let hw = leader_high_watermark.min(log.log_end_offset());
        self.raise_high_watermark(&mut log, hw);
        Ok(true)
    }
}
