//! The follower's half of an incremental fetch session with one leader (KIP-227; the leader's
//! half is [`crate::cluster::broker::fetch_session`]). The session is opened for the set of
//! partitions the fetcher follows from that leader and remembers, by position in that set, the
//! fetch position last sent for each, so a request lists only partitions whose position moved
//! and forgets those not ready to fetch. A different set starts a new session.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::fetch_request::FetchPartition;

use crate::cluster::broker::partition::Partition;

/// Bytes per partition per follower fetch.
const PARTITION_FETCH_BYTES: i32 = 4 << 20;

/// A followed partition that is ready to fetch: (leader epoch, log end offset).
pub(super) type Ready = Option<(i32, i64)>;

/// One leader's session, as the follower keeps it.
#[derive(Debug, Default)]
pub(super) struct FollowerSession {
    /// 0 while there is none: the next fetch is full and asks for one.
    id: i32,
    epoch: i32,
    partitions: Vec<Arc<Partition>>,
    /// Position in `partitions` by topic and index, to match a response's partitions.
    positions: HashMap<String, HashMap<i32, usize>>,
    /// (fetch offset, leader epoch) last sent, by position.
    sent: Vec<Option<(i64, i32)>>,
}

/// One request's worth of a session: what to list and what to forget.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub by_topic: BTreeMap<String, Vec<FetchPartition>>,
    pub forgotten: BTreeMap<String, Vec<i32>>,
    /// Positions listed.
    listed: Vec<usize>,
    /// Positions forgotten.
    dropped: Vec<usize>,
}

impl FollowerSession {
    /// Makes this the session for `partitions`: the same set keeps the session, another starts
    /// over with a full fetch.
    pub(super) fn follow(&mut self, partitions: &[Arc<Partition>]) {
        let same = self.partitions.len() == partitions.len()
            && self
                .partitions
                .iter()
                .zip(partitions)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        if same {
            return;
        }
        let mut positions: HashMap<String, HashMap<i32, usize>> = HashMap::new();
        for (i, p) in partitions.iter().enumerate() {
            positions
                .entry(p.topic.clone())
                .or_default()
                .insert(p.index, i);
        }
        *self = Self {
            partitions: partitions.to_vec(),
            positions,
            sent: vec![None; partitions.len()],
            ..Self::default()
        };
    }

    /// Forgets the session (its epoch is unknown, or the leader ended it): the next fetch is
    /// full.
    pub(super) fn reset(&mut self) {
        self.id = 0;
        self.epoch = 0;
        self.sent.fill(None);
    }

    /// (session id, epoch) for the next request.
    pub(super) fn id_and_epoch(&self) -> (i32, i32) {
        (self.id, self.epoch)
    }

    /// The followed partitions, in order.
    pub(super) fn partitions(&self) -> &[Arc<Partition>] {
        &self.partitions
    }

    /// Where `topic`-`index` sits in [`Self::partitions`].
    pub(super) fn position(&self, topic: &str, index: i32) -> Option<usize> {
        self.positions.get(topic)?.get(&index).copied()
    }

    /// Builds the request's partitions and forgotten list (`ready` by position); everything
    /// ready when there is no session.
    pub(super) fn request(&self, ready: &[Ready]) -> Plan {
        let mut plan = Plan::default();
        let open = self.id != 0;
        for (i, (r, now)) in self.partitions.iter().zip(ready).enumerate() {
            match (now, self.sent[i]) {
                (Some((epoch, offset)), last) => {
                    if open && last == Some((*offset, *epoch)) {
                        continue;
                    }
                    plan.listed.push(i);
                    plan.by_topic.entry(r.topic.clone()).or_default().push(
                        FetchPartition::default()
                            .with_partition(r.index)
                            .with_current_leader_epoch(*epoch)
                            .with_fetch_offset(*offset)
                            .with_log_start_offset(r.log_start_offset())
                            .with_partition_max_bytes(PARTITION_FETCH_BYTES),
                    );
                }
                (None, Some(_)) if open => {
                    plan.dropped.push(i);
                    plan.forgotten
                        .entry(r.topic.clone())
                        .or_default()
                        .push(r.index);
                }
                (None, _) => {}
            }
        }
        plan
    }

    /// Records what the leader accepted: the session it gave and the positions just sent.
    pub(super) fn accepted(&mut self, session_id: i32, ready: &[Ready], plan: &Plan) {
        if session_id == 0 {
            // The leader keeps no session for us (its cache is full): fetch in full each time.
            self.reset();
            return;
        }
        if self.id == session_id {
            self.epoch = self.epoch.checked_add(1).unwrap_or(1);
        } else {
            self.id = session_id;
            self.epoch = 1;
            self.sent.fill(None);
        }
        for &i in &plan.dropped {
            self.sent[i] = None;
        }
        for &i in &plan.listed {
            self.sent[i] = ready[i].map(|(epoch, offset)| (offset, epoch));
        }
    }
}
