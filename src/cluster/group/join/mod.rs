//! Joining a group and completing the join phase of a rebalance, as Kafka's classic protocol
//! runs it: Empty → PreparingRebalance (members (re)join) → CompletingRebalance (the leader
//! computes the assignment, see [`super::sync`]). The broker never looks inside protocol
//! metadata: client-side assignors (range, roundrobin, cooperative-sticky) work because the
//! coordinator only picks a protocol every member supports and relays the metadata to the
//! leader.
//!
//! The join phase ends when every known member has rejoined — after
//! `group.initial.rebalance.delay.ms` for a group's first generation, so a burst of starting
//! consumers lands in one rebalance — or when the largest rebalance timeout has passed, which
//! drops the members that never rejoined. Every waiting JoinGroup is answered at that moment,
//! in the replies of whichever transition got there (a join, a leave, or the coordinator's
//! periodic [`Group::expire`]).

use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::classic::Group;
use super::types::{
    GroupLimits, GroupState, JoinRequest, JoinResult, Member, Reply, RequestToken, SyncResult,
};

impl Group {
    /// JoinGroup. The replies include the answer to `to` when it can be given now; otherwise
    /// the member waits and a later transition answers `to`.
    pub fn join(
        &mut self,
        req: JoinRequest,
        to: RequestToken,
        limits: &GroupLimits,
        now: Instant,
    ) -> Vec<Reply> {
        let refuse = |error, member_id: &str| {
            vec![Reply::Join {
                to,
                result: JoinResult::error(error, member_id),
            }]
        };
        if req.session_timeout < limits.min_session_timeout
            || req.session_timeout > limits.max_session_timeout
        {
            return refuse(ResponseError::InvalidSessionTimeout, &req.member_id);
        }
        if req.protocols.is_empty()
            || self
                .protocol_type
                .as_ref()
                .is_some_and(|t| *t != req.protocol_type && !self.members.is_empty())
        {
            return refuse(ResponseError::InconsistentGroupProtocol, &req.member_id);
        }
        if self.state == GroupState::Dead {
            return refuse(ResponseError::CoordinatorNotAvailable, &req.member_id);
        }
        if req.member_id.is_empty() {
            if let Some(instance) = &req.group_instance_id {
                if let Some(pos) = self
                    .members
                    .iter()
                    .position(|m| m.group_instance_id.as_ref() == Some(instance))
                {
                    return self.rejoin_static(pos, req, to, limits, now);
                }
            } else if req.require_known_member_id {
                let id = Self::new_member_id(&req.client_id);
                self.pending.insert(id.clone(), now + req.session_timeout);
                return refuse(ResponseError::MemberIdRequired, &id);
            }
            if !self.supports_common_protocol(&req.protocols) {
                return refuse(ResponseError::InconsistentGroupProtocol, "");
            }
            let id = Self::new_member_id(&req.client_id);
            return self.add_member(id, req, to, limits, now);
        }
        if self.pending.remove(&req.member_id).is_some() {
            if !self.supports_common_protocol(&req.protocols) {
                return refuse(ResponseError::InconsistentGroupProtocol, &req.member_id);
            }
            let id = req.member_id.clone();
            return self.add_member(id, req, to, limits, now);
        }
        if let Err(e) = self.check_member(&req.member_id, req.group_instance_id.as_deref()) {
            return refuse(e, &req.member_id);
        }
        self.rejoin_known(req, to, limits, now)
    }

    fn add_member(
        &mut self,
        member_id: String,
        req: JoinRequest,
        to: RequestToken,
        limits: &GroupLimits,
        now: Instant,
    ) -> Vec<Reply> {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        self.members.push(Member {
            member_id,
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout: req.session_timeout,
            rebalance_timeout: req.rebalance_timeout,
            protocols: req.protocols,
            assignment: Bytes::new(),
            last_heartbeat: now,
            awaiting_join: Some(to),
            awaiting_sync: None,
        });
        self.rebalance(limits, now)
    }

    fn rejoin_known(
        &mut self,
        req: JoinRequest,
        to: RequestToken,
        limits: &GroupLimits,
        now: Instant,
    ) -> Vec<Reply> {
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        let state = self.state;
        let member = self.member_mut(&req.member_id).expect("checked above");
        let unchanged = member.protocols == req.protocols;
        member.last_heartbeat = now;
        member.session_timeout = req.session_timeout;
        member.rebalance_timeout = req.rebalance_timeout;
        member.protocols = req.protocols;
        if matches!(state, GroupState::Stable | GroupState::CompletingRebalance)
            && unchanged
            && !(is_leader && state == GroupState::Stable)
        {
            // Nothing changed: hand back the current generation (the member missed it).
            return vec![Reply::Join {
                to,
                result: self.join_result_for(&req.member_id),
            }];
        }
        let superseded = member.await_join(to);
        let mut replies: Vec<Reply> = superseded.into_iter().collect();
        replies.extend(self.rebalance(limits, now));
        replies
    }

    /// A static member restarting: it takes over its old slot under a new member id, and
    /// requests still waiting under the old id are fenced. In a stable group with unchanged
    /// metadata no rebalance happens; it gets its old assignment.
    fn rejoin_static(
        &mut self,
        pos: usize,
        req: JoinRequest,
        to: RequestToken,
        limits: &GroupLimits,
        now: Instant,
    ) -> Vec<Reply> {
        let new_id = Self::new_member_id(&req.client_id);
        let m = &mut self.members[pos];
        let old_id = m.member_id.clone();
        let unchanged = m.protocols == req.protocols;
        let mut replies = m.fail_waiting(ResponseError::FencedInstanceId);
        m.member_id = new_id.clone();
        m.client_id = req.client_id;
        m.client_host = req.client_host;
        m.session_timeout = req.session_timeout;
        m.rebalance_timeout = req.rebalance_timeout;
        m.last_heartbeat = now;
        if self.leader.as_deref() == Some(old_id.as_str()) {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && unchanged {
            replies.push(Reply::Join {
                to,
                result: self.join_result_for(&new_id),
            });
            return replies;
        }
        let m = &mut self.members[pos];
        m.protocols = req.protocols;
        m.awaiting_join = Some(to);
        replies.extend(self.rebalance(limits, now));
        replies
    }

    /// Membership changed: start a rebalance unless one is running, and complete its join
    /// phase if this change was the last one it waited for.
    pub(super) fn rebalance(&mut self, limits: &GroupLimits, now: Instant) -> Vec<Reply> {
        let mut replies = Vec::new();
        if self.state != GroupState::PreparingRebalance {
            replies.extend(self.prepare_rebalance(now));
        }
        replies.extend(self.maybe_complete_join(limits, now));
        replies
    }

    /// Enters PreparingRebalance. A rebalance that interrupts CompletingRebalance voids the
    /// assignment being computed, so SyncGroups waiting for it are told REBALANCE_IN_PROGRESS
    /// (their members rejoin).
    fn prepare_rebalance(&mut self, now: Instant) -> Vec<Reply> {
        let mut replies = Vec::new();
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                m.assignment = Bytes::new();
                if let Some(to) = m.awaiting_sync.take() {
                    replies.push(Reply::Sync {
                        to,
                        result: SyncResult::error(ResponseError::RebalanceInProgress),
                    });
                }
            }
        }
        self.state = GroupState::PreparingRebalance;
        self.rebalance_started = Some(now);
        replies
    }

    /// When the running rebalance gives up on members that have not rejoined: its start plus
    /// the largest rebalance timeout (never sooner than the initial delay).
    fn rebalance_deadline(&self, limits: &GroupLimits) -> Option<Instant> {
        let started = self.rebalance_started?;
        let timeout = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        Some(started + timeout.max(limits.initial_rebalance_delay))
    }

    /// Completes the join phase when every member has rejoined (after the initial delay for a
    /// group's first generation), or when the rebalance timeout has passed — dropping members
    /// that never rejoined. Answers every waiting JoinGroup with the new generation.
    pub(super) fn maybe_complete_join(&mut self, limits: &GroupLimits, now: Instant) -> Vec<Reply> {
        if self.state != GroupState::PreparingRebalance {
            return Vec::new();
        }
        let started = self.rebalance_started.unwrap_or(now);
        // A group's first join completes when its initial delay is over, with whoever has
        // joined by then: a member id handed out with MEMBER_ID_REQUIRED whose client never
        // came back must not hold it (Kafka's initial delayed join does the same). Later
        // rebalances wait for every member, pending ones included, until they expire.
        let ready = if self.generation == 0 {
            now >= started + limits.initial_rebalance_delay
                && self.members.iter().all(|m| m.awaiting_join.is_some())
        } else {
            self.pending.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_some())
        };
        let timed_out = self.rebalance_deadline(limits).is_some_and(|d| now >= d);
        if !(timed_out || ready) {
            return Vec::new();
        }
        // Members that did not rejoin in time are out. They have no SyncGroup waiting (one
        // waits only in CompletingRebalance, and leaving it answers them all), so this only
        // matters if that ever changes.
        let mut replies = Vec::new();
        let (rejoined, gone): (Vec<Member>, Vec<Member>) = std::mem::take(&mut self.members)
            .into_iter()
            .partition(|m| m.awaiting_join.is_some());
        for mut m in gone {
            replies.extend(m.fail_waiting(ResponseError::UnknownMemberId));
        }
        self.members = rejoined;
        self.pending.clear();
        self.generation += 1;
        self.rebalance_started = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return replies;
        }
        self.protocol = self.select_protocol();
        let leader_still_here = self
            .leader
            .as_ref()
            .is_some_and(|l| self.member(l).is_some());
        if !leader_still_here {
            self.leader = Some(self.members[0].member_id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        for i in 0..self.members.len() {
            let result = self.join_result_for(&self.members[i].member_id);
            if let Some(to) = self.members[i].awaiting_join.take() {
                replies.push(Reply::Join { to, result });
            }
        }
        replies
    }
}

#[cfg(test)]
mod tests;
