//! The Kafka wire protocol as the sandbox's nodes speak it: framing, request decoding and
//! response encoding (codecs from the `kafka-protocol` crate), the table of supported API
//! versions, record-batch headers, and a small client used between nodes.

pub mod client;
pub mod codec;
pub mod frame;
pub mod records;
pub mod server;
pub mod versions;

use thiserror::Error;

/// Why a connection had to be closed or a call to another node failed.
#[derive(Debug, Error)]
pub enum ProtocolError {
    /// The socket failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    /// The length prefix was negative or over the limit.
    #[error("frame length {length} is outside 0..={max} bytes")]
    FrameSize {
        /// The length the peer announced.
        length: i64,
        /// The configured limit.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("the stream ended in the middle of a frame")]
    Truncated,
    /// The peer closed the connection instead of answering (a broker that was killed or
    /// stopped, or that gave up on the connection).
    #[error("the connection was closed before an answer came")]
    Closed,
    /// The API key is not one Kafka defines.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// The API exists but this node does not serve it at that version.
    #[error("{api:?} v{version} is not supported here (supported: {supported})")]
    UnsupportedVersion {
        /// The API asked for.
        api: kafka_protocol::messages::ApiKey,
        /// The version asked for.
        version: i16,
        /// Human-readable supported range, or "none".
        supported: String,
    },
    /// The bytes did not decode as the message they claimed to be.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// A message could not be encoded (a bug, or a field out of range for the version).
    #[error("could not encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's complaint.
        reason: String,
    },
    /// A response did not match the request it answers.
    #[error("unexpected response: {0}")]
    UnexpectedResponse(String),
    /// The peer did not answer in time.
    #[error("timed out after {0} ms waiting for a response")]
    Timeout(u64),
}
