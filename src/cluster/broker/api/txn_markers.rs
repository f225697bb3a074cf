//! WriteTxnMarkers: the transaction coordinator asks each partition's leader to end a
//! producer's transaction there. The leader appends a commit or abort marker (a control batch,
//! [`marker_batch`]) as it appends any batch, and answers once the in-sync replicas have it,
//! so a marker the coordinator was told is written survives the leader's loss. The log derives
//! the last stable offset and the aborted-transaction index from the markers
//! ([`crate::cluster::log`]).

use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::produce::append_and_replicate;
use crate::cluster::broker::Broker;
use crate::cluster::group::OFFSETS_TOPIC;
use crate::protocol::records::{marker_batch, now_millis};

/// How long a marker may take to reach the in-sync replicas.
const MARKER_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn write(broker: &Broker, r: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let mut results = Vec::new();
    for marker in r.markers {
        let batch = marker_batch(
            marker.producer_id.0,
            marker.producer_epoch,
            marker.transaction_result,
            marker.coordinator_epoch,
            now_millis(),
        );
        let mut topics = Vec::new();
        for topic in marker.topics {
            let mut partitions = Vec::new();
            for index in topic.partition_indexes {
                let written = append_and_replicate(
                    broker,
                    topic.name.as_str(),
                    index,
                    batch.clone(),
                    MARKER_TIMEOUT,
                )
                .await;
                let error_code = match written {
                    Ok(_) => {
                        // Offsets the transaction committed for a group wait on this marker.
                        if topic.name.as_str() == OFFSETS_TOPIC {
                            broker.groups.end_txn(
                                index,
                                marker.producer_id.0,
                                marker.transaction_result,
                            );
                        }
                        0
                    }
                    Err(e) => {
                        tracing::debug!(
                            "broker {}: marker for producer {} on {}-{index}: {}",
                            broker.id(),
                            marker.producer_id.0,
                            topic.name.as_str(),
                            e.message
                        );
                        e.code.code()
                    }
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(error_code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions),
            );
        }
        results.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(results)
}
