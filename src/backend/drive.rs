//! What every backend does the same way on top of its [`BrokerDriver`]: check the broker
//! exists, restart as stop-then-start, heal every isolated broker.

use super::remote::BrokerDriver;
use super::snapshot::BrokerState;
use super::ClusterError;

/// Controlled stop, then start (like `docker restart`).
pub async fn restart(driver: &dyn BrokerDriver, id: i32) -> Result<(), ClusterError> {
    driver.stop(id).await?;
    driver.start(id).await
}

/// Reconnects broker `id`, or every isolated broker (a paused one too, once it is resumed:
/// isolation outlasts a pause).
pub async fn heal(driver: &dyn BrokerDriver, id: Option<i32>) -> Result<(), ClusterError> {
    match id {
        Some(id) => driver.set_isolated(id, false).await,
        None => {
            for id in driver.brokers() {
                if matches!(
                    driver.state(id),
                    Some(BrokerState::Isolated | BrokerState::Paused)
                ) {
                    driver.set_isolated(id, false).await?;
                }
            }
            Ok(())
        }
    }
}

/// Checks `id` is one of `known` before a driver call, with the error that lists them.
pub(crate) fn known(id: i32, known: Vec<i32>) -> Result<(), ClusterError> {
    if known.contains(&id) {
        Ok(())
    } else {
        Err(ClusterError::UnknownBroker {
            id: id.into(),
            known,
        })
    }
}
