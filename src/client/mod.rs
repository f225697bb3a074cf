//! Real Kafka clients (librdkafka through `rdkafka`) for the REPL and scripts: a producer, group
//! consumers running as their own processes, and admin calls. They only speak the Kafka
//! protocol to the bootstrap servers, so they behave the same on any backend.

pub mod admin;
pub mod consumer;
pub mod ledger;
pub mod producer;

use thiserror::Error;

use crate::backend::events::ClusterEvent;
use consumer::Report;

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Kafka (or librdkafka) refused or failed.
    #[error("{0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// Bad arguments.
    #[error("{0}")]
    Invalid(String),
    /// A consumer process could not be started.
    #[error("{0}")]
    Spawn(String),
    /// Something did not happen in time.
    #[error("{0}")]
    Timeout(String),
}

/// Something to print above the prompt as it happens.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A consumer reported a message or a rebalance.
    Consumer {
        /// Consumer label.
        name: String,
        /// What happened.
        report: Report,
    },
    /// The cluster changed.
    Cluster(ClusterEvent),
}
