//! The coordinator's write path to `__consumer_offsets`: one lane per partition.
//!
//! A group write takes a snapshot of the group (its new offsets, its membership record),
//! appends it to the group's partition and waits until the partition's ISR has it — up to the
//! write timeout when a follower has gone quiet and acks=all cannot be satisfied. Two writes to
//! the same partition must reach the log in the order their snapshots were taken, or replay
//! would restore an older state; so each partition has a lane, held from the snapshot to the
//! ISR's acknowledgement. A lane is a tokio mutex, which is fair: writers queue in arrival
//! order.
//!
//! Lanes are independent. A partition whose ISR cannot confirm delays only the groups placed on
//! it; the commits of groups on other partitions go straight through. (One broker-wide lock used
//! to serialise every write, so one stuck partition stalled every group this broker
//! coordinates.)

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::record::{encode_batch, StoredRecord};

/// One write lane per `__consumer_offsets` partition, created on first use. There are at most
/// `offsets.topic.num.partitions` of them, so they are never dropped.
#[derive(Default)]
pub(crate) struct WriteLanes {
    lanes: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<()>>>>,
}

impl WriteLanes {
    /// Writes to `partition` in its lane: waits for the writes queued before it, takes the
    /// snapshot, and hands the encoded batch to `append` (which appends it and waits for the
    /// ISR). An empty snapshot writes nothing.
    pub async fn write<A, F>(
        &self,
        partition: i32,
        snapshot: impl FnOnce() -> Result<Vec<StoredRecord>, ResponseError>,
        append: A,
    ) -> Result<(), ResponseError>
    where
        A: FnOnce(Bytes) -> F,
        F: Future<Output = Result<(), ResponseError>>,
    {
        let lane = self.lane(partition);
        let _in_order = lane.lock().await;
        let records = snapshot()?;
        if records.is_empty() {
            return Ok(());
        }
        append(encode_batch(&records)).await
    }

    /// Appends an already encoded `batch` to `partition` in its lane (a transactional batch
    /// of TxnOffsetCommit, which is not a snapshot of the group).
    pub async fn write_batch<A, F>(
        &self,
        partition: i32,
        batch: Bytes,
        append: A,
    ) -> Result<(), ResponseError>
    where
        A: FnOnce(Bytes) -> F,
        F: Future<Output = Result<(), ResponseError>>,
    {
        let lane = self.lane(partition);
        let _in_order = lane.lock().await;
        append(batch).await
    }

    fn lane(&self, partition: i32) -> Arc<tokio::sync::Mutex<()>> {
        self.lanes
            .lock()
            .expect("write lanes lock")
            .entry(partition)
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    //! These drive the lanes with a fake appender rather than a cluster: holding exactly one
    //! `__consumer_offsets` partition's ISR stuck in a live cluster depends on which brokers
    //! host which partitions, and it unsticks itself once the leader shrinks the ISR
    //! (`replica.lag.time.max.ms`), so a test there would race the very thing it observes.

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;
    use crate::cluster::group::types::CommittedOffset;

    fn commit(group: &str, offset: i64) -> Vec<StoredRecord> {
        vec![StoredRecord::Offset(
            group.into(),
            "t".into(),
            0,
            Some(CommittedOffset {
                offset,
                leader_epoch: 0,
                metadata: None,
            }),
        )]
    }

    #[tokio::test]
    async fn a_stuck_partition_delays_only_its_own_groups() {
        let lanes = Arc::new(WriteLanes::default());
        let (appending, appended) = oneshot::channel();
        let (release, released) = oneshot::channel::<()>();
        // A commit on partition 1 whose ISR never answers until released.
        let stuck = tokio::spawn({
            let lanes = lanes.clone();
            async move {
                lanes
                    .write(
                        1,
                        || Ok(commit("stuck-group", 1)),
                        |_| async move {
                            let _ = appending.send(());
                            let _ = released.await;
                            Ok(())
                        },
                    )
                    .await
            }
        });
        appended.await.expect("the stuck write reached its append");

        // A commit to a group on partition 2 completes meanwhile.
        let healthy = lanes.write(2, || Ok(commit("healthy-group", 7)), |_| async { Ok(()) });
        tokio::time::timeout(Duration::from_secs(5), healthy)
            .await
            .expect("a healthy partition is not held up by a stuck one")
            .expect("written");

        // A second write to partition 1 queues behind the stuck one: not even its snapshot is
        // taken until the first is acknowledged, so the log keeps snapshot order.
        let snapshotted = Arc::new(AtomicBool::new(false));
        let queued = tokio::spawn({
            let (lanes, snapshotted) = (lanes.clone(), snapshotted.clone());
            async move {
                lanes
                    .write(
                        1,
                        || {
                            snapshotted.store(true, Ordering::SeqCst);
                            Ok(commit("stuck-group", 2))
                        },
                        |_| async { Ok(()) },
                    )
                    .await
            }
        });
        for _ in 0..10 {
            // Let the queued write run until it waits (this runtime has one thread).
            tokio::task::yield_now().await;
        }
        assert!(!snapshotted.load(Ordering::SeqCst), "waits for its lane");
        release.send(()).expect("the stuck write is waiting");
        stuck.await.unwrap().expect("written once released");
        queued.await.unwrap().expect("written after the first");
        assert!(snapshotted.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_empty_snapshot_writes_nothing() {
        // The appender would fail: Ok means it was never called.
        let lanes = WriteLanes::default();
        let written = lanes
            .write(
                0,
                || Ok(Vec::new()),
                |_| async { Err(ResponseError::UnknownServerError) },
            )
            .await;
        assert_eq!(written, Ok(()));
    }
}
