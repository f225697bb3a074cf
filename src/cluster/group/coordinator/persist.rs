//! What the coordinator keeps in `__consumer_offsets` (Kafka's `GroupMetadataManager`):
//! rebuilding a partition's groups from its log when this broker becomes its leader, and
//! writing membership records, offsets and transactional offsets through the partition's
//! write lane, each acknowledged only once the ISR has it.

use std::collections::HashMap;
use std::time::Instant;

use kafka_protocol::ResponseError;

use super::{GroupCoordinator, Loaded, WRITE_TIMEOUT};
use crate::cluster::broker::api::produce::append_and_replicate;
use crate::cluster::broker::Broker;
use crate::cluster::group::classic::Group;
use crate::cluster::group::record::{decode_log, encode_txn_batch, replay, StoredRecord};
use crate::cluster::group::types::CommittedOffset;
use crate::cluster::group::OFFSETS_TOPIC;

impl GroupCoordinator {
    /// Rebuilds the groups of one partition from its log.
    pub(super) fn load(broker: &Broker, partition: i32, leader_epoch: i32) -> Loaded {
        let mut groups = HashMap::new();
        if let Some(replica) = broker.partition(OFFSETS_TOPIC, partition) {
            let bytes = {
                let log = replica.log();
                log.read(0, log.log_end_offset(), usize::MAX)
            };
            groups = replay(decode_log(&bytes), Instant::now());
            tracing::info!(
                "broker {}: coordinating {} group(s) of {OFFSETS_TOPIC}-{partition} (leader epoch {leader_epoch})",
                broker.id(),
                groups.len()
            );
        }
        Loaded {
            leader_epoch,
            groups,
        }
    }

    /// Writes records built from the group's current state to its partition and waits until
    /// the ISR has them. Writes to one partition keep their order; writes to different
    /// partitions do not wait for each other.
    pub(crate) async fn write(
        &self,
        broker: &Broker,
        group: &str,
        records: impl FnOnce(&Group) -> Vec<StoredRecord>,
    ) -> Result<(), ResponseError> {
        let (partition, _) = Self::owned_partition(broker, group)?;
        let snapshot = || self.with_group(broker, group, false, |g, _| records(g));
        let append = |batch| async move { append_to_offsets(broker, partition, batch).await };
        self.lanes.write(partition, snapshot, append).await
    }

    /// TxnOffsetCommit: writes `offsets` in producer `(producer_id, producer_epoch)`'s
    /// transaction to the group's partition (in the group's write lane, so after the group's
    /// earlier writes) and holds them pending until the transaction's marker arrives there.
    pub(crate) async fn commit_in_txn(
        &self,
        broker: &Broker,
        group: &str,
        producer: (i64, i16),
        offsets: Vec<(String, i32, CommittedOffset)>,
    ) -> Result<(), ResponseError> {
        let (partition, _) = Self::owned_partition(broker, group)?;
        self.with_group(broker, group, true, |_, _| ())?;
        let records: Vec<StoredRecord> = offsets
            .iter()
            .map(|(topic, p, o)| {
                StoredRecord::Offset(group.to_string(), topic.clone(), *p, Some(o.clone()))
            })
            .collect();
        let batch = encode_txn_batch(&records, producer.0, producer.1);
        self.lanes
            .write_batch(partition, batch, |batch| async move {
                append_to_offsets(broker, partition, batch).await
            })
            .await?;
        self.with_group(broker, group, true, |g, _| {
            for (topic, p, o) in offsets {
                g.txn_offsets.add(producer.0, topic, p, o);
            }
        })
    }

    /// A transaction marker of `producer_id` reached `__consumer_offsets` partition
    /// `partition` (WriteTxnMarkers): the offsets its groups hold for that transaction become
    /// committed, or are dropped.
    pub(crate) fn end_txn(&self, partition: i32, producer_id: i64, commit: bool) {
        let mut locked = self.groups.lock().expect("groups lock");
        if let Some(loaded) = locked.partitions.get_mut(&partition) {
            for g in loaded.groups.values_mut() {
                g.end_txn(producer_id, commit);
            }
        }
    }

    /// Persists the group's membership record.
    pub(crate) async fn persist_membership(
        &self,
        broker: &Broker,
        group: &str,
    ) -> Result<(), ResponseError> {
        self.write(broker, group, |g| {
            vec![StoredRecord::Group(g.id.clone(), Some(g.to_record()))]
        })
        .await
    }
}

/// Appends a batch to `__consumer_offsets` partition `partition` and waits for its ISR, with
/// the append's failure said as a coordinator would to a client.
async fn append_to_offsets(
    broker: &Broker,
    partition: i32,
    batch: bytes::Bytes,
) -> Result<(), ResponseError> {
    append_and_replicate(broker, OFFSETS_TOPIC, partition, batch, WRITE_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|e| e.as_coordinator_error())
}
