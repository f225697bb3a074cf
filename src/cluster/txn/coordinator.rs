//! The transaction coordinator inside a broker. It serves the transactional ids of every
//! `__transaction_state` partition this broker leads: when it becomes leader of one it replays
//! the partition's log to rebuild the transactions, and sends again the markers of any that
//! were deciding (PrepareCommit, PrepareAbort) when the previous coordinator stopped — Kafka's
//! failover rule: a recorded decision is always carried out; an open transaction stays open
//! for its producer to end, or for its timeout to abort.
//!
//! Every change goes through the partition's write lane: the transition is computed from the
//! state as loaded, the new state is appended to the partition and acknowledged by its ISR,
//! and only then installed and answered — so nothing a client was told can be lost with the
//! coordinator. The lane (a fair tokio mutex per partition) keeps two requests for the same
//! id from deciding on the same old state.
//!
//! Simplification: EndTxn is answered as soon as its PrepareCommit/PrepareAbort is persisted,
//! as in Kafka; the markers are then written by a background task ([`run`]), and until they
//! are, the producer's next AddPartitionsToTxn or InitProducerId is answered
//! CONCURRENT_TRANSACTIONS and retried by the client.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::sync::Notify;

use super::markers::{write_markers, BrokerChannel, Decision};
use super::record::{decode_records, encode_batch, replay};
use super::state::{Transaction, TxnState};
use super::{partition_for, TRANSACTION_STATE_TOPIC};
use crate::cluster::broker::api::produce::append_and_replicate;
use crate::cluster::broker::partition::Role;
use crate::cluster::broker::Broker;
use crate::protocol::records::now_millis;

/// How long a state change may wait for the partition's ISR.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

struct Loaded {
    leader_epoch: i32,
    transactions: HashMap<String, Transaction>,
}

#[derive(Default)]
struct Coordinated {
    /// The partitions this broker coordinates, as last loaded.
    partitions: HashMap<i32, Loaded>,
    /// (transactional id, producer epoch) whose markers a task is sending.
    sending: HashSet<(String, i16)>,
    /// Transactional ids whose timeout abort is being written.
    aborting: HashSet<String>,
}

/// The transactions this broker coordinates.
#[derive(Default)]
pub struct TxnCoordinator {
    state: Mutex<Coordinated>,
    lanes: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<()>>>>,
    /// Wakes the background task when a decision needs its markers sent.
    decided: Notify,
}

/// A change computed by a transition: the answer, and the state to persist (if any).
pub(crate) type Change<T> = Result<(T, Option<Transaction>), ResponseError>;

impl TxnCoordinator {
    /// The `__transaction_state` partition of `id` and this broker's leader epoch for it, if
    /// this broker is its coordinator.
    fn owned_partition(broker: &Broker, id: &str) -> Result<(i32, i32), ResponseError> {
        let image = broker.image();
        let topic = image
            .topics
            .get(TRANSACTION_STATE_TOPIC)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        let partition = partition_for(id, topic.partitions.len() as i32);
        leader_epoch(broker, partition)
            .map(|epoch| (partition, epoch))
            .ok_or(ResponseError::NotCoordinator)
    }

    /// Loads `partition` if it is not loaded at `epoch` (this broker has just become leader).
    fn ensure_loaded(state: &mut Coordinated, broker: &Broker, partition: i32, epoch: i32) {
        if state
            .partitions
            .get(&partition)
            .is_some_and(|l| l.leader_epoch == epoch)
        {
            return;
        }
        let mut transactions = HashMap::new();
        if let Some(replica) = broker.partition(TRANSACTION_STATE_TOPIC, partition) {
            let bytes = {
                let log = replica.log();
                log.read(0, log.log_end_offset(), usize::MAX)
            };
            transactions = replay(decode_records(bytes));
        }
        tracing::info!(
            "broker {}: coordinating {} transactional id(s) of {TRANSACTION_STATE_TOPIC}-{partition} (leader epoch {epoch})",
            broker.id(),
            transactions.len()
        );
        state.partitions.insert(
            partition,
            Loaded {
                leader_epoch: epoch,
                transactions,
            },
        );
    }

    /// The current state of `id`, loading its partition first if needed.
    pub fn describe(&self, broker: &Broker, id: &str) -> Result<Transaction, ResponseError> {
        let (partition, epoch) = Self::owned_partition(broker, id)?;
        let mut state = self.state.lock().expect("transactions lock");
        Self::ensure_loaded(&mut state, broker, partition, epoch);
        state.partitions[&partition]
            .transactions
            .get(id)
            .cloned()
            .ok_or(ResponseError::TransactionalIdNotFound)
    }

    /// Whether `id` has a state yet (for InitProducerId, which must allocate a producer id
    /// before it enters the lane).
    pub(crate) fn needs_producer_id(&self, broker: &Broker, id: &str) -> bool {
        // Not this broker's id (NOT_COORDINATOR and the like): the update answers that, and
        // no producer id is spent on the way.
        match self.describe(broker, id) {
            Ok(t) => t.epoch_exhausted(),
            Err(ResponseError::TransactionalIdNotFound) => true,
            Err(_) => false,
        }
    }

    /// Runs the transition `f` on `id`'s state (None if the id is new) in its partition's lane,
    /// persists the state it returns, and installs it. Returns `f`'s answer once persisted.
    pub(crate) async fn update<T>(
        &self,
        broker: &Broker,
        id: &str,
        f: impl FnOnce(Option<&Transaction>, i64) -> Change<T>,
    ) -> Result<T, ResponseError> {
        let (partition, epoch) = Self::owned_partition(broker, id)?;
        let lane = self.lane(partition);
        let _in_order = lane.lock().await;
        let (answer, next) = {
            let mut state = self.state.lock().expect("transactions lock");
            Self::ensure_loaded(&mut state, broker, partition, epoch);
            f(
                state.partitions[&partition].transactions.get(id),
                now_millis(),
            )?
        };
        let Some(next) = next else {
            return Ok(answer);
        };
        append_and_replicate(
            broker,
            TRANSACTION_STATE_TOPIC,
            partition,
            encode_batch(std::slice::from_ref(&next)),
            WRITE_TIMEOUT,
        )
        .await
        .map_err(|e| e.as_coordinator_error())?;
        let deciding = next.state.is_deciding();
        {
            let mut state = self.state.lock().expect("transactions lock");
            match state.partitions.get_mut(&partition) {
                Some(l) if l.leader_epoch == epoch => {
                    l.transactions.insert(id.to_string(), next);
                }
                _ => return Err(ResponseError::NotCoordinator),
            }
        }
        if deciding {
            self.decided.notify_one();
        }
        Ok(answer)
    }

    fn lane(&self, partition: i32) -> Arc<tokio::sync::Mutex<()>> {
        self.lanes
            .lock()
            .expect("lanes lock")
            .entry(partition)
            .or_default()
            .clone()
    }

    /// Every transaction of the partitions this broker currently leads.
    pub fn list(&self, broker: &Broker) -> Vec<Transaction> {
        let state = self.state.lock().expect("transactions lock");
        state
            .partitions
            .iter()
            .filter(|(p, l)| leader_epoch(broker, **p) == Some(l.leader_epoch))
            .flat_map(|(_, l)| l.transactions.values().cloned())
            .collect()
    }

    /// One housekeeping pass: load partitions this broker has come to lead, drop those it no
    /// longer leads, and return the decisions whose markers need a sender and the ids whose
    /// open transaction has timed out.
    fn tick(&self, broker: &Broker, now_ms: i64) -> (Vec<Due>, Vec<String>) {
        let mut state = self.state.lock().expect("transactions lock");
        state
            .partitions
            .retain(|p, l| leader_epoch(broker, *p) == Some(l.leader_epoch));
        let led: Vec<(i32, i32)> = broker
            .partitions()
            .into_iter()
            .filter(|r| r.topic == TRANSACTION_STATE_TOPIC)
            .filter_map(|r| leader_epoch(broker, r.index).map(|e| (r.index, e)))
            .collect();
        for (partition, epoch) in led {
            Self::ensure_loaded(&mut state, broker, partition, epoch);
        }
        let Coordinated {
            partitions,
            sending,
            aborting,
        } = &mut *state;
        due(partitions, sending, aborting, now_ms)
    }

    /// Sends a decision's markers and, once all are written, records the transaction complete.
    async fn complete(&self, broker: Arc<Broker>, partition: i32, decision: Decision, id: String) {
        let channel = BrokerChannel {
            broker: broker.clone(),
            partition,
            leader_epoch: decision.coordinator_epoch,
        };
        if write_markers(&channel, &decision).await {
            let (pid, epoch) = (decision.producer_id, decision.producer_epoch);
            let completed = self
                .update(&broker, &id, |t, now| {
                    Ok(((), t.and_then(|t| t.complete(pid, epoch, now))))
                })
                .await;
            match completed {
                Ok(()) => tracing::info!(
                    "transaction {id}: {} markers written",
                    if decision.commit { "commit" } else { "abort" }
                ),
                Err(e) => tracing::warn!("transaction {id}: completion not recorded: {e}"),
            }
        }
        let mut state = self.state.lock().expect("transactions lock");
        state.sending.remove(&(id, decision.producer_epoch));
    }

    /// Aborts `id`'s open transaction if it has outlived its timeout, bumping the epoch so the
    /// producer that opened it is fenced.
    async fn abort_timed_out(&self, broker: &Broker, id: String) {
        let aborted = self
            .update(broker, &id, |t, now| {
                let next = t.filter(|t| t.timed_out(now)).map(|t| t.abort_fenced(now));
                Ok((next.is_some(), next))
            })
            .await;
        match aborted {
            Ok(true) => tracing::info!("transaction {id}: timed out; aborting"),
            Ok(false) => {}
            Err(e) => tracing::debug!("transaction {id}: timeout abort not recorded: {e}"),
        }
        self.state
            .lock()
            .expect("transactions lock")
            .aborting
            .remove(&id);
    }
}

/// A decision waiting for its markers: the partition, the decision, the transactional id.
type Due = (i32, Decision, String);

/// What the loaded partitions need done: the decisions without a marker sender yet (those
/// replayed after a failover among them, now under the new leader's epoch) and the ids whose
/// open transaction has outlived its timeout and is not already being aborted. Both are
/// marked as taken care of in `sending` and `aborting`.
fn due(
    partitions: &HashMap<i32, Loaded>,
    sending: &mut HashSet<(String, i16)>,
    aborting: &mut HashSet<String>,
    now_ms: i64,
) -> (Vec<Due>, Vec<String>) {
    let mut decisions = Vec::new();
    let mut timed_out = Vec::new();
    for (partition, loaded) in partitions {
        for t in loaded.transactions.values() {
            if t.state.is_deciding()
                && sending.insert((t.transactional_id.clone(), t.producer_epoch))
            {
                let decision = Decision {
                    producer_id: t.producer_id,
                    producer_epoch: t.producer_epoch,
                    coordinator_epoch: loaded.leader_epoch,
                    commit: t.state == TxnState::PrepareCommit,
                    partitions: t.partitions.clone(),
                };
                decisions.push((*partition, decision, t.transactional_id.clone()));
            }
            if t.timed_out(now_ms) && aborting.insert(t.transactional_id.clone()) {
                timed_out.push(t.transactional_id.clone());
            }
        }
    }
    (decisions, timed_out)
}

/// This broker's leader epoch of a `__transaction_state` partition, if it leads it.
fn leader_epoch(broker: &Broker, partition: i32) -> Option<i32> {
    let replica = broker.partition(TRANSACTION_STATE_TOPIC, partition)?;
    let st = replica.state();
    (st.role == Role::Leader).then_some(st.leader_epoch)
}

/// Runs the coordinator's housekeeping every 100 ms (and at once after a decision) until the
/// node ends: loads partitions on leadership, starts marker senders, aborts timed-out
/// transactions. Each sender and abort runs in its own task, so one partition whose leader
/// cannot be reached holds up nothing else.
pub async fn run(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = broker.transactions.decided.notified() => {}
        }
        broker.node.gate().await;
        let (decisions, timed_out) = broker.transactions.tick(&broker, now_millis());
        for (partition, decision, id) in decisions {
            let b = broker.clone();
            broker.node.spawn(async move {
                b.transactions
                    .complete(b.clone(), partition, decision, id)
                    .await;
            });
        }
        for id in timed_out {
            let b = broker.clone();
            broker
                .node
                .spawn(async move { b.transactions.abort_timed_out(&b, id).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn a_new_leader_carries_out_replayed_decisions_and_timeouts() {
        let t0 = 1_000_000;
        let part = |t: &str, p| vec![(t.to_string(), p)];
        let open = |id: &str, pid| {
            Transaction::new(id, pid, 10_000, t0)
                .add_partitions(pid, 0, &part("t", 1), t0)
                .unwrap()
                .unwrap()
        };
        let committing = open("committing", 1)
            .end(1, 0, true, t0 + 1)
            .unwrap()
            .unwrap();
        let done = committing.complete(1, 0, t0 + 2).unwrap();
        let aborting = open("aborting", 2)
            .end(2, 0, false, t0 + 1)
            .unwrap()
            .unwrap();
        let log = [
            encode_batch(&[open("committing", 1), committing]),
            encode_batch(&[aborting, open("stale", 3), open("fresh", 4)]),
        ]
        .concat();
        // Replayed by the new leader of partition 3 at leader epoch 7.
        let mut transactions = replay(decode_records(Bytes::from(log)));
        transactions.get_mut("fresh").unwrap().start_ms = t0 + 9_000;
        let partitions = HashMap::from([(
            3,
            Loaded {
                leader_epoch: 7,
                transactions,
            },
        )]);
        let (mut sending, mut aborting) = (HashSet::new(), HashSet::new());
        let (mut decisions, timed_out) = due(&partitions, &mut sending, &mut aborting, t0 + 10_001);
        decisions.sort_by_key(|(_, d, _)| d.producer_id);
        let summary: Vec<_> = decisions
            .iter()
            .map(|(p, d, id)| {
                (
                    *p,
                    id.as_str(),
                    d.commit,
                    d.coordinator_epoch,
                    d.partitions.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![(3, "committing", true, 7, 1), (3, "aborting", false, 7, 1)]
        );
        assert_eq!(
            timed_out,
            vec!["stale".to_string()],
            "fresh is within its timeout"
        );
        // Already taken care of: the next pass starts nothing twice.
        let again = due(&partitions, &mut sending, &mut aborting, t0 + 10_002);
        assert_eq!((again.0.len(), again.1.len()), (0, 0));
        // A completed transaction needs nothing.
        let completed = HashMap::from([(
            3,
            Loaded {
                leader_epoch: 7,
                transactions: HashMap::from([("committing".to_string(), done)]),
            },
        )]);
        let none = due(
            &completed,
            &mut HashSet::new(),
            &mut HashSet::new(),
            t0 + 99_999,
        );
        assert_eq!((none.0.len(), none.1.len()), (0, 0));
    }
}
