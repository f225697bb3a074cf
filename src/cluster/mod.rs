//! The embedded cluster: a controller node and broker nodes that talk only over TCP with the
//! Kafka protocol. Pure decision logic (placement, elections, ISR, the partition log) lives in
//! plain modules with unit tests; the nodes wrap it in tasks that own their state.

pub mod assignment;
pub mod broker;
pub mod controller;
pub mod group;
pub mod image;
pub mod log;
pub mod metadata_log;
pub mod node;

pub use kafka_protocol::ResponseError;

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
}
