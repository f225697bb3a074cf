//! The state of one partition on one broker — its role (leader, follower, offline) and, as
//! leader, what it knows of each follower — and the rules on it that take no lock and no
//! clock: the high watermark, which followers lag, which may rejoin. [`super::Partition`]
//! applies them under its lock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What this broker does for the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Takes writes, serves reads, tracks followers.
    Leader,
    /// Copies the leader's log.
    Follower,
    /// No live leader to follow.
    Offline,
}

/// A follower as its leader sees it (Kafka's `Replica` state on the leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end, as its last fetch offset said. -1 before its first fetch.
    pub log_end_offset: i64,
    /// Last time the follower was known to have everything the leader had.
    pub last_caught_up: Instant,
    /// The leader's log end when the follower last fetched.
    pub leader_end_at_last_fetch: i64,
    /// When the follower last fetched.
    pub last_fetch: Instant,
}

impl FollowerProgress {
    fn new(now: Instant) -> Self {
        Self {
            log_end_offset: -1,
            last_caught_up: now,
            leader_end_at_last_fetch: -1,
            last_fetch: now,
        }
    }

    /// Kafka's rule: a fetch at or past the leader's end means caught up now; a fetch at or
    /// past where the leader was at the previous fetch means caught up as of that fetch.
    pub(crate) fn record_fetch(&mut self, fetch_offset: i64, leader_end: i64, now: Instant) {
        if fetch_offset >= leader_end {
            self.last_caught_up = now;
        } else if fetch_offset >= self.leader_end_at_last_fetch
            && self.leader_end_at_last_fetch >= 0
        {
            self.last_caught_up = self.last_caught_up.max(self.last_fetch);
        }
        self.log_end_offset = fetch_offset;
        self.leader_end_at_last_fetch = leader_end;
        self.last_fetch = now;
    }
}

/// The mutable part of a partition, guarded by [`super::Partition`]'s state lock.
#[derive(Debug, Clone)]
pub struct PartitionState {
    /// Current role.
    pub role: Role,
    /// The leader this replica follows (or itself).
    pub leader: i32,
    /// Leader epoch of the current role.
    pub leader_epoch: i32,
    /// Partition epoch known from the controller.
    pub partition_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// The ISR as committed by the controller.
    pub isr: Vec<i32>,
    /// An ISR change sent to the controller and not yet answered.
    pub pending_isr: Option<Vec<i32>>,
    /// Followers' progress (leader only).
    pub followers: BTreeMap<i32, FollowerProgress>,
    /// The topic's min.insync.replicas.
    pub min_insync_replicas: i32,
    /// A follower must truncate to the leader before fetching (set at every new leader epoch).
    pub needs_truncation: bool,
}

impl PartitionState {
    /// ISR used for the high watermark: while a change is in flight, the larger of old and
    /// new, so an acknowledgement never depends on a membership the controller may refuse.
    pub(crate) fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.isr.clone();
        if let Some(pending) = &self.pending_isr {
            for r in pending {
                if !isr.contains(r) {
                    isr.push(*r);
                }
            }
        }
        isr
    }

    /// High watermark the leader may advertise: the smallest log end over the maximal ISR.
    pub fn high_watermark(&self, me: i32, leader_end: i64) -> i64 {
        self.maximal_isr()
            .iter()
            .map(|r| {
                if *r == me {
                    leader_end
                } else {
                    self.followers.get(r).map_or(0, |f| f.log_end_offset.max(0))
                }
            })
            .min()
            .unwrap_or(leader_end)
    }

    /// Followers in the ISR that have not been caught up for longer than `lag`. As in Kafka
    /// (`ReplicaState.isCaughtUp`), a follower whose log end is the leader's (`leader_end`) is
    /// caught up however long ago it last fetched: on a partition taking no writes a silent
    /// follower stays in the ISR, and a dead broker leaves it when the controller fences it.
    pub(crate) fn lagging_followers(
        &self,
        me: i32,
        leader_end: i64,
        now: Instant,
        lag: Duration,
    ) -> Vec<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|r| *r != me)
            .filter(|r| {
                self.followers.get(r).is_some_and(|f| {
                    f.log_end_offset != leader_end
                        && now.saturating_duration_since(f.last_caught_up) > lag
                })
            })
            .collect()
    }

    /// True if `follower` may rejoin the ISR: it has reached the high watermark and holds
    /// everything written since this leader's epoch began.
    pub(crate) fn may_rejoin(&self, follower: i32, hw: i64, epoch_start: i64) -> bool {
        !self.isr.contains(&follower)
            && self.replicas.contains(&follower)
            && self
                .followers
                .get(&follower)
                .is_some_and(|f| f.log_end_offset >= hw && f.log_end_offset >= epoch_start)
    }

    /// Becomes leader at `leader_epoch` with the controller's ISR; followers start "caught up
    /// now", as Kafka gives them a full lag period after an election.
    pub(crate) fn become_leader(
        &mut self,
        me: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: &[i32],
        now: Instant,
    ) {
        self.role = Role::Leader;
        self.leader = me;
        self.leader_epoch = leader_epoch;
        self.partition_epoch = partition_epoch;
        self.isr = isr.to_vec();
        self.pending_isr = None;
        self.needs_truncation = false;
        self.followers = self
            .replicas
            .iter()
            .copied()
            .filter(|r| *r != me)
            .map(|r| (r, FollowerProgress::new(now)))
            .collect();
    }
}

impl Default for PartitionState {
    fn default() -> Self {
        Self {
            role: Role::Offline,
            leader: -1,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            pending_isr: None,
            followers: BTreeMap::new(),
            min_insync_replicas: 1,
            needs_truncation: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader_state(now: Instant) -> PartitionState {
        let mut s = PartitionState {
            replicas: vec![1, 2, 3],
            ..PartitionState::default()
        };
        s.become_leader(1, 0, 0, &[1, 2, 3], now);
        s
    }

    #[test]
    fn high_watermark_is_the_slowest_in_sync_replica() {
        let now = Instant::now();
        let mut s = leader_state(now);
        s.followers.get_mut(&2).unwrap().record_fetch(5, 10, now);
        s.followers.get_mut(&3).unwrap().record_fetch(8, 10, now);
        assert_eq!(s.high_watermark(1, 10), 5);
        s.isr = vec![1, 3];
        assert_eq!(s.high_watermark(1, 10), 8);
        s.pending_isr = Some(vec![1, 3, 2]);
        assert_eq!(
            s.high_watermark(1, 10),
            5,
            "a pending expansion counts at once"
        );
    }

    #[test]
    fn a_follower_that_stops_fetching_falls_out_after_the_lag_time() {
        let t0 = Instant::now();
        let lag = Duration::from_millis(1500);
        let mut s = leader_state(t0);
        let t1 = t0 + Duration::from_millis(1000);
        s.followers.get_mut(&2).unwrap().record_fetch(0, 0, t1);
        let t2 = t0 + Duration::from_millis(1600);
        // The leader's log ends at 5: broker 3 never fetched, broker 2 caught up a while ago.
        assert_eq!(s.lagging_followers(1, 5, t2, lag), vec![3]);
        // A follower that keeps fetching but never reaches the end also falls out.
        s.followers.get_mut(&2).unwrap().record_fetch(0, 100, t2);
        let t3 = t1 + lag + Duration::from_millis(1);
        s.followers.get_mut(&2).unwrap().record_fetch(50, 200, t3);
        assert!(s.lagging_followers(1, 200, t3, lag).contains(&2));
    }

    #[test]
    fn a_silent_follower_with_everything_stays_in_the_isr() {
        let t0 = Instant::now();
        let lag = Duration::from_millis(1500);
        let mut s = leader_state(t0);
        s.followers.get_mut(&2).unwrap().record_fetch(10, 10, t0);
        s.followers.get_mut(&3).unwrap().record_fetch(10, 10, t0);
        let later = t0 + 10 * lag;
        assert!(
            s.lagging_followers(1, 10, later, lag).is_empty(),
            "no writes since: both still have the leader's whole log"
        );
        // One write later, the silent ones are judged by the time they last caught up.
        assert_eq!(s.lagging_followers(1, 11, later, lag), vec![2, 3]);
    }

    #[test]
    fn a_caught_up_follower_may_rejoin() {
        let now = Instant::now();
        let mut s = leader_state(now);
        s.isr = vec![1, 2];
        s.followers.get_mut(&3).unwrap().record_fetch(7, 10, now);
        assert!(!s.may_rejoin(3, 8, 0));
        s.followers.get_mut(&3).unwrap().record_fetch(10, 10, now);
        assert!(s.may_rejoin(3, 8, 0));
        assert!(!s.may_rejoin(3, 8, 11), "it must hold this epoch's writes");
    }
}
