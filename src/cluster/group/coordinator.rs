//! The group coordinator inside a broker. It serves the groups of every `__consumer_offsets`
//! partition this broker leads: when it becomes leader of one it replays that partition's log
//! to rebuild the groups and their committed offsets; when it loses leadership it drops them
//! and waiting members are told NOT_COORDINATOR, so they look the coordinator up again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;

use super::state::{Group, GroupLimits, GroupState};
use super::{decode_records, encode_batch, partition_for, StoredRecord, OFFSETS_TOPIC};
use crate::cluster::broker::api::produce::append_and_replicate;
use crate::cluster::broker::partition::Role;
use crate::cluster::broker::Broker;

/// How long a group write may wait for the offsets partition's ISR.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

struct Loaded {
    leader_epoch: i32,
    groups: HashMap<String, Group>,
}

/// The groups this broker coordinates.
pub struct GroupCoordinator {
    limits: GroupLimits,
    partitions: Mutex<HashMap<i32, Loaded>>,
    /// Serialises "snapshot then append" so records land in the order states were taken.
    writes: tokio::sync::Mutex<()>,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// Group id.
    pub id: String,
    /// Protocol type.
    pub protocol_type: String,
    /// State name.
    pub state: &'static str,
}

impl GroupCoordinator {
    /// A coordinator with no groups loaded.
    pub fn new(limits: GroupLimits) -> Self {
        Self {
            limits,
            partitions: Mutex::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The `__consumer_offsets` partition of `group` and this broker's leader epoch for it, if
    /// this broker is its coordinator.
    fn owned_partition(broker: &Broker, group: &str) -> Result<(i32, i32), ResponseError> {
        let image = broker.image();
        let topic = image
            .topics
            .get(OFFSETS_TOPIC)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        let partition = partition_for(group, topic.partitions.len() as i32);
        let replica = broker
            .partition(OFFSETS_TOPIC, partition)
            .ok_or(ResponseError::NotCoordinator)?;
        let st = replica.state();
        if st.role != Role::Leader {
            return Err(ResponseError::NotCoordinator);
        }
        Ok((partition, st.leader_epoch))
    }

    /// Runs `f` on `group` (created if `create`), loading its partition first if this broker
    /// has just become its leader.
    pub fn with_group<T>(
        &self,
        broker: &Broker,
        group: &str,
        create: bool,
        f: impl FnOnce(&mut Group, &GroupLimits) -> T,
    ) -> Result<T, ResponseError> {
        let (partition, epoch) = Self::owned_partition(broker, group)?;
        let mut partitions = self.partitions.lock().expect("groups lock");
        if partitions
            .get(&partition)
            .is_none_or(|l| l.leader_epoch != epoch)
        {
            if let Some(mut old) = partitions.remove(&partition) {
                for g in old.groups.values_mut() {
                    g.fail_waiters(ResponseError::NotCoordinator);
                }
            }
            partitions.insert(partition, Self::load(broker, partition, epoch));
        }
        let loaded = partitions.get_mut(&partition).expect("inserted above");
        if !loaded.groups.contains_key(group) {
            if !create {
                return Err(ResponseError::GroupIdNotFound);
            }
            loaded.groups.insert(group.to_string(), Group::new(group));
        }
        let g = loaded.groups.get_mut(group).expect("present");
        Ok(f(g, &self.limits))
    }

    /// Rebuilds the groups of one partition from its log.
    fn load(broker: &Broker, partition: i32, leader_epoch: i32) -> Loaded {
        let mut groups: HashMap<String, Group> = HashMap::new();
        if let Some(replica) = broker.partition(OFFSETS_TOPIC, partition) {
            let bytes = {
                let log = replica.log();
                log.read(0, log.log_end_offset(), usize::MAX)
            };
            let now = Instant::now();
            for record in decode_records(bytes) {
                match record {
                    StoredRecord::Offset(g, topic, p, Some(offset)) => {
                        groups
                            .entry(g.clone())
                            .or_insert_with(|| Group::new(&g))
                            .offsets
                            .insert((topic, p), offset);
                    }
                    StoredRecord::Offset(g, topic, p, None) => {
                        if let Some(group) = groups.get_mut(&g) {
                            group.offsets.remove(&(topic, p));
                        }
                    }
                    StoredRecord::Group(g, Some(rec)) => {
                        groups
                            .entry(g.clone())
                            .or_insert_with(|| Group::new(&g))
                            .restore(rec, now);
                    }
                    StoredRecord::Group(g, None) => {
                        groups.remove(&g);
                    }
                }
            }
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
    /// the ISR has them.
    pub async fn write(
        &self,
        broker: &Broker,
        group: &str,
        records: impl FnOnce(&Group) -> Vec<StoredRecord>,
    ) -> Result<(), ResponseError> {
        let _ordered = self.writes.lock().await;
        let (partition, _) = Self::owned_partition(broker, group)?;
        let batch = self.with_group(broker, group, false, |g, _| records(g))?;
        if batch.is_empty() {
            return Ok(());
        }
        append_and_replicate(
            broker,
            OFFSETS_TOPIC,
            partition,
            encode_batch(&batch),
            WRITE_TIMEOUT,
        )
        .await
        .map(|_| ())
        .map_err(|e| match e.code {
            ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
            ResponseError::RequestTimedOut
            | ResponseError::NotEnoughReplicas
            | ResponseError::NotEnoughReplicasAfterAppend => ResponseError::CoordinatorNotAvailable,
            other => other,
        })
    }

    /// Persists the group's membership record.
    pub async fn persist_membership(
        &self,
        broker: &Broker,
        group: &str,
    ) -> Result<(), ResponseError> {
        self.write(broker, group, |g| {
            vec![StoredRecord::Group(g.id.clone(), Some(g.to_record()))]
        })
        .await
    }

    /// Groups of the partitions this broker currently leads.
    pub fn list(&self, broker: &Broker) -> Vec<ListedGroup> {
        let partitions = self.partitions.lock().expect("groups lock");
        partitions
            .iter()
            .filter(|(p, l)| {
                broker.partition(OFFSETS_TOPIC, **p).is_some_and(|r| {
                    let st = r.state();
                    st.role == Role::Leader && st.leader_epoch == l.leader_epoch
                })
            })
            .flat_map(|(_, l)| l.groups.values())
            .filter(|g| g.state != GroupState::Dead)
            .map(|g| ListedGroup {
                id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
            })
            .collect()
    }

    /// Removes a group that has no members, writing tombstones for it and its offsets.
    pub async fn delete(&self, broker: &Broker, group: &str) -> Result<(), ResponseError> {
        self.with_group(broker, group, false, |g, _| {
            if g.members.is_empty() {
                Ok(())
            } else {
                Err(ResponseError::NonEmptyGroup)
            }
        })??;
        self.write(broker, group, |g| {
            let mut records: Vec<StoredRecord> = g
                .offsets
                .keys()
                .map(|(t, p)| StoredRecord::Offset(g.id.clone(), t.clone(), *p, None))
                .collect();
            records.push(StoredRecord::Group(g.id.clone(), None));
            records
        })
        .await?;
        let (partition, _) = Self::owned_partition(broker, group)?;
        if let Some(loaded) = self
            .partitions
            .lock()
            .expect("groups lock")
            .get_mut(&partition)
        {
            if let Some(mut g) = loaded.groups.remove(group) {
                g.state = GroupState::Dead;
            }
        }
        Ok(())
    }

    /// Drops the committed offsets of a deleted (or re-created) topic from every group this
    /// broker coordinates, as Kafka does, and returns (group, partitions) to write tombstones for.
    pub fn forget_topic(&self, topic: &str) -> Vec<(String, Vec<i32>)> {
        let mut partitions = self.partitions.lock().expect("groups lock");
        let mut forgotten = Vec::new();
        for loaded in partitions.values_mut() {
            for g in loaded.groups.values_mut() {
                let gone: Vec<i32> = g
                    .offsets
                    .keys()
                    .filter(|(t, _)| t == topic)
                    .map(|(_, p)| *p)
                    .collect();
                if !gone.is_empty() {
                    g.offsets.retain(|(t, _), _| t != topic);
                    forgotten.push((g.id.clone(), gone));
                }
            }
        }
        forgotten
    }

    /// One housekeeping pass: expire silent members, finish timed-out rebalances, and drop
    /// partitions this broker no longer leads. Returns groups that became empty (to persist).
    fn tick(&self, broker: &Broker) -> Vec<String> {
        let now = Instant::now();
        let mut emptied = Vec::new();
        let mut partitions = self.partitions.lock().expect("groups lock");
        partitions.retain(|p, loaded| {
            let still_leader = broker.partition(OFFSETS_TOPIC, *p).is_some_and(|r| {
                let st = r.state();
                st.role == Role::Leader && st.leader_epoch == loaded.leader_epoch
            });
            if !still_leader {
                for g in loaded.groups.values_mut() {
                    g.fail_waiters(ResponseError::NotCoordinator);
                }
                tracing::info!(
                    "broker {}: no longer coordinating {OFFSETS_TOPIC}-{p}",
                    broker.id()
                );
            }
            still_leader
        });
        for loaded in partitions.values_mut() {
            for g in loaded.groups.values_mut() {
                let was_empty = g.state == GroupState::Empty;
                let removed = g.expire(&self.limits, now);
                if !removed.is_empty() {
                    tracing::info!(
                        "group {}: members {removed:?} missed their session timeout",
                        g.id
                    );
                }
                if !was_empty && g.state == GroupState::Empty {
                    emptied.push(g.id.clone());
                }
            }
        }
        emptied
    }
}

/// Runs the coordinator's housekeeping every 100 ms until the node ends.
pub async fn run(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        broker.node.gate().await;
        for group in broker.groups.tick(&broker) {
            if let Err(e) = broker.groups.persist_membership(&broker, &group).await {
                tracing::debug!("group {group}: could not record that it is empty: {e}");
            }
        }
    }
}
