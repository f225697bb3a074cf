//! The rest of a member's life in a group: SyncGroup (the leader's assignment reaches every
//! member: CompletingRebalance → Stable), Heartbeat, OffsetCommit's generation check,
//! LeaveGroup, and the coordinator's periodic expiry of silent members. Removing a member —
//! by leaving or by missing its session timeout — starts a rebalance (see [`super::join`]),
//! whose completion may answer the members already waiting in JoinGroup.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::classic::Group;
use super::types::{GroupLimits, GroupState, Reply, RequestToken, SyncRequest, SyncResult};

/// What [`Group::expire`] did.
#[derive(Debug, Default)]
pub(crate) struct Expiry {
    /// Members removed because their session timed out.
    pub removed: Vec<String>,
    /// Answers to requests that were waiting.
    pub replies: Vec<Reply>,
}

impl Group {
    /// SyncGroup. A follower waits for the leader's assignment; the leader's SyncGroup makes
    /// the group Stable and answers every member waiting, itself included.
    pub fn sync(&mut self, req: SyncRequest, to: RequestToken, now: Instant) -> Vec<Reply> {
        let answer = |result| vec![Reply::Sync { to, result }];
        if let Err(e) = self.check_member(&req.member_id, req.group_instance_id.as_deref()) {
            return answer(SyncResult::error(e));
        }
        if req.generation != self.generation {
            return answer(SyncResult::error(ResponseError::IllegalGeneration));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                answer(SyncResult::error(ResponseError::UnknownMemberId))
            }
            GroupState::PreparingRebalance => {
                answer(SyncResult::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => answer(self.sync_result_for(&req.member_id)),
            GroupState::CompletingRebalance => {
                let member = self.member_mut(&req.member_id).expect("checked above");
                member.last_heartbeat = now;
                let mut replies: Vec<Reply> = member.await_sync(to).into_iter().collect();
                if self.leader.as_deref() != Some(req.member_id.as_str()) {
                    return replies;
                }
                let mut by_member: HashMap<String, Bytes> = req.assignments.into_iter().collect();
                for m in &mut self.members {
                    m.assignment = by_member.remove(&m.member_id).unwrap_or_default();
                }
                self.state = GroupState::Stable;
                for i in 0..self.members.len() {
                    let result = self.sync_result_for(&self.members[i].member_id);
                    if let Some(to) = self.members[i].awaiting_sync.take() {
                        replies.push(Reply::Sync { to, result });
                    }
                }
                replies
            }
        }
    }

    /// Heartbeat: a sign of life from a member of the current generation. It never answers
    /// anyone else — it only tells this member whether a rebalance is under way.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if matches!(self.state, GroupState::Empty | GroupState::Dead) {
            return Err(ResponseError::UnknownMemberId);
        }
        self.check_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        self.member_mut(member_id)
            .expect("checked above")
            .last_heartbeat = now;
        if self.state == GroupState::PreparingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// OffsetCommit validation: a member of the current generation, or anyone while the group
    /// has no members (a consumer that assigns partitions itself). A valid commit counts as a
    /// heartbeat.
    pub(crate) fn check_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if generation < 0 && member_id.is_empty() && instance_id.is_none() {
            // An admin client or a consumer that assigns partitions itself: it may commit
            // only while nobody holds the group, and is told it is not a member, as Kafka does.
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(ResponseError::UnknownMemberId)
            };
        }
        self.check_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        self.member_mut(member_id)
            .expect("checked above")
            .last_heartbeat = now;
        Ok(())
    }

    /// LeaveGroup for one member (found by instance id for static members). The member's
    /// waiting requests are answered UNKNOWN_MEMBER_ID and the rest rebalance at once.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        limits: &GroupLimits,
        now: Instant,
    ) -> (Result<(), ResponseError>, Vec<Reply>) {
        let found = match instance_id {
            Some(instance) => self
                .members
                .iter()
                .position(|m| m.group_instance_id.as_deref() == Some(instance))
                .ok_or(ResponseError::UnknownMemberId)
                .and_then(|pos| {
                    if !member_id.is_empty() && self.members[pos].member_id != member_id {
                        Err(ResponseError::FencedInstanceId)
                    } else {
                        Ok(pos)
                    }
                }),
            None => self
                .members
                .iter()
                .position(|m| m.member_id == member_id)
                .ok_or(ResponseError::UnknownMemberId),
        };
        match found {
            Ok(pos) => (Ok(()), self.remove_member(pos, limits, now)),
            Err(e) => (Err(e), Vec::new()),
        }
    }

    fn remove_member(&mut self, pos: usize, limits: &GroupLimits, now: Instant) -> Vec<Reply> {
        let mut gone = self.members.remove(pos);
        let mut replies = gone.fail_waiting(ResponseError::UnknownMemberId);
        replies.extend(self.rebalance(limits, now));
        replies
    }

    /// The coordinator's periodic pass: removes members whose session expired (a member
    /// waiting in JoinGroup or SyncGroup is alive by definition), forgets member ids handed out
    /// with MEMBER_ID_REQUIRED and never claimed, and completes a join phase whose initial
    /// delay or rebalance timeout has passed.
    pub(crate) fn expire(&mut self, limits: &GroupLimits, now: Instant) -> Expiry {
        let mut expiry = Expiry::default();
        while let Some(pos) = self.members.iter().position(|m| {
            m.awaiting_join.is_none()
                && m.awaiting_sync.is_none()
                && now.saturating_duration_since(m.last_heartbeat) > m.session_timeout
        }) {
            expiry.removed.push(self.members[pos].member_id.clone());
            expiry.replies.extend(self.remove_member(pos, limits, now));
        }
        self.pending.retain(|_, expires| now < *expires);
        expiry.replies.extend(self.maybe_complete_join(limits, now));
        expiry
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{
        join_new, join_reply, request, sync_reply, sync_request, token, LIMITS,
    };
    use super::*;
    use std::time::Duration;

    /// A stable group of two members, `a` leading, at generation 2.
    fn stable_pair(now: Instant) -> (Group, String, String) {
        let mut g = Group::new("g");
        let (a, _, _) = join_new(&mut g, "a", now);
        let (b, _, _) = join_new(&mut g, "b", now);
        let _ = g.join(request(&a, "a"), token(), &LIMITS, now);
        let _ = g.sync(sync_request(&b, 2, vec![]), token(), now);
        let _ = g.sync(sync_request(&a, 2, vec![]), token(), now);
        assert_eq!((g.state, g.generation), (GroupState::Stable, 2));
        (g, a, b)
    }

    #[test]
    fn a_silent_member_is_expired_and_a_leaving_one_goes_at_once() {
        let t0 = Instant::now();
        let (mut g, a, b) = stable_pair(t0);
        let later = t0 + Duration::from_millis(3100);
        g.heartbeat(&a, None, g.generation, later - Duration::from_millis(100))
            .unwrap();
        let expiry = g.expire(&LIMITS, later);
        assert_eq!(expiry.removed, vec![b.clone()]);
        assert!(expiry.replies.is_empty(), "nobody was waiting");
        assert_eq!(g.state, GroupState::PreparingRebalance);
        let gen = g.generation;
        let (left, replies) = g.leave(&a, None, &LIMITS, later);
        assert_eq!(left, Ok(()));
        assert!(replies.is_empty());
        assert_eq!((g.state, g.generation), (GroupState::Empty, gen + 1));
        assert_eq!(
            g.leave(&b, None, &LIMITS, later).0,
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn a_rebalance_timeout_drops_members_that_did_not_rejoin_and_answers_the_others() {
        let t0 = Instant::now();
        let (mut g, a, b) = stable_pair(t0);
        let (c, join_c, _) = join_new(&mut g, "c", t0);
        let join_a = token();
        assert!(g.join(request(&a, "a"), join_a, &LIMITS, t0).is_empty());
        // b stays alive (its heartbeats are answered REBALANCE_IN_PROGRESS) but never rejoins.
        for s in [2, 4] {
            let at = t0 + Duration::from_secs(s);
            assert_eq!(
                g.heartbeat(&b, None, 2, at),
                Err(ResponseError::RebalanceInProgress)
            );
            let expiry = g.expire(&LIMITS, at);
            assert!(expiry.removed.is_empty() && expiry.replies.is_empty());
        }
        let deadline = t0 + Duration::from_secs(5);
        let expiry = g.expire(&LIMITS, deadline);
        assert!(expiry.removed.is_empty(), "b's session is still alive");
        let leader = join_reply(&expiry.replies, join_a).expect("a is answered");
        let follower = join_reply(&expiry.replies, join_c).expect("c is answered");
        assert_eq!((leader.generation, follower.generation), (3, 3));
        let members: Vec<&str> = leader
            .members
            .iter()
            .map(|(id, _, _)| id.as_str())
            .collect();
        assert_eq!(members, vec![a.as_str(), c.as_str()]);
        assert_eq!(
            g.heartbeat(&b, None, 3, deadline),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn a_leave_completes_the_join_for_the_members_waiting() {
        let now = Instant::now();
        let (mut g, a, b) = stable_pair(now);
        let (_, join_c, _) = join_new(&mut g, "c", now);
        let join_a = token();
        assert!(g.join(request(&a, "a"), join_a, &LIMITS, now).is_empty());
        let (left, replies) = g.leave(&b, None, &LIMITS, now);
        assert_eq!(left, Ok(()));
        assert_eq!(replies.len(), 2);
        assert_eq!(join_reply(&replies, join_a).unwrap().generation, 3);
        assert_eq!(join_reply(&replies, join_c).unwrap().generation, 3);
        assert_eq!(g.state, GroupState::CompletingRebalance);
    }

    #[test]
    fn a_member_waiting_in_a_request_is_answered_when_it_is_removed() {
        let now = Instant::now();
        let (mut g, a, b) = stable_pair(now);
        let (_, _, _) = join_new(&mut g, "c", now);
        let join_b = token();
        assert!(g.join(request(&b, "b"), join_b, &LIMITS, now).is_empty());
        let (_, replies) = g.leave(&b, None, &LIMITS, now);
        assert_eq!(
            join_reply(&replies, join_b).unwrap().error,
            Some(ResponseError::UnknownMemberId)
        );
        assert!(g.member(&a).is_some());
    }

    #[test]
    fn a_join_during_completing_rebalance_voids_the_assignment_being_computed() {
        let now = Instant::now();
        let mut g = Group::new("g");
        let (a, _, _) = join_new(&mut g, "a", now);
        let (b, _, _) = join_new(&mut g, "b", now);
        let _ = g.join(request(&a, "a"), token(), &LIMITS, now);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let sync_b = token();
        assert!(g.sync(sync_request(&b, 2, vec![]), sync_b, now).is_empty());
        let (_, _, replies) = join_new(&mut g, "c", now);
        assert_eq!(
            sync_reply(&replies, sync_b).unwrap().error,
            Some(ResponseError::RebalanceInProgress)
        );
        assert_eq!(g.state, GroupState::PreparingRebalance);
    }

    #[test]
    fn losing_the_coordinator_fails_every_waiting_request() {
        let now = Instant::now();
        let (mut g, a, _) = stable_pair(now);
        let (_, join_c, _) = join_new(&mut g, "c", now);
        let join_a = token();
        let _ = g.join(request(&a, "a"), join_a, &LIMITS, now);
        let replies = g.fail_waiters(ResponseError::NotCoordinator);
        for to in [join_a, join_c] {
            assert_eq!(
                join_reply(&replies, to).unwrap().error,
                Some(ResponseError::NotCoordinator)
            );
        }
        assert!(g.fail_waiters(ResponseError::NotCoordinator).is_empty());
    }

    #[test]
    fn commits_need_the_current_generation_outside_completing_rebalance() {
        let now = Instant::now();
        let (mut g, a, _) = stable_pair(now);
        assert_eq!(g.check_commit(&a, None, 2, now), Ok(()));
        assert_eq!(
            g.check_commit(&a, None, 1, now),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            g.check_commit("", None, -1, now),
            Err(ResponseError::UnknownMemberId),
            "a group with members takes no anonymous commits"
        );
        assert_eq!(Group::new("free").check_commit("", None, -1, now), Ok(()));
    }
}
