//! The embedded backend: a controller and N brokers in this process, each with its own TCP
//! listener on loopback, talking to each other only over TCP. This is the control surface the
//! REPL, lessons and tests use to break things on purpose.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

use super::events::ClusterEvent;

use super::book::{BrokerBook, Slot};
use super::remote::BrokerDriver;
use super::snapshot::{
    BrokerCounters, BrokerState, BrokerStatus, ClusterSnapshot, ReplicaOffsets, TopicView,
};
use super::{BoxFuture, ClusterError, NotReady};
use crate::cluster::broker::{BrokerConfig, BrokerHandle, BrokerStorage};
use crate::cluster::controller::ControllerHandle;
use crate::cluster::BrokerId;
use crate::config::ClusterConfig;

/// How long `start` waits for every broker to register and be unfenced.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a controlled shutdown waits for the other brokers to apply its metadata.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(3);

/// The brokers of the embedded cluster, driven the way the processes and docker backends
/// drive theirs: each is a [`BrokerHandle`] in this process, and its storage outlives it like a
/// data directory, so a restarted broker comes back with its logs.
pub struct EmbeddedDriver {
    config: ClusterConfig,
    controller: String,
    book: BrokerBook<BrokerHandle>,
    storage: BTreeMap<i32, BrokerStorage>,
}

impl EmbeddedDriver {
    fn broker_config(&self, id: i32) -> BrokerConfig {
        BrokerConfig::new(id, &self.config, &self.controller)
    }

    /// Freezes or thaws a running broker; it takes effect at once.
    fn set_paused(&self, id: i32, paused: bool) -> Result<(), ClusterError> {
        self.book.running(id, |h| h.set_paused(paused))?;
        self.book.flag(id, Some(paused), None);
        Ok(())
    }

    /// Cuts a running broker off from its peers or reconnects it; it takes effect at once.
    fn isolate(&self, id: i32, isolated: bool) -> Result<(), ClusterError> {
        self.book.running(id, |h| h.set_isolated(isolated))?;
        self.book.flag(id, None, Some(isolated));
        Ok(())
    }

    /// Binds `addr`, retrying briefly: a port a stopped broker just released may linger.
    async fn rebind(addr: SocketAddr) -> Result<TcpListener, ClusterError> {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match bind(addr) {
                Ok(l) => return Ok(l),
                Err(e) if Instant::now() >= deadline => {
                    return Err(ClusterError::Bind {
                        addr: addr.to_string(),
                        cause: e,
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl BrokerDriver for EmbeddedDriver {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn brokers(&self) -> Vec<i32> {
        self.book.ids()
    }

    fn state(&self, id: i32) -> Option<BrokerState> {
        self.book.state(id)
    }

    fn stop(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            self.book.stoppable(id)?;
            let handle = self.book.running(id, BrokerHandle::clone)?;
            let granted = handle
                .shutdown(self.config.timings.broker_session_timeout * 2)
                .await;
            if !granted {
                tracing::warn!("broker {id}: the controller did not confirm the controlled shutdown; stopped anyway");
            }
            self.book.stopped(id);
            Ok(())
        })
    }

    fn kill(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let handle = self.book.running(id, BrokerHandle::clone)?;
            handle.kill().await;
            self.book.stopped(id);
            Ok(())
        })
    }

    fn start(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(async move {
            let addr: SocketAddr = self
                .book
                .startable(id)?
                .parse()
                .map_err(|_| ClusterError::NotRunning(id))?;
            let listener = Self::rebind(addr).await?;
            let storage = self.storage.get(&id).cloned().unwrap_or_default();
            let handle = BrokerHandle::start(listener, self.broker_config(id), storage)?;
            self.book.started(id, handle)
        })
    }

    fn pause(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(std::future::ready(self.set_paused(id, true)))
    }

    fn resume(&self, id: i32) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(std::future::ready(self.set_paused(id, false)))
    }

    fn set_isolated(&self, id: i32, isolated: bool) -> BoxFuture<'_, Result<(), ClusterError>> {
        Box::pin(std::future::ready(self.isolate(id, isolated)))
    }

    fn logs(&self, id: i32) -> BoxFuture<'_, Result<String, ClusterError>> {
        Box::pin(std::future::ready(
            self.book.with(id, |_| Err(ClusterError::LogsUnbuffered)),
        ))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for h in self.book.take_all() {
                h.kill().await;
            }
        })
    }
}

/// A running broker's request counters. They restart with the broker, as Kafka's do; a
/// broker that is down counts nothing.
fn counters(handle: &BrokerHandle) -> BrokerCounters {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = &handle.broker().stats;
    BrokerCounters {
        messages_in: stats.messages_in.load(Relaxed),
        failed_produce_requests: stats.failed_produce_requests.load(Relaxed),
    }
}

/// A running in-process cluster.
pub struct EmbeddedCluster {
    config: ClusterConfig,
    controller: ControllerHandle,
    driver: EmbeddedDriver,
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl EmbeddedCluster {
    /// Starts a controller and `config.brokers` brokers and waits until all are in the cluster.
    pub async fn start(config: ClusterConfig) -> Result<Self, ClusterError> {
        config.validate()?;
        let host = config.bind_ip()?;
        let controller_listener =
            bind(SocketAddr::new(host, 0)).map_err(|e| ClusterError::Bind {
                addr: format!("{host}:0"),
                cause: e,
            })?;
        let controller = ControllerHandle::start(controller_listener, &config)?;
        let mut driver = EmbeddedDriver {
            config: config.clone(),
            controller: controller.addr.to_string(),
            book: BrokerBook::default(),
            storage: BTreeMap::new(),
        };
        for id in 1..=config.brokers {
            let wanted = SocketAddr::new(host, config.broker_port(id)?);
            let listener = match bind(wanted) {
                Ok(l) => l,
                Err(e) => {
                    driver.shutdown().await;
                    controller.shutdown().await;
                    return Err(ClusterError::Bind {
                        addr: wanted.to_string(),
                        cause: e,
                    });
                }
            };
            let addr = listener.local_addr()?;
            let storage = BrokerStorage::default();
            let handle = BrokerHandle::start(listener, driver.broker_config(id), storage.clone())?;
            driver.storage.insert(id, storage);
            driver
                .book
                .insert(id, Slot::running(addr.to_string(), handle));
        }
        let cluster = Self {
            config,
            controller,
            driver,
        };
        let all: Vec<i32> = cluster.broker_ids();
        let ready = cluster
            .wait_for(READY_TIMEOUT, |s| {
                all.iter().all(|id| {
                    s.broker(*id)
                        .is_some_and(|b| !b.fenced && b.metadata_offset >= Some(s.metadata_offset))
                })
            })
            .await;
        if !ready {
            cluster.shutdown().await;
            return Err(ClusterError::NotReady(NotReady::NotJoined(READY_TIMEOUT)));
        }
        Ok(cluster)
    }

    /// The settings the cluster was started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The brokers' driver: what `cluster.stop`, `kill`, `pause` … do to them.
    pub fn driver(&self) -> &EmbeddedDriver {
        &self.driver
    }

    /// Comma-separated `host:port` of every broker, for `bootstrap.servers` or `kcat -b`.
    pub fn bootstrap(&self) -> String {
        self.driver.book.bootstrap()
    }

    /// Broker ids, ascending.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.driver.book.ids()
    }

    /// The address of broker `id`.
    pub fn broker_addr(&self, id: i32) -> Result<SocketAddr, ClusterError> {
        self.driver.book.with(id, |s| {
            s.addr.parse().map_err(|_| ClusterError::NotRunning(id))
        })
    }

    /// Controlled shutdown: the controller moves leadership away first, then the broker stops.
    /// Returns once the running brokers have applied the controller's change (or after
    /// [`SETTLE_TIMEOUT`]), so the next metadata request, to whichever broker, already
    /// shows the new leaders. Kafka's brokers catch up just as fast but nothing waits for
    /// them; a script's next line would race them.
    pub async fn stop_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.driver.stop(id).await?;
        self.wait_for(SETTLE_TIMEOUT, |s| {
            s.brokers
                .iter()
                .all(|b| b.state != BrokerState::Up || b.metadata_offset >= Some(s.metadata_offset))
        })
        .await;
        Ok(())
    }

    /// Crash: the broker's tasks and connections vanish at once; the controller finds out
    /// only when its heartbeats stop.
    pub async fn kill_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.driver.kill(id).await
    }

    /// Starts a stopped or killed broker on its old port with its old logs.
    pub async fn start_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.driver.start(id).await
    }

    /// Freezes the broker: it answers nothing and sends nothing, like `docker pause`.
    pub fn pause_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.driver.set_paused(id, true)
    }

    /// Thaws a paused broker.
    pub fn resume_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.driver.set_paused(id, false)
    }

    /// The controller node's address, for a test of what follows it from outside.
    #[cfg(test)]
    pub(crate) fn controller_addr(&self) -> String {
        self.controller.addr.to_string()
    }

    /// Freezes (true) or thaws (false) the controller node.
    pub fn freeze_controller(&self, paused: bool) {
        self.controller.set_paused(paused);
    }

    /// Cuts the broker off from its peers and the controller; clients can still reach it.
    pub fn isolate_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.driver.isolate(id, true)
    }

    /// Reconnects an isolated broker.
    pub fn heal_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.driver.isolate(id, false)
    }

    /// Runs a preferred-leader election for every partition; returns those that moved.
    pub fn elect_preferred_leaders(&self) -> Vec<(String, i32)> {
        self.controller.elect_preferred_leaders()
    }

    /// The cluster as the controller sees it, plus each replica's log end and high watermark
    /// as its broker holds them.
    pub fn snapshot(&self) -> ClusterSnapshot {
        let image = self.controller.image();
        let brokers = self.driver.book.each(|(id, s)| {
            let registration = image.brokers.get(id);
            BrokerStatus {
                id: BrokerId(*id),
                addr: s.addr.clone(),
                state: s.state(),
                fenced: registration.is_none_or(|b| b.fenced),
                metadata_offset: s.node.as_ref().map(|h| h.broker().image().offset),
                counters: Some(s.node.as_ref().map(counters).unwrap_or_default()),
            }
        });
        let storage = &self.driver.storage;
        let topics = TopicView::all_from_image(&image, |topic, partition, replica| {
            let (leo, hw) = storage.get(&replica)?.offsets(topic, partition)?;
            Some(ReplicaOffsets {
                broker: BrokerId(replica),
                log_end_offset: leo,
                high_watermark: hw,
            })
        });
        let controller = image.client_visible_controller();
        ClusterSnapshot {
            metadata_offset: image.offset,
            controller: (controller >= 0).then_some(BrokerId(controller)),
            brokers,
            topics,
        }
    }

    /// The generation of every group, read from the coordinators: Kafka's classic protocol
    /// tells only the group's members, so only this backend can show it.
    pub fn group_generations(&self) -> BTreeMap<String, i32> {
        let mut out = BTreeMap::new();
        self.driver.book.each(|(_, s)| {
            if let Some(h) = &s.node {
                let broker = h.broker();
                for g in broker.groups.list(broker) {
                    out.insert(g.id, g.generation);
                }
            }
        });
        out
    }

    /// A stream of cluster events (fencing, leader moves, ISR changes) from now on. The
    /// watcher ends when the receiver is dropped.
    pub(crate) fn watch_events(&self) -> mpsc::UnboundedReceiver<ClusterEvent> {
        super::events::watch(self.controller.subscribe(), |c| c.image.clone())
    }

    /// Polls the snapshot until `condition` holds or `timeout` passes. Returns whether it held.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&ClusterSnapshot) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if condition(&self.snapshot()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every broker (no controlled shutdown: the whole cluster is going away) and the
    /// controller.
    pub async fn shutdown(&self) {
        self.driver.shutdown().await;
        self.controller.shutdown().await;
    }
}
