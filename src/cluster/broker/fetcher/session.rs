//! The follower's half of an incremental fetch session with one leader (KIP-227; the leader's
//! half is [`crate::cluster::broker::fetch_session`]). The session is opened for the set of
//! partitions the fetcher follows from that leader and remembers, by position in that set, the
//! fetch position last sent for each, so a request lists only partitions whose position moved
//! and forgets those not ready to fetch. A different set starts a new session.
//!
//! It also remembers what it last saw of each partition (role, leader epoch, log end), so a
//! request costs what changed rather than a look at every followed partition: a position is
//! looked at again when this fetcher changed it (an append, a truncation) or when an applied
//! metadata image may have (a new roles generation).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::messages::fetch_request::FetchPartition;

use crate::cluster::broker::partition::{Partition, Role};

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
    /// What each position was when last looked at.
    ready: Vec<Ready>,
    /// Positions that follow the leader but must truncate to it before fetching.
    to_truncate: Vec<usize>,
    /// The broker's roles generation when every position was last looked at.
    looked_at: Option<u64>,
    /// Positions this fetcher changed since.
    touched: Vec<usize>,
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
            ready: vec![None; partitions.len()],
            ..Self::default()
        };
    }

    /// Looks again at what may have changed: every position if the roles `generation` moved
    /// since the last full look, else those [`Self::touch`]ed. A position is ready when it
    /// follows `leader` and needs no truncation first.
    pub(super) fn refresh(&mut self, generation: u64, leader: i32) {
        let look = |p: &Partition| {
            let st = p.state();
            if st.role != Role::Follower || st.leader != leader {
                return (None, false);
            }
            if st.needs_truncation {
                return (None, true);
            }
            (Some((st.leader_epoch, p.log().log_end_offset())), false)
        };
        let positions: Vec<usize> = if self.looked_at != Some(generation) {
            self.looked_at = Some(generation);
            self.touched.clear();
            self.to_truncate.clear();
            (0..self.partitions.len()).collect()
        } else {
            self.touched.sort_unstable();
            self.touched.dedup();
            std::mem::take(&mut self.touched)
        };
        for i in positions {
            let (ready, truncate) = look(&self.partitions[i]);
            self.ready[i] = ready;
            match (truncate, self.to_truncate.binary_search(&i)) {
                (true, Err(at)) => self.to_truncate.insert(at, i),
                (false, Ok(at)) => {
                    self.to_truncate.remove(at);
                }
                _ => {}
            }
        }
    }

    /// This fetcher changed position `i` (appended, truncated, or learned it must truncate):
    /// the next [`Self::refresh`] looks at it again.
    pub(super) fn touch(&mut self, i: usize) {
        self.touched.push(i);
    }

    /// What each position was at the last [`Self::refresh`].
    pub(super) fn ready(&self) -> &[Ready] {
        &self.ready
    }

    /// Positions that must truncate to the leader before they fetch, at the last refresh.
    pub(super) fn to_truncate(&self) -> &[usize] {
        &self.to_truncate
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use uuid::Uuid;

    use super::*;
    use crate::cluster::image::PartitionImage;
    use crate::protocol::records::{split_batches, tests::batch_of};

    /// Partition `index` as broker 2 holds it, following `leader` at leader epoch 4.
    fn following(index: i32, leader: i32) -> Arc<Partition> {
        let p = Arc::new(Partition::new("t", Uuid::nil(), index, Default::default()));
        let image = PartitionImage {
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader,
            leader_epoch: 4,
            partition_epoch: 7,
        };
        p.apply_metadata(2, &image, 1, Instant::now());
        p
    }

    #[test]
    fn a_refresh_looks_again_only_at_what_the_fetcher_touched_until_the_roles_move() {
        let (a, b) = (following(0, 1), following(1, 1));
        let mut s = FollowerSession::default();
        s.follow(&[a.clone(), b.clone()]);
        s.refresh(1, 1);
        assert_eq!(s.ready(), &[None, None]);
        assert_eq!(
            s.to_truncate(),
            &[0, 1],
            "a new leader epoch truncates first"
        );

        a.truncate_to_leader(2, None);
        b.truncate_to_leader(2, None);
        s.refresh(1, 1);
        assert_eq!(
            s.ready(),
            &[None, None],
            "untouched, same roles: not looked at"
        );
        s.touch(0);
        s.refresh(1, 1);
        assert_eq!(s.ready(), &[Some((4, 0)), None]);
        assert_eq!(s.to_truncate(), &[1]);
        s.refresh(2, 1);
        assert_eq!(s.ready(), &[Some((4, 0)), Some((4, 0))], "new roles: all");
        assert!(s.to_truncate().is_empty());

        let batches = split_batches(&batch_of(&["v"])).unwrap();
        assert!(a.append_from_leader(0, Some(batches), 0).unwrap());
        s.touch(0);
        s.refresh(2, 1);
        assert_eq!(s.ready()[0], Some((4, 1)), "the append moved its log end");
        // Following someone else is not ready to fetch from this leader.
        s.refresh(3, 3);
        assert_eq!(s.ready(), &[None, None]);
    }
}
