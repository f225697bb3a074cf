//! The vocabulary of consumer groups: Kafka's group states, the coordinator's limits, what
//! members ask (JoinGroup, SyncGroup) and are answered, the [`Reply`] a transition addresses
//! to a waiting request, and the members themselves. The group that holds them is
//! [`super::classic::Group`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};

/// Kafka's group states, named as DescribeGroups reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum GroupState {
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

/// Names one in-flight JoinGroup or SyncGroup request. The coordinator hands out a fresh token
/// per request; a member waiting for the rest of the group keeps the token of its request, and
/// the answer comes back as a [`Reply`] to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RequestToken(pub u64);

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

/// A SyncGroup request, decoded.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// The generation the member joined.
    pub generation: i32,
    /// The leader's assignment, member id → bytes (empty from followers).
    pub assignments: Vec<(String, Bytes)>,
}

/// What a member is answered to JoinGroup.
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
    /// Members with their group instance id and metadata — the leader only, as it computes
    /// the assignment.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    /// A failed JoinGroup (generation -1, as Kafka answers).
    pub fn error(error: ResponseError, member_id: &str) -> Self {
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

/// What a member is answered to SyncGroup.
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
    /// A failed SyncGroup.
    pub fn error(error: ResponseError) -> Self {
        Self {
            error: Some(error),
            assignment: Bytes::new(),
            protocol_type: None,
            protocol: None,
        }
    }
}

/// An answer a transition decided, addressed to the request that waits for it (possibly the
/// request the transition is handling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The answer to a JoinGroup.
    Join {
        /// The request it answers.
        to: RequestToken,
        /// The answer.
        result: JoinResult,
    },
    /// The answer to a SyncGroup.
    Sync {
        /// The request it answers.
        to: RequestToken,
        /// The answer.
        result: SyncResult,
    },
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
    /// Its JoinGroup waiting for the rebalance to complete (Kafka's `awaitingJoinFuture`).
    pub(super) awaiting_join: Option<RequestToken>,
    /// Its SyncGroup waiting for the leader's assignment (Kafka's `awaitingSyncFuture`).
    pub(super) awaiting_sync: Option<RequestToken>,
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

    /// Remembers `to` as the member's waiting JoinGroup. A JoinGroup already waiting (the
    /// client retried) is superseded: it is answered NOT_COORDINATOR, which is what its
    /// connection has always seen when its waiter was replaced, and which sends a client that
    /// still listens to look the coordinator up and join again.
    pub(super) fn await_join(&mut self, to: RequestToken) -> Option<Reply> {
        let old = self.awaiting_join.replace(to)?;
        Some(Reply::Join {
            to: old,
            result: JoinResult::error(ResponseError::NotCoordinator, &self.member_id),
        })
    }

    /// Remembers `to` as the member's waiting SyncGroup; see [`Member::await_join`].
    pub(super) fn await_sync(&mut self, to: RequestToken) -> Option<Reply> {
        let old = self.awaiting_sync.replace(to)?;
        Some(Reply::Sync {
            to: old,
            result: SyncResult::error(ResponseError::NotCoordinator),
        })
    }

    /// Answers whatever the member is waiting for with `error`.
    pub(super) fn fail_waiting(&mut self, error: ResponseError) -> Vec<Reply> {
        let mut replies = Vec::new();
        if let Some(to) = self.awaiting_join.take() {
            replies.push(Reply::Join {
                to,
                result: JoinResult::error(error, &self.member_id),
            });
        }
        if let Some(to) = self.awaiting_sync.take() {
            replies.push(Reply::Sync {
                to,
                result: SyncResult::error(error),
            });
        }
        replies
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
