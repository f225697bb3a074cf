//! One consumer group and the classic rebalance protocol as Kafka's coordinator runs it:
//! Empty → PreparingRebalance (members join) → CompletingRebalance (the leader computes the
//! assignment) → Stable, and back to PreparingRebalance whenever membership changes. The broker
//! never looks inside protocol metadata or assignments: client-side assignors (range,
//! roundrobin, cooperative-sticky) work because they are only relayed.
//!
//! Every transition takes `now`; delayed responses (JoinGroup and SyncGroup wait for the rest
//! of the group) are handed back through oneshot channels stored on the member.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// Kafka's group states, named as DescribeGroups reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Everyone has an assignment.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Coordinator limits (Kafka's `group.*` settings).
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
}

/// What a member answered JoinGroup with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    /// Error, if any.
    pub error: Option<ResponseError>,
    /// The new generation.
    pub generation: i32,
    /// Protocol type (e.g. "consumer").
    pub protocol_type: Option<String>,
    /// The chosen assignor.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The member's own id.
    pub member_id: String,
    /// Members with their metadata (the leader only).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    fn error(error: ResponseError, member_id: &str) -> Self {
        Self {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// What a member got from SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    /// Error, if any.
    pub error: Option<ResponseError>,
    /// The member's assignment.
    pub assignment: Bytes,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen assignor.
    pub protocol: Option<String>,
}

impl SyncResult {
    fn error(error: ResponseError) -> Self {
        Self {
            error: Some(error),
            assignment: Bytes::new(),
            protocol_type: None,
            protocol: None,
        }
    }
}

/// A JoinGroup request, decoded.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Member id ("" for a new member).
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id from the request header.
    pub client_id: String,
    /// Client address.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout (the client's max.poll.interval.ms).
    pub rebalance_timeout: Duration,
    /// Protocol type.
    pub protocol_type: String,
    /// Supported assignors with their metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// True for JoinGroup v4+, where a new member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

/// How a JoinGroup proceeds.
#[derive(Debug)]
pub enum JoinStep {
    /// Answer now.
    Respond(JoinResult),
    /// Answer when the rebalance completes.
    Wait(oneshot::Receiver<JoinResult>),
}

/// How a SyncGroup proceeds.
#[derive(Debug)]
pub enum SyncStep {
    /// Answer now.
    Respond(SyncResult),
    /// Answer when the leader's assignment arrives.
    Wait(oneshot::Receiver<SyncResult>),
}

/// A group member.
#[derive(Debug)]
pub struct Member {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Supported assignors with metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// Current assignment bytes.
    pub assignment: Bytes,
    /// Last sign of life.
    pub last_heartbeat: Instant,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// Metadata for the group's chosen protocol.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    /// The next offset to read.
    pub offset: i64,
    /// Leader epoch of the last record consumed, or -1.
    pub leader_epoch: i32,
    /// Client metadata string.
    pub metadata: Option<String>,
}

/// A consumer group.
#[derive(Debug)]
pub struct Group {
    /// Group id.
    pub id: String,
    /// State.
    pub state: GroupState,
    /// Generation, bumped at every completed rebalance.
    pub generation: i32,
    /// Protocol type of the members.
    pub protocol_type: Option<String>,
    /// Chosen assignor.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// Members in join order.
    pub members: Vec<Member>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet rejoined.
    pending: HashMap<String, Instant>,
    rebalance_started: Option<Instant>,
    /// The running rebalance started from Empty, so it waits out the initial delay.
    initial_rebalance: bool,
}

impl Group {
    /// An empty group.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            offsets: BTreeMap::new(),
            pending: HashMap::new(),
            rebalance_started: None,
            initial_rebalance: false,
        }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.member_id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    fn new_member_id(client_id: &str) -> String {
        format!("{client_id}-{}", uuid::Uuid::new_v4())
    }

    /// Checks a request's member id against static membership: an instance id now held by a
    /// different member id means this member was replaced.
    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = instance_id {
            if let Some(holder) = self
                .members
                .iter()
                .find(|m| m.group_instance_id.as_deref() == Some(instance))
            {
                if holder.member_id != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
            }
        }
        if self.member(member_id).is_none() {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// The protocols every member supports, ranked by member votes (Kafka's selection).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for m in &self.members {
            if let Some((vote, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(&p)) {
                *votes.entry(vote).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|c| {
                (
                    votes.get(*c).copied().unwrap_or(0),
                    std::cmp::Reverse(candidates.iter().position(|x| x == *c)),
                )
            })
            .map(|c| (*c).clone())
    }

    fn supports_common_protocol(&self, protocols: &[(String, Bytes)]) -> bool {
        self.members.is_empty()
            || protocols.iter().any(|(p, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(q, _)| q == p))
            })
    }

    /// JoinGroup.
    pub fn join(&mut self, req: JoinRequest, limits: &GroupLimits, now: Instant) -> JoinStep {
        if req.session_timeout < limits.min_session_timeout
            || req.session_timeout > limits.max_session_timeout
        {
            return JoinStep::Respond(JoinResult::error(
                ResponseError::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        if req.protocols.is_empty()
            || self
                .protocol_type
                .as_ref()
                .is_some_and(|t| *t != req.protocol_type && !self.members.is_empty())
        {
            return JoinStep::Respond(JoinResult::error(
                ResponseError::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        if self.state == GroupState::Dead {
            return JoinStep::Respond(JoinResult::error(
                ResponseError::CoordinatorNotAvailable,
                &req.member_id,
            ));
        }
        if req.member_id.is_empty() {
            if let Some(instance) = &req.group_instance_id {
                if let Some(pos) = self
                    .members
                    .iter()
                    .position(|m| m.group_instance_id.as_ref() == Some(instance))
                {
                    return self.rejoin_static(pos, req, limits, now);
                }
            } else if req.require_known_member_id {
                let id = Self::new_member_id(&req.client_id);
                self.pending.insert(id.clone(), now);
                return JoinStep::Respond(JoinResult::error(ResponseError::MemberIdRequired, &id));
            }
            if !self.supports_common_protocol(&req.protocols) {
                return JoinStep::Respond(JoinResult::error(
                    ResponseError::InconsistentGroupProtocol,
                    "",
                ));
            }
            let id = Self::new_member_id(&req.client_id);
            return self.add_member(id, req, limits, now);
        }
        if self.pending.remove(&req.member_id).is_some() {
            if !self.supports_common_protocol(&req.protocols) {
                return JoinStep::Respond(JoinResult::error(
                    ResponseError::InconsistentGroupProtocol,
                    &req.member_id,
                ));
            }
            let id = req.member_id.clone();
            return self.add_member(id, req, limits, now);
        }
        if let Err(e) = self.check_member(&req.member_id, req.group_instance_id.as_deref()) {
            return JoinStep::Respond(JoinResult::error(e, &req.member_id));
        }
        self.rejoin_known(req, limits, now)
    }

    fn add_member(
        &mut self,
        member_id: String,
        req: JoinRequest,
        limits: &GroupLimits,
        now: Instant,
    ) -> JoinStep {
        let (tx, rx) = oneshot::channel();
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
            join_waiter: Some(tx),
            sync_waiter: None,
        });
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(limits, now);
        JoinStep::Wait(rx)
    }

    fn rejoin_known(&mut self, req: JoinRequest, limits: &GroupLimits, now: Instant) -> JoinStep {
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
            return JoinStep::Respond(self.join_result_for(&req.member_id));
        }
        let (tx, rx) = oneshot::channel();
        self.member_mut(&req.member_id)
            .expect("checked above")
            .join_waiter = Some(tx);
        if state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(limits, now);
        JoinStep::Wait(rx)
    }

    /// A static member restarting: it takes over its old slot under a new member id. In a
    /// stable group with unchanged metadata no rebalance happens; it gets its old assignment.
    fn rejoin_static(
        &mut self,
        pos: usize,
        req: JoinRequest,
        limits: &GroupLimits,
        now: Instant,
    ) -> JoinStep {
        let new_id = Self::new_member_id(&req.client_id);
        let old_id = self.members[pos].member_id.clone();
        let unchanged = self.members[pos].protocols == req.protocols;
        {
            let m = &mut self.members[pos];
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult::error(ResponseError::FencedInstanceId, &old_id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult::error(ResponseError::FencedInstanceId));
            }
            m.member_id = new_id.clone();
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
            m.session_timeout = req.session_timeout;
            m.rebalance_timeout = req.rebalance_timeout;
            m.last_heartbeat = now;
        }
        if self.leader.as_deref() == Some(old_id.as_str()) {
            self.leader = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && unchanged {
            return JoinStep::Respond(self.join_result_for(&new_id));
        }
        self.members[pos].protocols = req.protocols;
        let (tx, rx) = oneshot::channel();
        self.members[pos].join_waiter = Some(tx);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(limits, now);
        JoinStep::Wait(rx)
    }

    fn join_result_for(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinResult {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if is_leader {
                self.members
                    .iter()
                    .map(|m| {
                        (
                            m.member_id.clone(),
                            m.group_instance_id.clone(),
                            m.metadata(&protocol),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            for m in &mut self.members {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncResult::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        self.initial_rebalance = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        self.rebalance_started = Some(now);
    }

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
    /// brand-new generation), or when the rebalance timeout has passed — dropping members that
    /// never rejoined.
    fn maybe_complete_join(&mut self, limits: &GroupLimits, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined =
            self.pending.is_empty() && self.members.iter().all(|m| m.join_waiter.is_some());
        let started = self.rebalance_started.unwrap_or(now);
        let initial_delay_over =
            self.generation > 0 || now >= started + limits.initial_rebalance_delay;
        let timed_out = self.rebalance_deadline(limits).is_some_and(|d| now >= d);
        if !(timed_out || all_joined && initial_delay_over) {
            return;
        }
        self.members.retain(|m| m.join_waiter.is_some());
        self.pending.clear();
        self.generation += 1;
        self.rebalance_started = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol = None;
            self.leader = None;
            return;
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
        let ids: Vec<String> = self.members.iter().map(|m| m.member_id.clone()).collect();
        for id in ids {
            let result = self.join_result_for(&id);
            if let Some(w) = self.member_mut(&id).and_then(|m| m.join_waiter.take()) {
                let _ = w.send(result);
            }
        }
    }

    /// SyncGroup. Returns the step and whether the group became Stable (to be persisted).
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> (SyncStep, bool) {
        if let Err(e) = self.check_member(member_id, instance_id) {
            return (SyncStep::Respond(SyncResult::error(e)), false);
        }
        if generation != self.generation {
            return (
                SyncStep::Respond(SyncResult::error(ResponseError::IllegalGeneration)),
                false,
            );
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => (
                SyncStep::Respond(SyncResult::error(ResponseError::UnknownMemberId)),
                false,
            ),
            GroupState::PreparingRebalance => (
                SyncStep::Respond(SyncResult::error(ResponseError::RebalanceInProgress)),
                false,
            ),
            GroupState::Stable => (SyncStep::Respond(self.sync_result_for(member_id)), false),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let member = self.member_mut(member_id).expect("checked above");
                member.sync_waiter = Some(tx);
                member.last_heartbeat = now;
                if self.leader.as_deref() != Some(member_id) {
                    return (SyncStep::Wait(rx), false);
                }
                let mut by_member: HashMap<String, Bytes> = assignments.into_iter().collect();
                for m in &mut self.members {
                    m.assignment = by_member.remove(&m.member_id).unwrap_or_default();
                }
                self.state = GroupState::Stable;
                let ids: Vec<String> = self.members.iter().map(|m| m.member_id.clone()).collect();
                for id in ids {
                    let result = self.sync_result_for(&id);
                    if let Some(w) = self.member_mut(&id).and_then(|m| m.sync_waiter.take()) {
                        let _ = w.send(result);
                    }
                }
                (SyncStep::Wait(rx), true)
            }
        }
    }

    fn sync_result_for(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: None,
            assignment: self
                .member(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
        }
    }

    /// Heartbeat.
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

    /// LeaveGroup for one member (found by instance id for static members).
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        limits: &GroupLimits,
        now: Instant,
    ) -> Result<(), ResponseError> {
        let pos = match instance_id {
            Some(instance) => {
                let pos = self
                    .members
                    .iter()
                    .position(|m| m.group_instance_id.as_deref() == Some(instance))
                    .ok_or(ResponseError::UnknownMemberId)?;
                if !member_id.is_empty() && self.members[pos].member_id != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
                pos
            }
            None => self
                .members
                .iter()
                .position(|m| m.member_id == member_id)
                .ok_or(ResponseError::UnknownMemberId)?,
        };
        self.remove_member(pos, limits, now);
        Ok(())
    }

    fn remove_member(&mut self, pos: usize, limits: &GroupLimits, now: Instant) {
        let mut gone = self.members.remove(pos);
        if let Some(w) = gone.join_waiter.take() {
            let _ = w.send(JoinResult::error(
                ResponseError::UnknownMemberId,
                &gone.member_id,
            ));
        }
        if let Some(w) = gone.sync_waiter.take() {
            let _ = w.send(SyncResult::error(ResponseError::UnknownMemberId));
        }
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(limits, now);
    }

    /// Removes members whose session expired, forgets unclaimed member ids, and finishes a
    /// rebalance whose timeout passed. Returns the ids of removed members.
    pub fn expire(&mut self, limits: &GroupLimits, now: Instant) -> Vec<String> {
        let mut removed = Vec::new();
        while let Some(pos) = self.members.iter().position(|m| {
            m.join_waiter.is_none()
                && m.sync_waiter.is_none()
                && now.saturating_duration_since(m.last_heartbeat) > m.session_timeout
        }) {
            removed.push(self.members[pos].member_id.clone());
            self.remove_member(pos, limits, now);
        }
        let before = self.pending.len();
        self.pending.retain(|_, issued| {
            now.saturating_duration_since(*issued)
                <= limits.max_session_timeout.min(Duration::from_secs(60))
        });
        if self.pending.len() != before && self.state == GroupState::PreparingRebalance {
            self.maybe_complete_join(limits, now);
        }
        self.maybe_complete_join(limits, now);
        removed
    }

    /// Fails every waiting request (the coordinator moved away or the group was deleted).
    pub fn fail_waiters(&mut self, error: ResponseError) {
        for m in &mut self.members {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinResult::error(error, &m.member_id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncResult::error(error));
            }
        }
    }

    /// OffsetCommit validation: a member of the current generation, or anyone while the group
    /// has no members (a consumer that assigns partitions itself).
    pub fn check_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> Result<(), ResponseError> {
        if generation < 0 && member_id.is_empty() {
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(ResponseError::IllegalGeneration)
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

    /// A persisted view of the group (its metadata record).
    pub fn to_record(&self) -> GroupRecord {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupRecord {
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout.as_millis() as u64,
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as u64,
                    protocol: protocol.clone(),
                    metadata: m.metadata(&protocol).to_vec(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    /// Restores a group from its metadata record on a new coordinator: members keep their ids
    /// and assignments and get a fresh session from `now`.
    pub fn restore(&mut self, record: GroupRecord, now: Instant) {
        self.generation = record.generation;
        self.protocol_type = record.protocol_type;
        self.protocol = record.protocol;
        self.leader = record.leader;
        self.members = record
            .members
            .into_iter()
            .map(|m| Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                session_timeout: Duration::from_millis(m.session_timeout_ms),
                rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms),
                protocols: vec![(m.protocol, Bytes::from(m.metadata))],
                assignment: Bytes::from(m.assignment),
                last_heartbeat: now,
                join_waiter: None,
                sync_waiter: None,
            })
            .collect();
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
    }
}

/// The persisted form of a group's membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Generation.
    pub generation: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen assignor.
    pub protocol: Option<String>,
    /// Leader member id.
    pub leader: Option<String>,
    /// Members.
    pub members: Vec<MemberRecord>,
}

/// The persisted form of one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: u64,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: u64,
    /// Chosen protocol.
    pub protocol: String,
    /// Metadata for it.
    pub metadata: Vec<u8>,
    /// Assignment.
    pub assignment: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: GroupLimits = GroupLimits {
        min_session_timeout: Duration::from_millis(500),
        max_session_timeout: Duration::from_secs(60),
        initial_rebalance_delay: Duration::ZERO,
    };

    fn request(member_id: &str, client: &str) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: client.into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(3),
            rebalance_timeout: Duration::from_secs(5),
            protocol_type: "consumer".into(),
            protocols: vec![
                ("range".into(), Bytes::from_static(b"m")),
                ("roundrobin".into(), Bytes::new()),
            ],
            require_known_member_id: true,
        }
    }

    fn waiting(step: JoinStep) -> oneshot::Receiver<JoinResult> {
        match step {
            JoinStep::Wait(rx) => rx,
            JoinStep::Respond(r) => panic!("expected to wait, got {r:?}"),
        }
    }

    /// Joins a new member through the MEMBER_ID_REQUIRED round trip.
    fn join_new(
        g: &mut Group,
        client: &str,
        now: Instant,
    ) -> (String, oneshot::Receiver<JoinResult>) {
        let JoinStep::Respond(first) = g.join(request("", client), &LIMITS, now) else {
            panic!("member id required")
        };
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        let rx = waiting(g.join(request(&first.member_id, client), &LIMITS, now));
        (first.member_id, rx)
    }

    #[test]
    fn a_first_member_gets_a_generation_and_leads() {
        let now = Instant::now();
        let mut g = Group::new("g");
        let (id, mut rx) = join_new(&mut g, "c1", now);
        let joined = rx
            .try_recv()
            .expect("the only member completes the join at once");
        assert_eq!(
            (
                joined.generation,
                joined.leader.as_str(),
                joined.members.len()
            ),
            (1, id.as_str(), 1)
        );
        assert_eq!(joined.protocol.as_deref(), Some("range"));
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (SyncStep::Wait(mut sync), stable) = g.sync(
            &id,
            None,
            1,
            vec![(id.clone(), Bytes::from_static(b"a1"))],
            now,
        ) else {
            panic!()
        };
        assert!(stable);
        assert_eq!(
            sync.try_recv().unwrap().assignment,
            Bytes::from_static(b"a1")
        );
        assert_eq!(g.state, GroupState::Stable);
    }

    #[test]
    fn a_second_member_triggers_a_rebalance_that_waits_for_everyone() {
        let now = Instant::now();
        let mut g = Group::new("g");
        let (a, mut rx_a) = join_new(&mut g, "a", now);
        rx_a.try_recv().unwrap();
        g.sync(&a, None, 1, vec![], now);
        let (b, mut rx_b) = join_new(&mut g, "b", now);
        assert!(rx_b.try_recv().is_err(), "b waits for a to rejoin");
        assert_eq!(
            g.heartbeat(&a, None, 1, now),
            Err(ResponseError::RebalanceInProgress)
        );
        let mut rx_a = waiting(g.join(request(&a, "a"), &LIMITS, now));
        let (ja, jb) = (rx_a.try_recv().unwrap(), rx_b.try_recv().unwrap());
        assert_eq!((ja.generation, jb.generation), (2, 2));
        assert_eq!(ja.members.len(), 2, "the leader sees every member");
        assert!(jb.members.is_empty());
        assert_eq!(ja.leader, a, "the leader stays");
        let (SyncStep::Wait(mut sb), _) = g.sync(&b, None, 2, vec![], now) else {
            panic!()
        };
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        g.sync(&a, None, 2, assignments, now);
        assert_eq!(sb.try_recv().unwrap().assignment, Bytes::from_static(b"B"));
        assert_eq!(g.heartbeat(&b, None, 2, now), Ok(()));
        assert_eq!(
            g.heartbeat(&b, None, 1, now),
            Err(ResponseError::IllegalGeneration)
        );
    }

    #[test]
    fn a_silent_member_is_expired_and_a_leaving_one_goes_at_once() {
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let (a, mut rx_a) = join_new(&mut g, "a", t0);
        let (b, mut rx_b) = join_new(&mut g, "b", t0);
        let _ = rx_a.try_recv();
        let mut rx_a = waiting(g.join(request(&a, "a"), &LIMITS, t0));
        let (_, _) = (rx_a.try_recv(), rx_b.try_recv());
        let (SyncStep::Wait(_), _) = g.sync(&b, None, g.generation, vec![], t0) else {
            panic!()
        };
        g.sync(&a, None, g.generation, vec![], t0);
        assert_eq!(g.state, GroupState::Stable);
        let later = t0 + Duration::from_millis(3100);
        g.heartbeat(&a, None, g.generation, later - Duration::from_millis(100))
            .unwrap();
        assert_eq!(g.expire(&LIMITS, later), vec![b.clone()]);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        let gen = g.generation;
        g.leave(&a, None, &LIMITS, later).unwrap();
        assert_eq!((g.state, g.generation), (GroupState::Empty, gen + 1));
    }

    #[test]
    fn a_static_member_rejoining_a_stable_group_keeps_its_assignment_without_a_rebalance() {
        let now = Instant::now();
        let mut g = Group::new("g");
        let mut req = request("", "s");
        req.group_instance_id = Some("instance-1".into());
        let mut rx = waiting(g.join(req.clone(), &LIMITS, now));
        let first = rx.try_recv().unwrap();
        g.sync(
            &first.member_id,
            Some("instance-1"),
            1,
            vec![(first.member_id.clone(), Bytes::from_static(b"P"))],
            now,
        );
        let JoinStep::Respond(again) = g.join(req, &LIMITS, now) else {
            panic!("no rebalance")
        };
        assert_eq!(again.generation, 1);
        assert_ne!(again.member_id, first.member_id);
        assert_eq!(
            g.heartbeat(&first.member_id, Some("instance-1"), 1, now),
            Err(ResponseError::FencedInstanceId)
        );
        let (SyncStep::Respond(sync), _) =
            g.sync(&again.member_id, Some("instance-1"), 1, vec![], now)
        else {
            panic!()
        };
        assert_eq!(sync.assignment, Bytes::from_static(b"P"));
    }

    #[test]
    fn a_new_group_waits_out_the_initial_rebalance_delay() {
        let limits = GroupLimits {
            initial_rebalance_delay: Duration::from_secs(3),
            ..LIMITS
        };
        let t0 = Instant::now();
        let mut g = Group::new("g");
        let JoinStep::Respond(first) = g.join(request("", "a"), &limits, t0) else {
            panic!()
        };
        let mut rx = waiting(g.join(request(&first.member_id, "a"), &limits, t0));
        g.expire(&limits, t0 + Duration::from_secs(2));
        assert!(rx.try_recv().is_err(), "still waiting for more members");
        g.expire(&limits, t0 + Duration::from_secs(3));
        assert_eq!(rx.try_recv().unwrap().generation, 1);
    }

    #[test]
    fn session_timeouts_outside_the_limits_are_refused() {
        let mut g = Group::new("g");
        let mut req = request("", "c");
        req.session_timeout = Duration::from_millis(100);
        let JoinStep::Respond(r) = g.join(req, &LIMITS, Instant::now()) else {
            panic!()
        };
        assert_eq!(r.error, Some(ResponseError::InvalidSessionTimeout));
    }

    #[test]
    fn a_group_restores_from_its_record() {
        let now = Instant::now();
        let mut g = Group::new("g");
        let (a, mut rx) = join_new(&mut g, "a", now);
        rx.try_recv().unwrap();
        g.sync(
            &a,
            None,
            1,
            vec![(a.clone(), Bytes::from_static(b"x"))],
            now,
        );
        let mut copy = Group::new("g");
        copy.restore(g.to_record(), now);
        assert_eq!((copy.state, copy.generation), (GroupState::Stable, 1));
        assert_eq!(copy.heartbeat(&a, None, 1, now), Ok(()));
    }
}
