//! CreateTopics, CreatePartitions and DeleteTopics. Like a KRaft broker, this one forwards them to the
//! controller, then waits until its own metadata shows the result so that a client that
//! creates a topic and immediately asks for metadata sees it.

use std::time::Duration;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::Broker;
use crate::cluster::image::MetadataImage;

/// Upper bound on how long a broker waits for its metadata to reflect an admin change.
const MAX_PROPAGATION_WAIT: Duration = Duration::from_secs(5);
const CONTROLLER_CALL: Duration = Duration::from_secs(5);

pub(super) async fn wait_for_image(
    broker: &Broker,
    timeout_ms: i32,
    ready: impl Fn(&MetadataImage) -> bool,
) {
    let limit = Duration::from_millis(timeout_ms.max(0) as u64).min(MAX_PROPAGATION_WAIT);
    let mut rx = broker.watch_image();
    let _ = tokio::time::timeout(limit, rx.wait_for(|img| ready(img))).await;
}

fn text(s: String) -> Option<StrBytes> {
    Some(StrBytes::from_string(s))
}

pub async fn create(broker: &Broker, r: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let forwarded = CreateTopicsRequest::default()
        .with_topics(r.topics.clone())
        .with_timeout_ms(r.timeout_ms)
        .with_validate_only(r.validate_only);
    let result = async {
        let mut conn = broker.connect_controller().await?;
        conn.call(&forwarded, 7, CONTROLLER_CALL).await
    }
    .await;
    let mut results = match result {
        Ok(response) => response.topics,
        Err(e) => r
            .topics
            .iter()
            .map(|t| {
                CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(ResponseError::RequestTimedOut.code())
                    .with_error_message(text(format!("the controller could not be reached: {e}")))
            })
            .collect(),
    };
    if !r.validate_only {
        let created: Vec<String> = results
            .iter()
            .filter(|t| t.error_code == 0)
            .map(|t| t.name.to_string())
            .collect();
        wait_for_image(broker, r.timeout_ms, |img| {
            created.iter().all(|n| img.topics.contains_key(n))
        })
        .await;
    }
    if version < 7 {
        for t in &mut results {
            t.topic_id = Default::default();
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// Creates missing topics with the broker's defaults (`num.partitions`,
/// `default.replication.factor`), as Kafka does for a Metadata request that names them.
pub(crate) async fn auto_create(broker: &Broker, names: &[String]) {
    let defaults = &broker.config.topic_defaults;
    let topics = names
        .iter()
        .map(|n| {
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(n.clone())))
                .with_num_partitions(defaults.num_partitions)
                .with_replication_factor(defaults.replication_factor)
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(MAX_PROPAGATION_WAIT.as_millis() as i32);
    let _ = create(broker, request, 7).await;
}

/// CreatePartitions, forwarded to the controller; answers once this broker's metadata shows
/// the new partitions, so the client's next Metadata request sees them.
pub async fn create_partitions(
    broker: &Broker,
    r: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let forwarded = CreatePartitionsRequest::default()
        .with_topics(r.topics.clone())
        .with_timeout_ms(r.timeout_ms)
        .with_validate_only(r.validate_only);
    let result = async {
        let mut conn = broker.connect_controller().await?;
        conn.call(&forwarded, 3, CONTROLLER_CALL).await
    }
    .await;
    let results = match result {
        Ok(response) => response.results,
        Err(e) => r
            .topics
            .iter()
            .map(|t| {
                CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(ResponseError::RequestTimedOut.code())
                    .with_error_message(text(format!("the controller could not be reached: {e}")))
            })
            .collect(),
    };
    if !r.validate_only {
        let grown: Vec<(String, usize)> = results
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| {
                let asked = r.topics.iter().find(|a| a.name == t.name)?;
                Some((t.name.to_string(), asked.count.max(0) as usize))
            })
            .collect();
        wait_for_image(broker, r.timeout_ms, |img| {
            grown.iter().all(|(name, count)| {
                img.topics
                    .get(name)
                    .is_some_and(|t| t.partitions.len() >= *count)
            })
        })
        .await;
    }
    CreatePartitionsResponse::default().with_results(results)
}

pub async fn delete(
    broker: &Broker,
    r: DeleteTopicsRequest,
    _version: i16,
) -> DeleteTopicsResponse {
    let names: Vec<TopicName> = r.topic_names.clone();
    let forwarded = DeleteTopicsRequest::default()
        .with_topic_names(names.clone())
        .with_timeout_ms(r.timeout_ms);
    let result = async {
        let mut conn = broker.connect_controller().await?;
        conn.call(&forwarded, 5, CONTROLLER_CALL).await
    }
    .await;
    let responses = match result {
        Ok(response) => response.responses,
        Err(e) => names
            .iter()
            .map(|n| {
                DeletableTopicResult::default()
                    .with_name(Some(n.clone()))
                    .with_error_code(ResponseError::RequestTimedOut.code())
                    .with_error_message(text(format!("the controller could not be reached: {e}")))
            })
            .collect(),
    };
    let deleted: Vec<String> = responses
        .iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    wait_for_image(broker, r.timeout_ms, |img| {
        deleted.iter().all(|n| !img.topics.contains_key(n))
    })
    .await;
    let responses = responses
        .into_iter()
        .map(|t| t.with_topic_id(Default::default()))
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
