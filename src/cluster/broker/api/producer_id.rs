//! InitProducerId. Ids come from blocks the controller hands out (AllocateProducerIds), so
//! they are unique across the cluster and across restarts. A request with a transactional id
//! goes to the transaction coordinator ([`super::txn::init`]), which takes its fresh ids from
//! the same blocks.

use std::time::Duration;

use kafka_protocol::messages::{
    AllocateProducerIdsRequest, InitProducerIdRequest, InitProducerIdResponse,
};
use kafka_protocol::ResponseError;

use super::txn;
use crate::cluster::broker::Broker;

pub async fn init(
    broker: &Broker,
    r: InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    if let Some(id) = &r.transactional_id {
        return txn::init(broker, id, &r, version).await;
    }
    // An existing producer re-initialising keeps its id with a bumped epoch (KIP-360).
    if r.producer_id.0 >= 0 && r.producer_epoch >= 0 && r.producer_epoch < i16::MAX {
        return InitProducerIdResponse::default()
            .with_producer_id(r.producer_id)
            .with_producer_epoch(r.producer_epoch + 1);
    }
    match allocate(broker).await {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(id.into())
            .with_producer_epoch(0),
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id((-1).into())
            .with_producer_epoch(-1),
    }
}

/// A producer id never handed out before, from this broker's block (asking the controller for
/// a new block when it is used up).
pub(crate) async fn allocate(broker: &Broker) -> Result<i64, ResponseError> {
    let mut block = broker.producer_ids.lock().await;
    if block.0 >= block.1 {
        let request = AllocateProducerIdsRequest::default()
            .with_broker_id(broker.id().into())
            .with_broker_epoch(broker.broker_epoch());
        let result = async {
            let mut conn = broker.connect_controller().await?;
            conn.call(&request, 0, Duration::from_secs(5)).await
        }
        .await;
        match result {
            Ok(response) if response.error_code == 0 => {
                let start = response.producer_id_start.0;
                *block = (start, start + i64::from(response.producer_id_len));
            }
            _ => return Err(ResponseError::CoordinatorNotAvailable),
        }
    }
    let id = block.0;
    block.0 += 1;
    Ok(id)
}
