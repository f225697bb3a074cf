//! The embedded cluster: a controller node and broker nodes that talk only over TCP with the
//! Kafka protocol. Pure decision logic (placement, elections, ISR, the partition log) lives in
//! plain modules with unit tests; the nodes wrap it in tasks that own their state.

pub mod assignment;
pub mod broker;
pub mod controller;
pub(crate) mod decompress;
pub mod group;
pub mod image;
pub mod log;
pub(crate) mod log_validator;
pub mod metadata_log;
pub mod node;
pub(crate) mod topic_config;
pub mod txn;

pub use kafka_protocol::ResponseError;

/// A broker's id, as every view prints and serialises it (a plain number in JSON).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct BrokerId(pub i32);

impl std::fmt::Display for BrokerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A Kafka-level failure: an error code for the response plus a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct KafkaError {
    /// The protocol error code.
    pub code: ResponseError,
    /// What went wrong, in words.
    pub message: String,
}

impl KafkaError {
    /// Builds an error from a code and a message.
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A coordinator's failed write to its internal topic, as the coordinator answers its
    /// client: a partition this broker no longer leads is NOT_COORDINATOR, an ISR that cannot
    /// confirm is COORDINATOR_NOT_AVAILABLE; both make the client look the coordinator up
    /// again and retry.
    pub(crate) fn as_coordinator_error(&self) -> ResponseError {
        match self.code {
            ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
            ResponseError::RequestTimedOut
            | ResponseError::NotEnoughReplicas
            | ResponseError::NotEnoughReplicasAfterAppend => ResponseError::CoordinatorNotAvailable,
            other => other,
        }
    }
}
