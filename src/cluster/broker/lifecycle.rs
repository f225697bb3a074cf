//! Registration and heartbeats: how the controller learns that a broker exists and is alive,
//! and how a broker asks for a controlled shutdown (`want_shut_down`) and learns it may exit.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::broker_registration_request::Listener;
use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerRegistrationRequest};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::link::{Peer, PeerLink};
use super::Broker;

const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How soon a fenced broker heartbeats again while it waits to be let in.
const FENCED_RETRY: Duration = Duration::from_millis(10);

/// Registers, then heartbeats every `broker_heartbeat_interval` until the node ends.
pub async fn run(broker: Arc<Broker>) {
    let interval = broker.config.timings.broker_heartbeat_interval;
    let mut link = PeerLink::new(Peer::Controller, interval);
    let mut registered = false;
    loop {
        let result = if registered {
            heartbeat(&broker, &mut link).await
        } else {
            register(&broker, &mut link).await
        };
        match result {
            Ok(Step::Registered) => {
                registered = true;
                continue;
            }
            Ok(Step::Heartbeat { fenced: true })
                if !broker.wants_shutdown.load(Ordering::SeqCst) =>
            {
                // Waiting to be let in: ask again as soon as our metadata may have caught up.
                tokio::time::sleep(FENCED_RETRY.min(interval)).await;
                continue;
            }
            Ok(Step::Heartbeat { .. }) => {}
            Ok(Step::Reregister) => registered = false,
            Err(e) => tracing::debug!("broker {}: controller call failed: {e}", broker.id()),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = broker.heartbeat_now.notified() => {}
        }
    }
}

enum Step {
    Registered,
    Heartbeat { fenced: bool },
    Reregister,
}

async fn register(
    broker: &Broker,
    link: &mut PeerLink,
) -> Result<Step, crate::protocol::ProtocolError> {
    let request = BrokerRegistrationRequest::default()
        .with_broker_id(broker.id().into())
        .with_cluster_id(StrBytes::from_string(broker.config.cluster_id.clone()))
        .with_incarnation_id(broker.incarnation)
        .with_listeners(vec![Listener::default()
            .with_name(StrBytes::from_static_str("PLAINTEXT"))
            .with_host(StrBytes::from_string(broker.config.host.clone()))
            .with_port(broker.addr.port())
            .with_security_protocol(0)])
        .with_rack(
            broker
                .config
                .rack
                .as_ref()
                .map(|r| StrBytes::from_string(r.clone())),
        );
    let response = link.call(broker, &request, 1, CALL_TIMEOUT).await?;
    if response.error_code != 0 {
        tracing::warn!(
            "broker {}: registration refused: {:?}",
            broker.id(),
            ResponseError::try_from_code(response.error_code)
        );
        return Ok(Step::Reregister);
    }
    broker
        .broker_epoch
        .store(response.broker_epoch, Ordering::SeqCst);
    tracing::debug!(
        "broker {} registered with epoch {}",
        broker.id(),
        response.broker_epoch
    );
    Ok(Step::Registered)
}

async fn heartbeat(
    broker: &Broker,
    link: &mut PeerLink,
) -> Result<Step, crate::protocol::ProtocolError> {
    let wants_shutdown = broker.wants_shutdown.load(Ordering::SeqCst);
    let request = BrokerHeartbeatRequest::default()
        .with_broker_id(broker.id().into())
        .with_broker_epoch(broker.broker_epoch())
        .with_current_metadata_offset(broker.image().offset)
        .with_want_shut_down(wants_shutdown);
    let response = link.call(broker, &request, 1, CALL_TIMEOUT).await?;
    if response.error_code == ResponseError::StaleBrokerEpoch.code() {
        return Ok(Step::Reregister);
    }
    if response.should_shut_down {
        broker.shutdown_granted.notify_one();
    }
    Ok(Step::Heartbeat {
        fenced: response.is_fenced,
    })
}
