//! The single source of truth for which Kafka APIs a node answers and at which versions.
//! ApiVersions reports exactly these tables, and the dispatcher refuses anything outside them.
//!
//! The ranges are chosen so that librdkafka (kcat, `rdkafka`) and kafka-python negotiate
//! versions whose semantics the sandbox implements: for example Fetch stops at v12, the last
//! version that names topics rather than topic ids.

use kafka_protocol::messages::ApiKey;

/// One supported API and its inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSupport {
    /// The API.
    pub key: ApiKey,
    /// Lowest version answered.
    pub min: i16,
    /// Highest version answered.
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> ApiSupport {
    ApiSupport { key, min, max }
}

/// APIs a broker answers for clients and for its peers (follower Fetch, OffsetForLeaderEpoch).
pub const BROKER_APIS: &[ApiSupport] = &[
    api(ApiKey::Produce, 3, 9),
    api(ApiKey::Fetch, 4, 12),
    api(ApiKey::ListOffsets, 1, 7),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::ApiVersions, 0, 3),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 5),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::FindCoordinator, 0, 4),
    api(ApiKey::JoinGroup, 0, 7),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 4),
    api(ApiKey::OffsetCommit, 2, 8),
    api(ApiKey::OffsetFetch, 1, 8),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
    // The transaction coordinator. AddPartitionsToTxn v4+ batches transactions for brokers
    // verifying them (KIP-890), which clients do not send.
    api(ApiKey::AddPartitionsToTxn, 0, 3),
    api(ApiKey::AddOffsetsToTxn, 0, 3),
    api(ApiKey::EndTxn, 0, 3),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 1),
    api(ApiKey::WriteTxnMarkers, 1, 1),
    api(ApiKey::TxnOffsetCommit, 0, 3),
];

/// APIs the controller answers; only brokers talk to it.
pub(crate) const CONTROLLER_APIS: &[ApiSupport] = &[
    api(ApiKey::Fetch, 12, 12),
    api(ApiKey::ApiVersions, 0, 3),
    api(ApiKey::CreateTopics, 7, 7),
    api(ApiKey::DeleteTopics, 5, 5),
    api(ApiKey::CreatePartitions, 3, 3),
    api(ApiKey::ElectLeaders, 2, 2),
    api(ApiKey::AlterConfigs, 2, 2),
    api(ApiKey::IncrementalAlterConfigs, 1, 1),
    api(ApiKey::AlterPartition, 2, 2),
    api(ApiKey::BrokerRegistration, 1, 1),
    api(ApiKey::BrokerHeartbeat, 1, 1),
    api(ApiKey::AllocateProducerIds, 0, 0),
];

/// Looks up the supported range of `key` in `table`.
pub(crate) fn support(table: &[ApiSupport], key: ApiKey) -> Option<ApiSupport> {
    table.iter().copied().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_range_is_one_the_codec_can_handle() {
        for entry in BROKER_APIS.iter().chain(CONTROLLER_APIS) {
            let codec = entry.key.valid_versions();
            assert!(
                entry.min >= codec.min && entry.max <= codec.max && entry.min <= entry.max,
                "{:?} {}..{} outside codec range {}..{}",
                entry.key,
                entry.min,
                entry.max,
                codec.min,
                codec.max
            );
        }
    }
}
