//! The group coordinator inside a broker. It serves the groups of every `__consumer_offsets`
//! partition this broker leads: when it becomes leader of one it replays that partition's log
//! to rebuild the groups and their committed offsets; when it loses leadership it drops them
//! and waiting members are told NOT_COORDINATOR, so they look the coordinator up again.
//!
//! The rules are the [`Group`] transitions, which never touch a channel; this is where their
//! replies are delivered. A JoinGroup or SyncGroup gets a fresh [`RequestToken`] and a oneshot
//! channel; the coordinator files the sender under the token, runs the transition, and sends
//! every reply the transition returns to the sender filed under its token — the caller's own,
//! or those of members that have been waiting for this moment. Groups and filed senders share
//! one std mutex, held only while a transition runs (transitions never await), so a reply can
//! never race the filing of its sender.
//!
//! Writes to `__consumer_offsets` go through one lane per partition ([`super::writes`]), so a
//! partition whose ISR cannot confirm delays only its own groups. What is read from and
//! written to `__consumer_offsets` is in `persist.rs`.

mod persist;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::classic::Group;
use super::record::StoredRecord;
use super::types::{
    GroupLimits, GroupState, JoinRequest, JoinResult, Reply, RequestToken, SyncRequest, SyncResult,
};
use super::writes::WriteLanes;
use super::{partition_for, OFFSETS_TOPIC};
use crate::cluster::broker::partition::Role;
use crate::cluster::broker::Broker;

/// How long a group write may wait for the offsets partition's ISR.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than its rebalance timeout a JoinGroup waits before it is answered
/// REBALANCE_IN_PROGRESS: the group ends the join phase itself at the rebalance timeout, on
/// the next housekeeping pass, so this only fires if something went wrong.
const JOIN_WAIT_MARGIN: Duration = Duration::from_secs(5);
/// How long a SyncGroup waits for the leader's assignment.
const SYNC_WAIT: Duration = Duration::from_secs(60);

struct Loaded {
    leader_epoch: i32,
    groups: HashMap<String, Group>,
}

/// The connection of a request waiting for its reply.
enum Waiter {
    Join(oneshot::Sender<JoinResult>),
    Sync(oneshot::Sender<SyncResult>),
}

/// Everything behind the coordinator's lock.
#[derive(Default)]
struct Groups {
    /// The partitions this broker coordinates, as last loaded.
    partitions: HashMap<i32, Loaded>,
    /// Senders of requests waiting for a reply, by token.
    waiting: HashMap<RequestToken, Waiter>,
}

/// Sends each reply to the request filed under its token. A reply whose request is no longer
/// filed (it gave up waiting) goes nowhere, as does one to a connection that has closed.
fn deliver(waiting: &mut HashMap<RequestToken, Waiter>, replies: Vec<Reply>) {
    for reply in replies {
        match reply {
            Reply::Join { to, result } => {
                if let Some(Waiter::Join(tx)) = waiting.remove(&to) {
                    let _ = tx.send(result);
                }
            }
            Reply::Sync { to, result } => {
                if let Some(Waiter::Sync(tx)) = waiting.remove(&to) {
                    let _ = tx.send(result);
                }
            }
        }
    }
}

/// The groups this broker coordinates.
pub struct GroupCoordinator {
    limits: GroupLimits,
    groups: Mutex<Groups>,
    next_token: AtomicU64,
    lanes: WriteLanes,
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
    /// The generation (Kafka keeps it to itself: no classic-protocol API returns it).
    pub generation: i32,
}

impl GroupCoordinator {
    /// A coordinator with no groups loaded.
    pub fn new(limits: GroupLimits) -> Self {
        Self {
            limits,
            groups: Mutex::new(Groups::default()),
            next_token: AtomicU64::new(0),
            lanes: WriteLanes::default(),
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
    /// has just become its leader. For reads and for transitions that answer nobody else.
    pub(crate) fn with_group<T>(
        &self,
        broker: &Broker,
        group: &str,
        create: bool,
        f: impl FnOnce(&mut Group, &GroupLimits) -> T,
    ) -> Result<T, ResponseError> {
        self.transition(broker, group, create, None, |g, limits| {
            (f(g, limits), Vec::new())
        })
    }

    /// Runs the transition `f` on `group` as [`GroupCoordinator::with_group`] does, filing
    /// `waiter` first (if the group is found), and delivers the replies `f` returns.
    fn transition<T>(
        &self,
        broker: &Broker,
        group: &str,
        create: bool,
        waiter: Option<(RequestToken, Waiter)>,
        f: impl FnOnce(&mut Group, &GroupLimits) -> (T, Vec<Reply>),
    ) -> Result<T, ResponseError> {
        let (partition, epoch) = Self::owned_partition(broker, group)?;
        let mut locked = self.groups.lock().expect("groups lock");
        let Groups {
            partitions,
            waiting,
        } = &mut *locked;
        if partitions
            .get(&partition)
            .is_none_or(|l| l.leader_epoch != epoch)
        {
            if let Some(mut old) = partitions.remove(&partition) {
                for g in old.groups.values_mut() {
                    deliver(waiting, g.fail_waiters(ResponseError::NotCoordinator));
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
        if let Some((to, w)) = waiter {
            waiting.insert(to, w);
        }
        let (out, replies) = f(g, &self.limits);
        deliver(waiting, replies);
        Ok(out)
    }

    fn token(&self) -> RequestToken {
        RequestToken(self.next_token.fetch_add(1, Ordering::Relaxed))
    }

    /// Waits for the reply filed under `to`, for at most `wait`.
    async fn reply<T>(
        &self,
        to: RequestToken,
        reply: oneshot::Receiver<T>,
        wait: Duration,
    ) -> Result<T, ResponseError> {
        match tokio::time::timeout(wait, reply).await {
            Ok(Ok(answer)) => Ok(answer),
            // The sender is gone with the coordinator that held it.
            Ok(Err(_)) => Err(ResponseError::NotCoordinator),
            Err(_) => {
                self.groups.lock().expect("groups lock").waiting.remove(&to);
                Err(ResponseError::RebalanceInProgress)
            }
        }
    }

    /// JoinGroup: answered at once, or when the rebalance's join phase completes.
    pub async fn join(
        &self,
        broker: &Broker,
        group: &str,
        request: JoinRequest,
    ) -> Result<JoinResult, ResponseError> {
        let wait = request.rebalance_timeout + JOIN_WAIT_MARGIN;
        let to = self.token();
        let (tx, rx) = oneshot::channel();
        self.transition(
            broker,
            group,
            true,
            Some((to, Waiter::Join(tx))),
            |g, limits| ((), g.join(request, to, limits, Instant::now())),
        )?;
        self.reply(to, rx, wait).await
    }

    /// SyncGroup: answered at once, or when the leader's assignment arrives. The leader's
    /// SyncGroup that completes the assignment records the membership before the leader is
    /// answered, so a new coordinator restores the group as assigned.
    pub async fn sync(
        &self,
        broker: &Broker,
        group: &str,
        request: SyncRequest,
    ) -> Result<SyncResult, ResponseError> {
        let to = self.token();
        let (tx, rx) = oneshot::channel();
        let assigned = self.transition(
            broker,
            group,
            false,
            Some((to, Waiter::Sync(tx))),
            |g, _| {
                let before = g.state;
                let replies = g.sync(request, to, Instant::now());
                (
                    before == GroupState::CompletingRebalance && g.state == GroupState::Stable,
                    replies,
                )
            },
        )?;
        if assigned {
            if let Err(e) = self.persist_membership(broker, group).await {
                tracing::warn!("group {group}: assignment not persisted: {e}");
            }
        }
        self.reply(to, rx, SYNC_WAIT).await
    }

    /// LeaveGroup for each (member id, group instance id); returns each one's error. A group
    /// left without members records that, so a new coordinator does not restore them.
    pub async fn leave(
        &self,
        broker: &Broker,
        group: &str,
        leaving: &[(String, Option<String>)],
    ) -> Result<Vec<Option<ResponseError>>, ResponseError> {
        let (results, emptied) = self.transition(broker, group, false, None, |g, limits| {
            let now = Instant::now();
            let mut replies = Vec::new();
            let results: Vec<_> = leaving
                .iter()
                .map(|(id, instance)| {
                    let (left, answered) = g.leave(id, instance.as_deref(), limits, now);
                    replies.extend(answered);
                    left.err()
                })
                .collect();
            ((results, g.members.is_empty()), replies)
        })?;
        if emptied {
            let _ = self.persist_membership(broker, group).await;
        }
        Ok(results)
    }

    /// Groups of the partitions this broker currently leads.
    pub fn list(&self, broker: &Broker) -> Vec<ListedGroup> {
        let locked = self.groups.lock().expect("groups lock");
        locked
            .partitions
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
                generation: g.generation,
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
        let mut locked = self.groups.lock().expect("groups lock");
        let Groups {
            partitions,
            waiting,
        } = &mut *locked;
        if let Some(loaded) = partitions.get_mut(&partition) {
            // A member that joined while the tombstones were written loses its group with it.
            if let Some(mut g) = loaded.groups.remove(group) {
                deliver(waiting, g.fail_waiters(ResponseError::NotCoordinator));
            }
        }
        Ok(())
    }

    /// Drops the committed offsets of a deleted (or re-created) topic from every group this
    /// broker coordinates, as Kafka does, and returns (group, partitions) to write tombstones for.
    pub(crate) fn forget_topic(&self, topic: &str) -> Vec<(String, Vec<i32>)> {
        let mut locked = self.groups.lock().expect("groups lock");
        let mut forgotten = Vec::new();
        for loaded in locked.partitions.values_mut() {
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

    /// One housekeeping pass: drop partitions this broker no longer leads, expire silent
    /// members, and finish join phases whose delay or timeout passed. Returns groups that
    /// became empty (to persist).
    fn tick(&self, broker: &Broker) -> Vec<String> {
        let now = Instant::now();
        let mut emptied = Vec::new();
        let mut locked = self.groups.lock().expect("groups lock");
        let Groups {
            partitions,
            waiting,
        } = &mut *locked;
        partitions.retain(|p, loaded| {
            let still_leader = broker.partition(OFFSETS_TOPIC, *p).is_some_and(|r| {
                let st = r.state();
                st.role == Role::Leader && st.leader_epoch == loaded.leader_epoch
            });
            if !still_leader {
                for g in loaded.groups.values_mut() {
                    deliver(waiting, g.fail_waiters(ResponseError::NotCoordinator));
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
                let expiry = g.expire(&self.limits, now);
                deliver(waiting, expiry.replies);
                if !expiry.removed.is_empty() {
                    tracing::info!(
                        "group {}: members {:?} missed their session timeout",
                        g.id,
                        expiry.removed
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
            // Each record waits in its own task, so a partition whose ISR cannot confirm holds
            // up neither housekeeping nor the records of groups on other partitions.
            let b = broker.clone();
            broker.node.spawn(async move {
                if let Err(e) = b.groups.persist_membership(&b, &group).await {
                    tracing::debug!("group {group}: could not record that it is empty: {e}");
                }
            });
        }
    }
}
