//! The classic consumer-group APIs: FindCoordinator (of groups and of transactional ids), JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, DescribeGroups, ListGroups, DeleteGroups. Each decodes the request, hands it
//! to the group coordinator (which runs the group's transition and, for JoinGroup and
//! SyncGroup, waits until the group can answer), and encodes the answer for the client's
//! version.

use super::authorized;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    delete_groups_response, list_groups_response, CreateTopicsRequest, DeleteGroupsRequest,
    DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::topics;
use crate::cluster::broker::Broker;
use crate::cluster::group::types::{JoinRequest, JoinResult, SyncRequest, SyncResult};
use crate::cluster::group::{partition_for, OFFSETS_TOPIC};
use crate::cluster::txn::TRANSACTION_STATE_TOPIC;

/// Who sent a request, for DescribeGroups' client id and host.
pub(crate) struct Caller {
    /// Client id from the request header.
    pub client_id: String,
    /// Client address, in Kafka's `/ip` form.
    pub host: String,
}

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

fn code(e: Option<ResponseError>) -> i16 {
    e.map_or(0, |e| e.code())
}

/// Creates `__consumer_offsets` the first time a coordinator is looked for, as Kafka does.
pub(crate) async fn ensure_offsets_topic(broker: &Broker) {
    let defaults = &broker.config.topic_defaults;
    ensure_internal_topic(
        broker,
        OFFSETS_TOPIC,
        defaults.offsets_topic_partitions,
        defaults.offsets_topic_replication_factor,
        |_| Vec::new(),
    )
    .await;
}

/// Kafka's `transaction.state.log.min.isr`: a transaction's state change is acknowledged only
/// once two replicas have it (fewer when the topic has fewer replicas).
const TRANSACTION_STATE_MIN_ISR: i32 = 2;

/// Creates `__transaction_state` the first time a transaction coordinator is looked for, with
/// the settings Kafka forces on it: never an unclean election (a coordinator elected from
/// outside the ISR would forget decided transactions), and `min.insync.replicas` of
/// `transaction.state.log.min.isr`.
async fn ensure_transaction_state_topic(broker: &Broker) {
    let defaults = &broker.config.topic_defaults;
    ensure_internal_topic(
        broker,
        TRANSACTION_STATE_TOPIC,
        defaults.transaction_state_partitions,
        defaults.transaction_state_replication_factor,
        |replication| {
            vec![
                ("unclean.leader.election.enable", "false".to_string()),
                (
                    "min.insync.replicas",
                    TRANSACTION_STATE_MIN_ISR.min(replication).to_string(),
                ),
            ]
        },
    )
    .await;
}

/// Creates a compacted internal topic if it does not exist, its replication factor capped at
/// the number of brokers.
async fn ensure_internal_topic(
    broker: &Broker,
    name: &str,
    partitions: i32,
    replication: i16,
    configs: impl FnOnce(i32) -> Vec<(&'static str, String)>,
) {
    let image = broker.image();
    if image.topics.contains_key(name) {
        return;
    }
    let replication = i32::from(replication)
        .min(image.brokers.len() as i32)
        .max(1);
    let topic = CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(replication as i16)
        .with_configs(
            std::iter::once(("cleanup.policy", "compact".to_string()))
                .chain(configs(replication))
                .map(|(name, value)| {
                    CreatableTopicConfig::default()
                        .with_name(s(name))
                        .with_value(Some(s(value)))
                })
                .collect(),
        );
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(5000);
    let _ = topics::create(broker, request, 7).await;
}

/// Waits (briefly) until the partition of `topic` that `key` maps to has a live leader in
/// this broker's metadata: the coordinator of a group or transactional id.
async fn coordinator_of(
    broker: &Broker,
    topic: &str,
    key: &str,
) -> Result<(i32, String, i32), ResponseError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut images = broker.watch_image();
    loop {
        let image = images.borrow_and_update().clone();
        if let Some(t) = image.topics.get(topic) {
            let p = partition_for(key, t.partitions.len() as i32) as usize;
            let leader = t.partitions[p].leader;
            if let Some(b) = image.brokers.get(&leader).filter(|b| !b.fenced) {
                return Ok((b.id, b.host.clone(), i32::from(b.port)));
            }
        }
        if tokio::time::timeout_at(deadline.into(), images.changed())
            .await
            .is_err()
        {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
    }
}

pub(crate) async fn find_coordinator(
    broker: &Broker,
    r: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = if version >= 4 {
        r.coordinator_keys.iter().map(|k| k.to_string()).collect()
    } else {
        vec![r.key.to_string()]
    };
    // key_type 1 looks for a transactional id's coordinator, 0 for a group's.
    let topic = if r.key_type == 1 {
        ensure_transaction_state_topic(broker).await;
        TRANSACTION_STATE_TOPIC
    } else {
        ensure_offsets_topic(broker).await;
        OFFSETS_TOPIC
    };
    let mut found = Vec::new();
    for key in &keys {
        found.push((key.clone(), coordinator_of(broker, topic, key).await));
    }
    if version >= 4 {
        let coordinators = found
            .into_iter()
            .map(|(key, result)| {
                let out = Coordinator::default().with_key(s(key));
                match result {
                    Ok((id, host, port)) => out
                        .with_node_id(id.into())
                        .with_host(s(host))
                        .with_port(port),
                    Err(e) => out
                        .with_error_code(e.code())
                        .with_node_id((-1).into())
                        .with_port(-1)
                        .with_error_message(Some(s(message_for(e)))),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (_, result) = found.into_iter().next().expect("one key below v4");
    match result {
        Ok((id, host, port)) => FindCoordinatorResponse::default()
            .with_node_id(id.into())
            .with_host(s(host))
            .with_port(port),
        Err(e) => {
            let out = FindCoordinatorResponse::default()
                .with_error_code(e.code())
                .with_node_id((-1).into())
                .with_port(-1);
            if version >= 1 {
                out.with_error_message(Some(s(message_for(e))))
            } else {
                out
            }
        }
    }
}

fn message_for(e: ResponseError) -> &'static str {
    match e {
        ResponseError::CoordinatorNotAvailable => "the coordinator is not available yet; retry",
        _ => "coordinator lookup failed",
    }
}

fn join_response(r: JoinResult, version: i16) -> JoinGroupResponse {
    let members = r
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            let m = JoinGroupResponseMember::default()
                .with_member_id(s(id))
                .with_metadata(metadata);
            if version >= 5 {
                m.with_group_instance_id(instance.map(s))
            } else {
                m
            }
        })
        .collect();
    let out = JoinGroupResponse::default()
        .with_error_code(code(r.error))
        .with_generation_id(r.generation)
        .with_leader(s(r.leader))
        .with_member_id(s(r.member_id))
        .with_members(members);
    if version >= 7 {
        out.with_protocol_type(r.protocol_type.map(s))
            .with_protocol_name(r.protocol.map(s))
    } else {
        out.with_protocol_name(Some(s(r.protocol.unwrap_or_default())))
    }
}

pub async fn join(
    broker: &Broker,
    r: JoinGroupRequest,
    version: i16,
    caller: &Caller,
) -> JoinGroupResponse {
    let session_timeout = Duration::from_millis(r.session_timeout_ms.max(0) as u64);
    let rebalance_ms = if version >= 1 {
        r.rebalance_timeout_ms
    } else {
        r.session_timeout_ms
    };
    let request = JoinRequest {
        member_id: r.member_id.to_string(),
        group_instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
        client_id: caller.client_id.clone(),
        client_host: caller.host.clone(),
        session_timeout,
        rebalance_timeout: Duration::from_millis(rebalance_ms.max(0) as u64),
        protocol_type: r.protocol_type.to_string(),
        protocols: r
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let member_id = request.member_id.clone();
    match broker
        .groups
        .join(broker, r.group_id.as_str(), request)
        .await
    {
        Ok(result) => join_response(result, version),
        Err(e) => join_response(JoinResult::error(e, &member_id), version),
    }
}

fn sync_response(r: SyncResult, version: i16) -> SyncGroupResponse {
    let out = SyncGroupResponse::default()
        .with_error_code(code(r.error))
        .with_assignment(r.assignment);
    if version >= 5 {
        out.with_protocol_type(r.protocol_type.map(s))
            .with_protocol_name(r.protocol.map(s))
    } else {
        out
    }
}

pub async fn sync(broker: &Broker, r: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let request = SyncRequest {
        member_id: r.member_id.to_string(),
        group_instance_id: r.group_instance_id.as_ref().map(|i| i.to_string()),
        generation: r.generation_id,
        assignments: r
            .assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect(),
    };
    match broker
        .groups
        .sync(broker, r.group_id.as_str(), request)
        .await
    {
        Ok(result) => sync_response(result, version),
        Err(ResponseError::GroupIdNotFound) => {
            sync_response(SyncResult::error(ResponseError::UnknownMemberId), version)
        }
        Err(e) => sync_response(SyncResult::error(e), version),
    }
}

pub fn heartbeat(broker: &Broker, r: HeartbeatRequest) -> HeartbeatResponse {
    let instance = r.group_instance_id.as_ref().map(|i| i.to_string());
    let result = broker
        .groups
        .with_group(broker, r.group_id.as_str(), false, |g, _| {
            g.heartbeat(
                r.member_id.as_str(),
                instance.as_deref(),
                r.generation_id,
                Instant::now(),
            )
        })
        .and_then(|r| r);
    let error = match result {
        Ok(()) => 0,
        Err(ResponseError::GroupIdNotFound) => ResponseError::UnknownMemberId.code(),
        Err(e) => e.code(),
    };
    HeartbeatResponse::default().with_error_code(error)
}

pub async fn leave(broker: &Broker, r: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let group = r.group_id.to_string();
    let leaving: Vec<(String, Option<String>)> = if version >= 3 {
        r.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(r.member_id.to_string(), None)]
    };
    let results = match broker.groups.leave(broker, &group, &leaving).await {
        Ok(r) => r,
        Err(e) => {
            let e = if e == ResponseError::GroupIdNotFound {
                ResponseError::UnknownMemberId
            } else {
                e
            };
            return LeaveGroupResponse::default().with_error_code(e.code());
        }
    };
    if version >= 3 {
        let members = leaving
            .into_iter()
            .zip(results)
            .map(|((id, instance), err)| {
                MemberResponse::default()
                    .with_member_id(s(id))
                    .with_group_instance_id(instance.map(s))
                    .with_error_code(code(err))
            })
            .collect();
        LeaveGroupResponse::default().with_members(members)
    } else {
        LeaveGroupResponse::default().with_error_code(code(results.into_iter().next().flatten()))
    }
}

pub fn describe(broker: &Broker, r: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = r
        .groups
        .iter()
        .map(|id| {
            let out = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(authorized::when_asked(
                    r.include_authorized_operations,
                    authorized::GROUP,
                ));
            let described = broker
                .groups
                .with_group(broker, id.as_str(), false, |g, _| {
                    let protocol = g.protocol.clone().unwrap_or_default();
                    let members = g
                        .members
                        .iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(s(m.member_id.clone()))
                                .with_group_instance_id(m.group_instance_id.clone().map(s))
                                .with_client_id(s(m.client_id.clone()))
                                .with_client_host(s(m.client_host.clone()))
                                .with_member_metadata(m.metadata(&protocol))
                                .with_member_assignment(m.assignment.clone())
                        })
                        .collect::<Vec<_>>();
                    (
                        g.state.name(),
                        g.protocol_type.clone().unwrap_or_default(),
                        protocol,
                        members,
                    )
                });
            match described {
                Ok((state, protocol_type, protocol, members)) => out
                    .with_group_state(s(state))
                    .with_protocol_type(s(protocol_type))
                    .with_protocol_data(s(protocol))
                    .with_members(members),
                Err(ResponseError::GroupIdNotFound) => out.with_group_state(s("Dead")),
                Err(e) => out.with_error_code(e.code()),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub fn list(broker: &Broker, r: ListGroupsRequest) -> ListGroupsResponse {
    let lower = |list: &[StrBytes]| -> Vec<String> {
        list.iter()
            .map(|f| f.to_string().to_ascii_lowercase())
            .collect()
    };
    let wanted = lower(&r.states_filter);
    // Every group here speaks the classic protocol (KIP-848 consumer groups are not offered).
    let types = lower(&r.types_filter);
    let classic_wanted = types.is_empty() || types.iter().any(|t| t == "classic");
    let groups = broker
        .groups
        .list(broker)
        .into_iter()
        .filter(|_| classic_wanted)
        .filter(|g| wanted.is_empty() || wanted.contains(&g.state.to_ascii_lowercase()))
        .map(|g| {
            list_groups_response::ListedGroup::default()
                .with_group_id(kafka_protocol::messages::GroupId(s(g.id)))
                .with_protocol_type(s(g.protocol_type))
                .with_group_state(s(g.state))
                .with_group_type(s("classic".to_string()))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub async fn delete(broker: &Broker, r: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::new();
    for id in &r.groups_names {
        let error = match broker.groups.delete(broker, id.as_str()).await {
            Ok(()) => 0,
            Err(e) => e.code(),
        };
        results.push(
            delete_groups_response::DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(error),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
