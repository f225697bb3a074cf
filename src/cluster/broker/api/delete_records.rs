//! DeleteRecords: a partition's leader moves its log start offset (Kafka's low watermark) and
//! answers with it; reads below it get OFFSET_OUT_OF_RANGE from then on, and ListOffsets
//! `earliest` returns it. Followers learn it from their next fetch.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kafka_protocol::ResponseError;

use crate::cluster::broker::Broker;

pub async fn delete(broker: &Broker, r: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = broker.image();
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let known = image.topics.contains_key(t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let result = match broker.partition(&t.name, p.partition_index) {
                        Some(partition) => {
                            let moved = partition.delete_records(p.offset);
                            broker.data_changes().record([&partition]);
                            moved
                        }
                        None if known => Err(ResponseError::NotLeaderOrFollower),
                        None => Err(ResponseError::UnknownTopicOrPartition),
                    };
                    match result {
                        Ok(low_watermark) => out.with_low_watermark(low_watermark),
                        Err(e) => out.with_low_watermark(-1).with_error_code(e.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
