//! The embedded backend: a controller and N brokers in this process, each with its own TCP
//! listener on loopback, talking to each other only over TCP. This is the control surface the
//! REPL, lessons and tests use to break things on purpose.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc;

use super::events::ClusterEvent;

use super::snapshot::{BrokerState, BrokerStatus, ClusterSnapshot, ReplicaOffsets, TopicSnapshot};
use super::ClusterError;
use crate::cluster::broker::{BrokerConfig, BrokerHandle, BrokerStorage};
use crate::cluster::controller::ControllerHandle;
use crate::config::ClusterConfig;

/// How long `start` waits for every broker to register and be unfenced.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

struct BrokerSlot {
    addr: SocketAddr,
    storage: BrokerStorage,
    running: Option<BrokerHandle>,
    paused: bool,
    isolated: bool,
}

/// A running in-process cluster.
pub struct EmbeddedCluster {
    config: ClusterConfig,
    controller: ControllerHandle,
    slots: Mutex<BTreeMap<i32, BrokerSlot>>,
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
        if config.brokers < 1 {
            return Err(ClusterError::InvalidConfig(
                "a cluster needs at least one broker".into(),
            ));
        }
        let host: std::net::IpAddr = config.host.parse().map_err(|_| {
            ClusterError::InvalidConfig(format!("'{}' is not an IP address to bind", config.host))
        })?;
        let controller_listener =
            bind(SocketAddr::new(host, 0)).map_err(|e| ClusterError::Bind {
                addr: format!("{host}:0"),
                cause: e,
            })?;
        let controller = ControllerHandle::start(controller_listener, &config)?;
        let mut slots = BTreeMap::new();
        for id in 1..=config.brokers {
            let port = if config.base_port == 0 {
                0
            } else {
                config
                    .base_port
                    .checked_add((id - 1) as u16)
                    .ok_or_else(|| {
                        ClusterError::InvalidConfig("port range overflows 65535".into())
                    })?
            };
            let wanted = SocketAddr::new(host, port);
            let listener = match bind(wanted) {
                Ok(l) => l,
                Err(e) => {
                    for slot in slots.values() {
                        let slot: &BrokerSlot = slot;
                        if let Some(b) = &slot.running {
                            b.kill().await;
                        }
                    }
                    controller.shutdown().await;
                    return Err(ClusterError::Bind {
                        addr: wanted.to_string(),
                        cause: e,
                    });
                }
            };
            let addr = listener.local_addr()?;
            let storage = BrokerStorage::default();
            let handle = BrokerHandle::start(
                listener,
                BrokerConfig::new(id, &config, &controller.addr.to_string()),
                storage.clone(),
            )?;
            slots.insert(
                id,
                BrokerSlot {
                    addr,
                    storage,
                    running: Some(handle),
                    paused: false,
                    isolated: false,
                },
            );
        }
        let cluster = Self {
            config,
            controller,
            slots: Mutex::new(slots),
        };
        let all: Vec<i32> = cluster.broker_ids();
        let ready = cluster
            .wait_for(READY_TIMEOUT, |s| {
                all.iter().all(|id| {
                    s.broker(*id)
                        .is_some_and(|b| !b.fenced && b.metadata_offset >= s.metadata_offset)
                })
            })
            .await;
        if !ready {
            cluster.shutdown().await;
            return Err(ClusterError::NotReady(format!(
                "brokers did not join the controller within {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        Ok(cluster)
    }

    /// The settings the cluster was started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Comma-separated `host:port` of every broker, for `bootstrap.servers` or `kcat -b`.
    pub fn bootstrap(&self) -> String {
        self.slots
            .lock()
            .expect("slots lock")
            .values()
            .map(|s| s.addr.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Broker ids, ascending.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.slots
            .lock()
            .expect("slots lock")
            .keys()
            .copied()
            .collect()
    }

    /// The address of broker `id`.
    pub fn broker_addr(&self, id: i32) -> Result<SocketAddr, ClusterError> {
        self.with_slot(id, |s| Ok(s.addr))
    }

    fn with_slot<T>(
        &self,
        id: i32,
        f: impl FnOnce(&mut BrokerSlot) -> Result<T, ClusterError>,
    ) -> Result<T, ClusterError> {
        let mut slots = self.slots.lock().expect("slots lock");
        let known: Vec<i32> = slots.keys().copied().collect();
        let slot = slots.get_mut(&id).ok_or(ClusterError::UnknownBroker {
            id: id.into(),
            known,
        })?;
        f(slot)
    }

    fn running(&self, id: i32) -> Result<BrokerHandle, ClusterError> {
        self.with_slot(id, |s| {
            s.running.clone().ok_or(ClusterError::NotRunning(id))
        })
    }

    /// Controlled shutdown: the controller moves leadership away first, then the broker stops.
    pub async fn stop_broker(&self, id: i32) -> Result<(), ClusterError> {
        let handle = self.running(id)?;
        self.with_slot(id, |s| {
            if s.paused {
                return Err(ClusterError::Paused(id));
            }
            Ok(())
        })?;
        let granted = handle
            .shutdown(self.config.timings.broker_session_timeout * 2)
            .await;
        if !granted {
            tracing::warn!("broker {id}: the controller did not confirm the controlled shutdown; stopped anyway");
        }
        self.with_slot(id, |s| {
            s.running = None;
            s.isolated = false;
            Ok(())
        })
    }

    /// Crash: the broker's tasks and connections vanish at once; the controller finds out
    /// only when its heartbeats stop.
    pub async fn kill_broker(&self, id: i32) -> Result<(), ClusterError> {
        let handle = self.running(id)?;
        handle.kill().await;
        self.with_slot(id, |s| {
            s.running = None;
            s.paused = false;
            s.isolated = false;
            Ok(())
        })
    }

    /// Starts a stopped or killed broker on its old port with its old logs.
    pub async fn start_broker(&self, id: i32) -> Result<(), ClusterError> {
        let (addr, storage) = self.with_slot(id, |s| {
            if s.running.is_some() {
                return Err(ClusterError::AlreadyRunning(id));
            }
            Ok((s.addr, s.storage.clone()))
        })?;
        let deadline = Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match bind(addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() >= deadline => {
                    return Err(ClusterError::Bind {
                        addr: addr.to_string(),
                        cause: e,
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let handle = BrokerHandle::start(
            listener,
            BrokerConfig::new(id, &self.config, &self.controller.addr.to_string()),
            storage,
        )?;
        self.with_slot(id, |s| {
            s.running = Some(handle);
            Ok(())
        })
    }

    /// Controlled stop followed by a start (like `docker restart`).
    pub async fn restart_broker(&self, id: i32) -> Result<(), ClusterError> {
        self.stop_broker(id).await?;
        self.start_broker(id).await
    }

    /// Freezes the broker: it answers nothing and sends nothing, like `docker pause`.
    pub fn pause_broker(&self, id: i32) -> Result<(), ClusterError> {
        let handle = self.running(id)?;
        handle.set_paused(true);
        self.with_slot(id, |s| {
            s.paused = true;
            Ok(())
        })
    }

    /// Thaws a paused broker.
    pub fn resume_broker(&self, id: i32) -> Result<(), ClusterError> {
        let handle = self.running(id)?;
        handle.set_paused(false);
        self.with_slot(id, |s| {
            s.paused = false;
            Ok(())
        })
    }

    /// Cuts the broker off from its peers and the controller; clients can still reach it.
    pub fn isolate_broker(&self, id: i32) -> Result<(), ClusterError> {
        let handle = self.running(id)?;
        handle.set_isolated(true);
        self.with_slot(id, |s| {
            s.isolated = true;
            Ok(())
        })
    }

    /// Reconnects an isolated broker.
    pub fn heal_broker(&self, id: i32) -> Result<(), ClusterError> {
        let handle = self.running(id)?;
        handle.set_isolated(false);
        self.with_slot(id, |s| {
            s.isolated = false;
            Ok(())
        })
    }

    /// Reconnects every isolated broker.
    pub fn heal_all(&self) {
        for id in self.broker_ids() {
            let _ = self.heal_broker(id);
        }
    }

    /// Runs a preferred-leader election for every partition; returns those that moved.
    pub fn elect_preferred_leaders(&self) -> Vec<(String, i32)> {
        self.controller.elect_preferred_leaders()
    }

    /// The cluster as the controller sees it, plus each replica's log end and high watermark
    /// as its broker holds them.
    pub fn snapshot(&self) -> ClusterSnapshot {
        let image = self.controller.image();
        let slots = self.slots.lock().expect("slots lock");
        let brokers = slots
            .iter()
            .map(|(id, s)| {
                let state = match (&s.running, s.paused, s.isolated) {
                    (None, _, _) => BrokerState::Down,
                    (Some(_), true, _) => BrokerState::Paused,
                    (Some(_), false, true) => BrokerState::Isolated,
                    (Some(_), false, false) => BrokerState::Up,
                };
                let registration = image.brokers.get(id);
                BrokerStatus {
                    id: *id,
                    addr: s.addr.to_string(),
                    state,
                    fenced: registration.is_none_or(|b| b.fenced),
                    metadata_offset: s.running.as_ref().map_or(-1, |h| h.broker().image().offset),
                }
            })
            .collect();
        let topics = TopicSnapshot::all_from_image(&image, |topic, partition, replica| {
            let (leo, hw) = slots.get(&replica)?.storage.offsets(topic, partition)?;
            Some(ReplicaOffsets {
                broker: replica,
                log_end_offset: leo,
                high_watermark: hw,
            })
        });
        ClusterSnapshot {
            metadata_offset: image.offset,
            brokers,
            topics,
        }
    }

    /// A stream of cluster events (fencing, leader moves, ISR changes) from now on. The
    /// watcher ends when the receiver is dropped.
    pub fn watch_events(&self) -> mpsc::UnboundedReceiver<ClusterEvent> {
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
        let handles: Vec<BrokerHandle> = {
            let mut slots = self.slots.lock().expect("slots lock");
            slots
                .values_mut()
                .filter_map(|s| s.running.take())
                .collect()
        };
        for h in handles {
            h.kill().await;
        }
        self.controller.shutdown().await;
    }
}
