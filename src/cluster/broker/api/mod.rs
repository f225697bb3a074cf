//! The broker's request handlers, one file per Kafka API family, each decode → apply → encode.
//! This module routes a decoded request to its handler and enforces isolation: while a broker
//! is cut off, requests from its peers (carrying a replica id) are refused by closing the
//! connection, as if the network had dropped them.

mod admin;
mod authorized;
mod configs;
mod delete_records;
mod fetch;
mod groups;
mod list_offsets;
mod metadata;
mod offsets;
pub(crate) mod produce;
mod producer_id;
mod topics;
mod txn;
mod txn_markers;
mod txn_offsets;

use std::net::SocketAddr;

use kafka_protocol::messages::{RequestKind, ResponseKind};

use super::Broker;
use crate::protocol::codec::{api_versions_response, Request};
use crate::protocol::server::{Dispatcher, Reply};
use crate::protocol::versions::{ApiSupport, BROKER_APIS};

impl Dispatcher for Broker {
    fn apis(&self) -> &'static [ApiSupport] {
        BROKER_APIS
    }

    fn is_from_peer(&self, request: &Request) -> bool {
        is_peer_request(&request.body)
    }

    async fn dispatch(&self, request: Request, peer: SocketAddr) -> Reply {
        let (version, api_key) = (request.version, request.api_key);
        let client_id = request
            .header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default();
        let caller = groups::Caller {
            client_id,
            host: format!("/{}", peer.ip()),
        };
        let from_peer = is_peer_request(&request.body);
        if self.node.is_isolated() && from_peer {
            return Reply::Close("this broker is isolated from its peers".into());
        }
        let response = match request.body {
            RequestKind::ApiVersions(_) => {
                ResponseKind::ApiVersions(api_versions_response(BROKER_APIS, 0))
            }
            RequestKind::Metadata(r) => {
                ResponseKind::Metadata(metadata::handle(self, r, version).await)
            }
            RequestKind::Produce(r) => match produce::handle(self, r, version).await {
                Some(response) => ResponseKind::Produce(response),
                None => return Reply::Silent,
            },
            RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(self, r, version).await),
            RequestKind::ListOffsets(r) => {
                ResponseKind::ListOffsets(list_offsets::handle(self, r, version))
            }
            RequestKind::OffsetForLeaderEpoch(r) => {
                ResponseKind::OffsetForLeaderEpoch(list_offsets::offset_for_leader_epoch(self, r))
            }
            RequestKind::CreateTopics(r) => {
                ResponseKind::CreateTopics(topics::create(self, r, version).await)
            }
            RequestKind::DeleteRecords(r) => {
                ResponseKind::DeleteRecords(delete_records::delete(self, r).await)
            }
            RequestKind::CreatePartitions(r) => {
                ResponseKind::CreatePartitions(topics::create_partitions(self, r).await)
            }
            RequestKind::DeleteTopics(r) => {
                ResponseKind::DeleteTopics(topics::delete(self, r, version).await)
            }
            RequestKind::DescribeConfigs(r) => {
                ResponseKind::DescribeConfigs(configs::describe(self, r, version))
            }
            RequestKind::AlterConfigs(r) => {
                ResponseKind::AlterConfigs(configs::alter(self, r).await)
            }
            RequestKind::IncrementalAlterConfigs(r) => {
                ResponseKind::IncrementalAlterConfigs(configs::alter_incrementally(self, r).await)
            }
            RequestKind::DescribeCluster(r) => {
                ResponseKind::DescribeCluster(admin::describe_cluster(self, r))
            }
            RequestKind::ElectLeaders(r) => {
                ResponseKind::ElectLeaders(admin::elect_leaders(self, r, version).await)
            }
            RequestKind::InitProducerId(r) => {
                ResponseKind::InitProducerId(producer_id::init(self, r, version).await)
            }
            RequestKind::AddPartitionsToTxn(r) => {
                ResponseKind::AddPartitionsToTxn(txn::add_partitions(self, r, version).await)
            }
            RequestKind::AddOffsetsToTxn(r) => {
                ResponseKind::AddOffsetsToTxn(txn::add_offsets(self, r, version).await)
            }
            RequestKind::EndTxn(r) => ResponseKind::EndTxn(txn::end(self, r, version).await),
            RequestKind::DescribeTransactions(r) => {
                ResponseKind::DescribeTransactions(txn::describe(self, r))
            }
            RequestKind::ListTransactions(r) => {
                ResponseKind::ListTransactions(txn::list(self, r, version))
            }
            RequestKind::FindCoordinator(r) => {
                ResponseKind::FindCoordinator(groups::find_coordinator(self, r, version).await)
            }
            RequestKind::JoinGroup(r) => {
                ResponseKind::JoinGroup(groups::join(self, r, version, &caller).await)
            }
            RequestKind::SyncGroup(r) => {
                ResponseKind::SyncGroup(groups::sync(self, r, version).await)
            }
            RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(groups::heartbeat(self, r)),
            RequestKind::LeaveGroup(r) => {
                ResponseKind::LeaveGroup(groups::leave(self, r, version).await)
            }
            RequestKind::DescribeGroups(r) => {
                ResponseKind::DescribeGroups(groups::describe(self, r))
            }
            RequestKind::ListGroups(r) => ResponseKind::ListGroups(groups::list(self, r)),
            RequestKind::DeleteGroups(r) => {
                ResponseKind::DeleteGroups(groups::delete(self, r).await)
            }
            RequestKind::OffsetCommit(r) => {
                ResponseKind::OffsetCommit(offsets::commit(self, r).await)
            }
            RequestKind::OffsetDelete(r) => {
                ResponseKind::OffsetDelete(offsets::delete(self, r).await)
            }
            RequestKind::OffsetFetch(r) => {
                ResponseKind::OffsetFetch(offsets::fetch(self, r, version))
            }
            RequestKind::TxnOffsetCommit(r) => {
                ResponseKind::TxnOffsetCommit(txn_offsets::commit(self, r).await)
            }
            RequestKind::WriteTxnMarkers(r) => {
                ResponseKind::WriteTxnMarkers(txn_markers::write(self, r).await)
            }
            _ => return Reply::Close(format!("no handler for {api_key:?}")),
        };
        // A follower fetch that was waiting here when the network was cut gets no answer
        // either: nothing crosses a partition, whenever the request arrived.
        if from_peer && self.node.is_isolated() {
            return Reply::Close("this broker was isolated from its peers".into());
        }
        Reply::Respond(Box::new(response))
    }
}

/// Requests only other brokers send: follower fetches, divergence checks and transaction
/// markers.
fn is_peer_request(body: &RequestKind) -> bool {
    match body {
        RequestKind::Fetch(r) => r.replica_id.0 >= 0 || r.replica_state.replica_id.0 >= 0,
        RequestKind::OffsetForLeaderEpoch(r) => r.replica_id.0 >= 0,
        // Only a transaction coordinator, on another broker, writes markers.
        RequestKind::WriteTxnMarkers(_) => true,
        _ => false,
    }
}
