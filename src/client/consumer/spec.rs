//! What a consumer process is asked to do: where to start, which group, how long each message
//! takes to process and when it commits. The parent writes it as JSON on the child's command
//! line; the child ([`super::child`]) runs it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::ClientError;

/// Where a consumer without committed offsets starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartFrom {
    /// Only messages produced from now on (kcat `-o end`, `auto.offset.reset=latest`).
    End,
    /// Everything in the topic (`auto.offset.reset=earliest`).
    Beginning,
}

impl StartFrom {
    /// Parses "end" / "beginning" (also "latest" / "earliest").
    pub fn parse(s: &str) -> Result<Self, ClientError> {
        match s {
            "end" | "latest" => Ok(StartFrom::End),
            "beginning" | "earliest" | "start" => Ok(StartFrom::Beginning),
            other => Err(ClientError::StartPosition(other.to_string())),
        }
    }
}

/// Everything a consumer process needs to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumerSpec {
    /// Bootstrap servers.
    pub bootstrap: String,
    /// Topic to read.
    pub topic: String,
    /// Consumer group; without one the consumer reads every partition on its own.
    pub group: Option<String>,
    /// Start position when nothing is committed.
    pub from: StartFrom,
    /// Client id (shows in DescribeGroups).
    pub client_id: String,
    /// Extra librdkafka settings.
    pub config: Vec<(String, String)>,
    /// How long the application takes to process each message; it is reported (and counts as
    /// received) only once processed. Zero: at once.
    #[serde(default)]
    pub processing: Duration,
    /// When the consumer commits what it read.
    #[serde(default)]
    pub commit: CommitPolicy,
}

/// When a group consumer commits its position, which decides what a crash costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitPolicy {
    /// librdkafka's auto-commit: every `auto.commit.interval.ms` it commits the position of
    /// what `poll` returned, processed or not.
    #[default]
    Auto,
    /// Commit each message's offset before processing it: a crash while processing skips the
    /// message for the group (at most once).
    Before,
    /// Commit each message's offset once it is processed: a crash between processing and
    /// committing hands it to the group again (at least once).
    After,
}

impl CommitPolicy {
    /// Parses "auto" / "before" / "after".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "before" => Some(Self::Before),
            "after" => Some(Self::After),
            _ => None,
        }
    }
}
