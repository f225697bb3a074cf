//! Real Kafka clients (librdkafka through `rdkafka`) for the REPL and scripts: a producer, group
//! consumers running as their own processes, and admin calls. They only speak the Kafka
//! protocol to the bootstrap servers, so they behave the same on any backend.

pub mod admin;
pub mod consumer;
pub mod ledger;
pub mod producer;
mod watermarks;
pub mod wire;

use thiserror::Error;

use crate::backend::events::ClusterEvent;
use consumer::Report;

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Kafka (or librdkafka) refused or failed.
    #[error("{0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The topic is not in the cluster's metadata.
    #[error("topic '{topic}' does not exist; {}", if existing.is_empty() { "there are none yet; create_topic() makes one".to_string() } else { format!("topics are {}", existing.join(", ")) })]
    UnknownTopic {
        /// The topic asked for.
        topic: String,
        /// The topics there are (internal ones left out).
        existing: Vec<String>,
    },
    /// A consumer start position that is not one.
    #[error("from: \"{0}\" is not a start position; use \"end\" or \"beginning\"")]
    StartPosition(String),
    /// An acks setting that is not one.
    #[error("acks: \"{0}\" is not valid; use \"all\", \"1\" or \"0\"")]
    Acks(String),
    /// A broker answered a request without the part that names what was asked.
    #[error("the broker's answer about {0} was empty")]
    EmptyAnswer(String),
    /// A transaction call on a producer made without `transactional_id`.
    #[error("this producer is not transactional; make it with producer(#{{transactional_id: \"tx-1\"}})")]
    NotTransactional,
    /// A child process could not be started.
    #[error("cannot start {program}: {cause}")]
    Spawn {
        /// What was started.
        program: String,
        /// Why not.
        #[source]
        cause: std::io::Error,
    },
    /// A read did not reach its end in time.
    #[error("could not read {what} within {seconds} s")]
    Timeout {
        /// What was read.
        what: String,
        /// How long it had.
        seconds: u64,
    },
    /// No broker answered.
    #[error("no broker answered ({0}); is the cluster running?")]
    Unreachable(String),
    /// A broker answered with a Kafka error code.
    #[error("{what}: {code}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Refused {
        /// What was asked, as the start of a sentence ("cannot create topic 't'").
        what: String,
        /// Kafka's name for the error code, e.g. `INVALID_REPLICATION_FACTOR`.
        code: String,
        /// The broker's error message, if it sent one.
        detail: String,
    },
}

/// Kafka's own name for an error code, as the protocol guide and Kafka's logs write it:
/// `INVALID_REPLICATION_FACTOR` for 38.
pub(crate) fn kafka_error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(kafka_protocol::ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => {
            let camel = format!("{e:?}");
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, c) in camel.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
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
    /// The cluster changed: the events of one metadata change.
    Cluster(Vec<ClusterEvent>),
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_codes_read_as_kafka_names_them() {
        assert_eq!(super::kafka_error_name(38), "INVALID_REPLICATION_FACTOR");
        assert_eq!(super::kafka_error_name(19), "NOT_ENOUGH_REPLICAS");
        assert_eq!(super::kafka_error_name(-1), "UNKNOWN_SERVER_ERROR");
    }
}
