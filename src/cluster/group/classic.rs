//! One consumer group — Kafka's `ClassicGroup` — and the single owner of its state. The
//! classic rebalance protocol moves it Empty → PreparingRebalance (members join) →
//! CompletingRebalance (the leader computes the assignment) → Stable, and back to
//! PreparingRebalance whenever membership changes. The transitions are methods of [`Group`],
//! split by concern so each file reads in one sitting: joining and completing a rebalance in
//! [`super::join`]; syncing, heartbeats, leaving and expiry in [`super::sync`]; the persisted
//! form and restoring from it in [`super::record`].
//!
//! Every transition takes `now` and returns the replies it decided. A group never holds a
//! channel: a JoinGroup or SyncGroup that must wait for the rest of the group is remembered by
//! its [`RequestToken`](super::types::RequestToken), and the transition that can finally
//! answer it — often another member's request, or the coordinator's periodic
//! [`Group::expire`] — returns a [`Reply`] addressed to that token. The coordinator keeps the map from tokens to the connections'
//! reply channels and sends them. So a unit test can drive a whole rebalance with explicit
//! times and see every answer, with no runtime and no sleeping.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::types::{CommittedOffset, GroupState, JoinResult, Member, Reply, SyncResult};

/// A consumer group (Kafka's `ClassicGroup`).
#[derive(Debug)]
pub(crate) struct Group {
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
    /// Offsets committed inside transactions that have not ended yet.
    pub txn_offsets: super::txn_offsets::TxnOffsets,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet rejoined, with when each
    /// expires (its JoinGroup's session timeout after it was handed out, as in Kafka).
    pub(super) pending: HashMap<String, Instant>,
    /// When the running rebalance started.
    pub(super) rebalance_started: Option<Instant>,
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
            txn_offsets: Default::default(),
            pending: HashMap::new(),
            rebalance_started: None,
        }
    }

    pub(super) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.member_id == id)
    }

    pub(super) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    /// Kafka's member id form: the client id and a UUID.
    pub(super) fn new_member_id(client_id: &str) -> String {
        format!("{client_id}-{}", uuid::Uuid::new_v4())
    }

    /// Checks a request's member id against static membership: an instance id now held by a
    /// different member id means this member was replaced.
    pub(super) fn check_member(
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

    /// The JoinGroup answer for a member of the current generation; only the leader is told
    /// the members and their metadata, since only it runs the assignor.
    pub(super) fn join_result_for(&self, member_id: &str) -> JoinResult {
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

    /// The SyncGroup answer for a member: its part of the leader's assignment.
    pub(super) fn sync_result_for(&self, member_id: &str) -> SyncResult {
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

    /// The protocols every member supports, ranked by member votes (Kafka's selection).
    pub(super) fn select_protocol(&self) -> Option<String> {
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

    pub(super) fn supports_common_protocol(&self, protocols: &[(String, Bytes)]) -> bool {
        self.members.is_empty()
            || protocols.iter().any(|(p, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(q, _)| q == p))
            })
    }

    /// Fails every waiting request: the coordinator moved away, so each member must find the
    /// new one and ask again.
    pub(crate) fn fail_waiters(&mut self, error: ResponseError) -> Vec<Reply> {
        self.members
            .iter_mut()
            .flat_map(|m| m.fail_waiting(error))
            .collect()
    }
}
