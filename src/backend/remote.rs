//! A cluster that runs outside this process: watched over the Kafka protocol by an
//! [`Observer`], with broker control handed to a [`BrokerDriver`] (child processes, containers,
//! or nothing at all for a cluster the sandbox only attaches to).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;

use super::events::ClusterEvent;
use super::observer::Observer;
use super::snapshot::{BrokerState, BrokerStatus, ClusterSnapshot, TopicView};
use super::{BoxFuture, ClusterControl, ClusterError, NotReady};
use crate::cluster::BrokerId;

/// What a backend does to one broker. Every call names a broker the driver knows.
pub trait BrokerDriver: Send + Sync {
    /// The backend's name for people: `embedded`, `processes`, `docker`, `attach`.
    fn kind(&self) -> &'static str;
    /// Broker ids the driver controls (empty: it controls none).
    fn brokers(&self) -> Vec<i32>;
    /// The broker's state as the driver knows it (`None`: unknown, e.g. not controlled).
    fn state(&self, id: i32) -> Option<BrokerState>;
    /// Controlled shutdown.
    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Crash.
    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Start a stopped broker.
    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Freeze.
    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Thaw.
    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Cut off from peers (true) or reconnect (false).
    fn set_isolated(&self, id: i32, isolated: bool) -> BoxFuture<'_, Result<(), ClusterError>>;
    /// Recent log lines.
    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>>;
    /// Freeze (true) or thaw (false) the controller.
    fn set_controller_paused(&self, paused: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        let _ = paused;
        Box::pin(std::future::ready(Err(
            ClusterError::ControllerPauseUnsupported {
                backend: self.kind(),
            },
        )))
    }
    /// Remove everything the driver started (or, for adopted containers, put them back).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
    /// The address (`host:port`) of the sandbox controller the driver runs, for the observer
    /// to follow (`None`: the controller is not the sandbox's, or is hidden from clients).
    fn controller(&self) -> Option<String> {
        None
    }
    /// Why this driver cannot control brokers at all (`None`: it can).
    fn uncontrolled(&self) -> Option<super::attach::NoControl> {
        None
    }
}

/// A cluster watched over the wire and controlled through a driver.
pub struct RemoteCluster {
    bootstrap: String,
    observer: Observer,
    driver: Box<dyn BrokerDriver>,
}

impl RemoteCluster {
    /// Watches the cluster at `bootstrap` and waits up to `ready_timeout` until every broker
    /// the driver runs (or, with none, at least one broker) is in the metadata.
    pub async fn start(
        bootstrap: String,
        driver: Box<dyn BrokerDriver>,
        ready_timeout: Duration,
    ) -> Result<Self, ClusterError> {
        let expected = driver.brokers();
        let observer = Observer::start(
            bootstrap.split(',').map(str::to_string).collect(),
            &expected,
            driver.controller(),
        );
        let deadline = tokio::time::Instant::now() + ready_timeout;
        let in_metadata = observer
            .wait_for(ready_timeout, |image| {
                if expected.is_empty() {
                    !image.live_brokers().is_empty()
                } else {
                    expected.iter().all(|id| image.is_alive(*id))
                }
            })
            .await;
        let ready =
            in_metadata && accepts_create_topics(&bootstrap, expected.len(), deadline).await;
        if !ready {
            let seen = observer.image().live_brokers();
            driver.shutdown().await;
            return Err(ClusterError::NotReady(if in_metadata {
                NotReady::CreateTopicsRefused(ready_timeout)
            } else if expected.is_empty() {
                NotReady::NoAnswer {
                    bootstrap,
                    waited: ready_timeout,
                }
            } else {
                NotReady::MissingBrokers {
                    waited: ready_timeout,
                    seen,
                    expected,
                }
            }));
        }
        Ok(Self {
            bootstrap,
            observer,
            driver,
        })
    }

    /// Each live broker's advertised host and port, as the metadata gives them.
    pub(crate) fn advertised(&self) -> std::collections::BTreeMap<i32, (String, u16)> {
        self.observer
            .image()
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| (b.id, (b.host.clone(), b.port)))
            .collect()
    }

    fn broker_ids(&self) -> Vec<i32> {
        let mut ids: BTreeSet<i32> = self.driver.brokers().into_iter().collect();
        ids.extend(self.observer.image().brokers.keys().copied());
        ids.into_iter().collect()
    }

    fn checked<'a, T: Send + 'a>(
        &'a self,
        id: i32,
        call: impl FnOnce(&'a dyn BrokerDriver) -> BoxFuture<'a, Result<T, ClusterError>>,
    ) -> BoxFuture<'a, Result<T, ClusterError>> {
        match super::drive::known(id, self.broker_ids()) {
            Ok(()) => call(self.driver.as_ref()),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

/// Whether the cluster answers a validate-only CreateTopics without error before `deadline`:
/// brokers can be in the metadata before the controller will place replicas on them.
async fn accepts_create_topics(
    bootstrap: &str,
    brokers: usize,
    deadline: tokio::time::Instant,
) -> bool {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let replication = brokers.clamp(1, 3) as i16;
    let request = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(
                "kafka-sandbox-readiness-probe",
            )))
            .with_num_partitions(1)
            .with_replication_factor(replication)]);
    while tokio::time::Instant::now() < deadline {
        for addr in bootstrap.split(',') {
            let Ok(mut conn) = crate::protocol::client::Connection::connect(
                addr,
                "kafka-sandbox-readiness",
                Duration::from_secs(1),
            )
            .await
            else {
                continue;
            };
            if let Ok(response) = conn.call(&request, 7, Duration::from_secs(6)).await {
                // 0: would be created; 36: TOPIC_ALREADY_EXISTS. Either way the controller answers.
                if response
                    .topics
                    .iter()
                    .all(|t| t.error_code == 0 || t.error_code == 36)
                {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

impl ClusterControl for RemoteCluster {
    fn brokers(&self) -> Vec<i32> {
        self.broker_ids()
    }
    fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }
    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.checked(id, |d| d.stop(id))
    }
    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.checked(id, |d| d.kill(id))
    }
    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.checked(id, |d| d.start(id))
    }
    fn restart(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            super::drive::known(id, self.broker_ids())?;
            super::drive::restart(self.driver.as_ref(), id).await
        })
    }
    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.checked(id, |d| d.pause(id))
    }
    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.checked(id, |d| d.resume(id))
    }
    fn isolate(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.checked(id, |d| d.set_isolated(id, true))
    }
    fn set_controller_paused(&self, paused: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        self.driver.set_controller_paused(paused)
    }
    fn heal(&self, id: Option<i32>) -> BoxFuture<'_, Result<(), ClusterError>> {
        match id {
            Some(id) => self.checked(id, |d| d.set_isolated(id, false)),
            None => Box::pin(super::drive::heal(self.driver.as_ref(), None)),
        }
    }
    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        self.checked(id, |d| d.logs(id))
    }
    fn snapshot(&self) -> ClusterSnapshot {
        let image = self.observer.image();
        let brokers = self
            .broker_ids()
            .into_iter()
            .map(|id| {
                let seen = image.brokers.get(&id);
                let fenced = seen.is_none_or(|b| b.fenced);
                BrokerStatus {
                    id: BrokerId(id),
                    addr: seen
                        .filter(|b| b.port != 0)
                        .map(|b| format!("{}:{}", b.host, b.port))
                        .unwrap_or_else(|| "?".into()),
                    state: self.driver.state(id).unwrap_or(if fenced {
                        BrokerState::Down
                    } else {
                        BrokerState::Up
                    }),
                    fenced,
                    // A client cannot see these.
                    metadata_offset: None,
                    counters: None,
                }
            })
            .collect();
        let topics = TopicView::all_from_image(&image, |_, _, _| None);
        ClusterSnapshot {
            metadata_offset: image.offset,
            // Metadata names a controller, but for Apache Kafka in KRaft mode it is a random
            // broker (the real quorum is hidden from clients); the view does not pretend.
            controller: None,
            brokers,
            topics,
        }
    }
    fn events(&self) -> mpsc::UnboundedReceiver<ClusterEvent> {
        super::events::watch(self.observer.subscribe(), |image| image.clone())
    }
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.driver.shutdown()
    }
    fn kind(&self) -> &'static str {
        self.driver.kind()
    }
    fn uncontrolled(&self) -> Option<super::attach::NoControl> {
        self.driver.uncontrolled()
    }
}
