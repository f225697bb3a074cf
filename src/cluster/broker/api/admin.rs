//! Cluster-level admin: DescribeCluster, and ElectLeaders (forwarded to the controller, like
//! `kafka-leader-election --election-type preferred`).

use super::authorized;
use std::time::Duration;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeClusterResponse, ElectLeadersRequest, ElectLeadersResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::cluster::broker::Broker;

pub(crate) fn describe_cluster(
    broker: &Broker,
    r: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = broker.image();
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced || r.include_fenced_brokers)
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(b.id.into())
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(image.client_visible_controller().into())
        .with_brokers(brokers)
        .with_cluster_authorized_operations(authorized::when_asked(
            r.include_cluster_authorized_operations,
            authorized::CLUSTER,
        ))
}

pub(crate) async fn elect_leaders(
    broker: &Broker,
    r: ElectLeadersRequest,
    version: i16,
) -> ElectLeadersResponse {
    let forwarded = r.clone();
    let result = async {
        let mut conn = broker.connect_controller().await?;
        conn.call(&forwarded, 2, Duration::from_secs(5)).await
    }
    .await;
    let mut response = match result {
        Ok(response) => response,
        Err(_) => {
            ElectLeadersResponse::default().with_error_code(ResponseError::RequestTimedOut.code())
        }
    };
    if version == 0 {
        response.error_code = 0;
    }
    response
}
