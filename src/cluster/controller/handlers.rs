//! The controller's side of each API: decode → one state transition → encode.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{
    alter_configs_response, alter_partition_response, create_topics_response::CreatableTopicResult,
    delete_topics_response::DeletableTopicResult, elect_leaders_response, fetch_response,
    incremental_alter_configs_response, AllocateProducerIdsRequest, AllocateProducerIdsResponse,
    AlterConfigsRequest, AlterConfigsResponse, AlterPartitionRequest, AlterPartitionResponse,
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    ElectLeadersRequest, ElectLeadersResponse, FetchRequest, FetchResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::state::{ElectionType, NewTopic};
use super::Controller;
use crate::cluster::metadata_log::METADATA_TOPIC;
use crate::cluster::topic_config::{self, Change};
use crate::cluster::KafkaError;
use crate::protocol::codec::{api_versions_response, Request};
use crate::protocol::server::{Dispatcher, Reply};
use crate::protocol::versions::CONTROLLER_APIS;

/// Producer ids handed to a broker per AllocateProducerIds call (Kafka: 1000).
const PRODUCER_ID_BLOCK: i32 = 1000;

impl Dispatcher for Controller {
    fn apis(&self) -> &'static [crate::protocol::versions::ApiSupport] {
        CONTROLLER_APIS
    }

    /// Only the cluster's brokers talk to the controller.
    fn is_from_peer(&self, _request: &Request) -> bool {
        true
    }

    async fn dispatch(&self, request: Request, _peer: SocketAddr) -> Reply {
        let response = match request.body {
            RequestKind::ApiVersions(_) => {
                ResponseKind::ApiVersions(api_versions_response(CONTROLLER_APIS, 0))
            }
            RequestKind::BrokerRegistration(r) => {
                ResponseKind::BrokerRegistration(self.register(r))
            }
            RequestKind::BrokerHeartbeat(r) => ResponseKind::BrokerHeartbeat(self.heartbeat(r)),
            RequestKind::AlterPartition(r) => ResponseKind::AlterPartition(self.alter_partition(r)),
            RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(self.create_topics(r)),
            RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(self.delete_topics(r)),
            RequestKind::CreatePartitions(r) => {
                ResponseKind::CreatePartitions(self.create_partitions(r))
            }
            RequestKind::ElectLeaders(r) => ResponseKind::ElectLeaders(self.elect_leaders(r)),
            RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(self.alter_configs(r)),
            RequestKind::IncrementalAlterConfigs(r) => {
                ResponseKind::IncrementalAlterConfigs(self.incremental_alter_configs(r))
            }
            RequestKind::AllocateProducerIds(r) => {
                ResponseKind::AllocateProducerIds(self.allocate_producer_ids(r))
            }
            RequestKind::Fetch(r) => ResponseKind::Fetch(self.fetch_metadata(r).await),
            other => return Reply::Close(format!("the controller does not serve {other:?}")),
        };
        Reply::Respond(Box::new(response))
    }
}

fn message(e: &KafkaError) -> Option<StrBytes> {
    Some(StrBytes::from_string(e.message.clone()))
}

impl Controller {
    fn register(&self, r: BrokerRegistrationRequest) -> BrokerRegistrationResponse {
        let Some(listener) = r.listeners.first() else {
            return BrokerRegistrationResponse::default()
                .with_error_code(ResponseError::InvalidRequest.code());
        };
        let (host, port) = (listener.host.to_string(), listener.port);
        match self.transition(|s| {
            s.register(
                r.broker_id.0,
                r.incarnation_id,
                &host,
                port,
                r.rack.as_ref().map(|r| r.to_string()),
                Instant::now(),
            )
        }) {
            Ok(epoch) => {
                tracing::info!(
                    "controller: broker {} registered at {host}:{port}",
                    r.broker_id.0
                );
                BrokerRegistrationResponse::default().with_broker_epoch(epoch)
            }
            Err(e) => BrokerRegistrationResponse::default().with_error_code(e.code.code()),
        }
    }

    fn heartbeat(&self, r: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse {
        let result = self.transition(|s| {
            s.heartbeat(
                r.broker_id.0,
                r.broker_epoch,
                r.current_metadata_offset,
                r.want_shut_down,
                Instant::now(),
            )
        });
        match result {
            Ok(reply) => BrokerHeartbeatResponse::default()
                .with_is_caught_up(reply.is_caught_up)
                .with_is_fenced(reply.is_fenced)
                .with_should_shut_down(reply.should_shut_down),
            Err(e) => BrokerHeartbeatResponse::default()
                .with_error_code(e.code.code())
                .with_is_fenced(true),
        }
    }

    fn alter_partition(&self, r: AlterPartitionRequest) -> AlterPartitionResponse {
        // One transition, so one committed image, for the whole request: a leader batches
        // every ISR change it has queued, thousands when a broker rejoins, and an image per
        // partition would cost the cluster a copy of every partition for each of them.
        let now = Instant::now();
        let topics = self.transition(|s| {
            r.topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let isr: Vec<i32> = p.new_isr.iter().map(|b| b.0).collect();
                            let result = s.alter_partition(
                                r.broker_id.0,
                                r.broker_epoch,
                                t.topic_id,
                                p.partition_index,
                                p.leader_epoch,
                                p.partition_epoch,
                                &isr,
                                now,
                            );
                            let out = alter_partition_response::PartitionData::default()
                                .with_partition_index(p.partition_index);
                            match result {
                                Ok(img) => out
                                    .with_leader_id(img.leader.into())
                                    .with_leader_epoch(img.leader_epoch)
                                    .with_isr(img.isr.iter().map(|b| (*b).into()).collect())
                                    .with_partition_epoch(img.partition_epoch),
                                Err(e) => out.with_error_code(e.code.code()),
                            }
                        })
                        .collect();
                    alter_partition_response::TopicData::default()
                        .with_topic_id(t.topic_id)
                        .with_partitions(partitions)
                })
                .collect()
        });
        AlterPartitionResponse::default().with_topics(topics)
    }

    fn create_topics(&self, r: CreateTopicsRequest) -> CreateTopicsResponse {
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let name = t.name.to_string();
                let mut assignments: Vec<(i32, Vec<i32>)> = t
                    .assignments
                    .iter()
                    .map(|a| {
                        (
                            a.partition_index,
                            a.broker_ids.iter().map(|b| b.0).collect(),
                        )
                    })
                    .collect();
                assignments.sort_by_key(|(i, _)| *i);
                let configs: BTreeMap<String, String> = t
                    .configs
                    .iter()
                    .filter_map(|c| {
                        c.value
                            .as_ref()
                            .map(|v| (c.name.to_string(), v.to_string()))
                    })
                    .collect();
                let new = NewTopic {
                    name: name.clone(),
                    partitions: t.num_partitions,
                    replication: t.replication_factor,
                    assignments: assignments.into_iter().map(|(_, r)| r).collect(),
                    configs,
                };
                let result = self.transition(|s| s.create_topic(&new, r.validate_only));
                let out = CreatableTopicResult::default().with_name(t.name.clone());
                match result {
                    Ok(()) => {
                        let image = self.committed.borrow().image.clone();
                        match image.topics.get(&name) {
                            Some(topic) => out
                                .with_topic_id(topic.id)
                                .with_num_partitions(topic.partitions.len() as i32)
                                .with_replication_factor(topic.partitions[0].replicas.len() as i16),
                            None => out
                                .with_num_partitions(t.num_partitions)
                                .with_replication_factor(t.replication_factor),
                        }
                    }
                    Err(e) => out
                        .with_error_code(e.code.code())
                        .with_error_message(message(&e)),
                }
            })
            .collect();
        CreateTopicsResponse::default().with_topics(topics)
    }

    fn create_partitions(&self, r: CreatePartitionsRequest) -> CreatePartitionsResponse {
        let results = r
            .topics
            .iter()
            .map(|t| {
                let assignments: Option<Vec<Vec<i32>>> = t.assignments.as_ref().map(|list| {
                    list.iter()
                        .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                        .collect()
                });
                let result = self.transition(|s| {
                    s.create_partitions(&t.name, t.count, assignments.as_deref(), r.validate_only)
                });
                let out = CreatePartitionsTopicResult::default().with_name(t.name.clone());
                match result {
                    Ok(()) => out,
                    Err(e) => out
                        .with_error_code(e.code.code())
                        .with_error_message(message(&e)),
                }
            })
            .collect();
        CreatePartitionsResponse::default().with_results(results)
    }

    /// AlterConfigs: each topic's configs become exactly the ones given.
    fn alter_configs(&self, r: AlterConfigsRequest) -> AlterConfigsResponse {
        let responses = r
            .resources
            .iter()
            .map(|res| {
                let changes = topic_config::from_alter(res);
                let outcome = self.alter_resource(
                    res.resource_type,
                    &res.resource_name,
                    Ok(changes),
                    true,
                    r.validate_only,
                );
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(res.resource_type)
                    .with_resource_name(res.resource_name.clone())
                    .with_error_code(outcome.as_ref().err().map_or(0, |e| e.code.code()))
                    .with_error_message(outcome.err().and_then(|e| message(&e)))
            })
            .collect();
        AlterConfigsResponse::default().with_responses(responses)
    }

    /// IncrementalAlterConfigs: set, delete, append to or subtract from single configs.
    fn incremental_alter_configs(
        &self,
        r: IncrementalAlterConfigsRequest,
    ) -> IncrementalAlterConfigsResponse {
        let responses = r
            .resources
            .iter()
            .map(|res| {
                let changes = topic_config::from_incremental(res);
                let outcome = self.alter_resource(
                    res.resource_type,
                    &res.resource_name,
                    changes,
                    false,
                    r.validate_only,
                );
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(res.resource_type)
                    .with_resource_name(res.resource_name.clone())
                    .with_error_code(outcome.as_ref().err().map_or(0, |e| e.code.code()))
                    .with_error_message(outcome.err().and_then(|e| message(&e)))
            })
            .collect();
        IncrementalAlterConfigsResponse::default().with_responses(responses)
    }

    /// One resource of either request: topics change; broker settings are fixed at start.
    fn alter_resource(
        &self,
        resource_type: i8,
        name: &StrBytes,
        changes: Result<Vec<Change>, String>,
        replace: bool,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        const TOPIC: i8 = 2;
        const BROKER: i8 = 4;
        match resource_type {
            TOPIC => {
                let changes =
                    changes.map_err(|e| KafkaError::new(ResponseError::InvalidConfig, e))?;
                self.transition(|s| s.alter_topic_configs(name, &changes, replace, validate_only))
            }
            BROKER => Err(KafkaError::new(
                ResponseError::InvalidConfig,
                "the sandbox's broker settings are fixed when it starts (--min-insync-replicas, --unclean-leader-election, …); alter a topic's configs instead",
            )),
            other => Err(KafkaError::new(
                ResponseError::InvalidRequest,
                format!("resource type {other} has no configs the sandbox can change; topics (2) do"),
            )),
        }
    }

    fn delete_topics(&self, r: DeleteTopicsRequest) -> DeleteTopicsResponse {
        let responses = r
            .topic_names
            .iter()
            .map(|name| {
                let result = self.transition(|s| s.delete_topic(name));
                let out = DeletableTopicResult::default().with_name(Some(name.clone()));
                match result {
                    Ok(id) => out.with_topic_id(id),
                    Err(e) => out
                        .with_error_code(e.code.code())
                        .with_error_message(message(&e)),
                }
            })
            .collect();
        DeleteTopicsResponse::default().with_responses(responses)
    }

    fn elect_leaders(&self, r: ElectLeadersRequest) -> ElectLeadersResponse {
        let kind = if r.election_type == 1 {
            ElectionType::Unclean
        } else {
            ElectionType::Preferred
        };
        let targets: Vec<(String, Vec<i32>)> = match r.topic_partitions {
            Some(list) => list
                .iter()
                .map(|t| (t.topic.to_string(), t.partitions.clone()))
                .collect(),
            None => self
                .committed
                .borrow()
                .image
                .topics
                .iter()
                .map(|(n, t)| (n.clone(), (0..t.partitions.len() as i32).collect()))
                .collect(),
        };
        let results = targets
            .into_iter()
            .map(|(topic, partitions)| {
                let partition_result = partitions
                    .into_iter()
                    .map(|p| {
                        let out =
                            elect_leaders_response::PartitionResult::default().with_partition_id(p);
                        match self.transition(|s| s.elect(&topic, p, kind)) {
                            Ok(_) => out,
                            Err(e) => out
                                .with_error_code(e.code.code())
                                .with_error_message(message(&e)),
                        }
                    })
                    .collect();
                elect_leaders_response::ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(topic)))
                    .with_partition_result(partition_result)
            })
            .collect();
        ElectLeadersResponse::default().with_replica_election_results(results)
    }

    fn allocate_producer_ids(&self, r: AllocateProducerIdsRequest) -> AllocateProducerIdsResponse {
        let known = self
            .committed
            .borrow()
            .image
            .brokers
            .get(&r.broker_id.0)
            .map(|b| b.epoch);
        if known != Some(r.broker_epoch) {
            return AllocateProducerIdsResponse::default()
                .with_error_code(ResponseError::StaleBrokerEpoch.code());
        }
        let start = self.transition(|s| s.allocate_producer_ids(PRODUCER_ID_BLOCK));
        AllocateProducerIdsResponse::default()
            .with_producer_id_start(start.into())
            .with_producer_id_len(PRODUCER_ID_BLOCK)
    }

    /// Serves `__cluster_metadata` to brokers: the newest image once it is at or past the
    /// requested offset, long-polling up to the request's max wait otherwise.
    async fn fetch_metadata(&self, r: FetchRequest) -> FetchResponse {
        let wanted = r
            .topics
            .iter()
            .find(|t| t.topic.as_str() == METADATA_TOPIC)
            .and_then(|t| t.partitions.first())
            .map_or(0, |p| p.fetch_offset);
        let mut rx = self.subscribe();
        let wait = Duration::from_millis(r.max_wait_ms.max(0) as u64);
        let _ = tokio::time::timeout(wait, rx.wait_for(|c| c.image.offset >= wanted)).await;
        let committed = rx.borrow().clone();
        let records = (committed.image.offset >= wanted).then(|| committed.batch());
        let partition = fetch_response::PartitionData::default()
            .with_partition_index(0)
            .with_high_watermark(committed.image.offset + 1)
            .with_last_stable_offset(committed.image.offset + 1)
            .with_records(records);
        FetchResponse::default().with_responses(vec![
            fetch_response::FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                .with_partitions(vec![partition]),
        ])
    }
}
