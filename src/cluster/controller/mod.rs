//! The controller node. Brokers register and heartbeat with it, leaders send it ISR changes,
//! brokers forward admin requests to it, and every broker follows its metadata log over Fetch.
//! A ticker fences brokers whose heartbeats stop and runs the automatic leader rebalance.
//!
//! State sits behind one `std::sync::Mutex` owned by this node alone: every transition is a
//! short, synchronous call into [`state::ControllerState`], never held across an await.

pub mod handlers;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cluster::image::MetadataImage;
use crate::cluster::metadata_log;
use crate::cluster::node::NodeControl;
use crate::config::{ClusterConfig, Timings};
use crate::protocol::server::{accept_loop, ConnectionLimits};
use state::ControllerState;

/// The newest committed image and, once a broker has asked for it, its encoded record batch.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The image.
    pub image: Arc<MetadataImage>,
    /// The image as a `__cluster_metadata` record batch, encoded on first fetch: with
    /// thousands of partitions an image is a megabyte of JSON, and a burst of ISR changes
    /// commits many images that no broker ever fetches (brokers apply only the newest).
    batch: Arc<OnceLock<Bytes>>,
}

impl Committed {
    fn new(image: MetadataImage) -> Self {
        Self {
            image: Arc::new(image),
            batch: Arc::default(),
        }
    }

    /// The image as a record batch.
    pub fn batch(&self) -> Bytes {
        self.batch
            .get_or_init(|| metadata_log::encode(&self.image))
            .clone()
    }
}

/// Everything the controller's tasks share.
pub struct Controller {
    state: Mutex<ControllerState>,
    committed: watch::Sender<Committed>,
    timings: Timings,
}

impl Controller {
    /// Runs `f` on the state and publishes the result if it changed anything.
    pub(crate) fn transition<T>(&self, f: impl FnOnce(&mut ControllerState) -> T) -> T {
        let mut state = self.state.lock().expect("controller state lock");
        let out = f(&mut state);
        if let Some(image) = state.take_committed() {
            self.committed.send_replace(Committed::new(image));
        }
        out
    }

    /// A receiver of committed images.
    pub fn subscribe(&self) -> watch::Receiver<Committed> {
        self.committed.subscribe()
    }
}

/// A running controller.
pub(crate) struct ControllerHandle {
    /// Address brokers connect to.
    pub addr: SocketAddr,
    controller: Arc<Controller>,
    node: NodeControl,
}

impl ControllerHandle {
    /// Starts a controller on `listener`.
    pub fn start(listener: TcpListener, config: &ClusterConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = ControllerState::new(
            &config.cluster_id,
            config.topic_defaults.clone(),
            config.timings.broker_session_timeout,
        );
        let first = MetadataImage {
            cluster_id: config.cluster_id.clone(),
            ..Default::default()
        };
        let committed = watch::channel(Committed::new(first)).0;
        let controller = Arc::new(Controller {
            state: Mutex::new(state),
            committed,
            timings: config.timings.clone(),
        });
        let node = NodeControl::new();
        // Its peers are the brokers alone: no cap, and their links are never idle long.
        let limits = ConnectionLimits {
            max_connections: usize::MAX,
            max_idle: config.connections.max_idle,
        };
        node.spawn(accept_loop(
            listener,
            controller.clone(),
            node.clone(),
            limits,
        ));
        node.spawn(liveness_ticker(controller.clone(), node.clone()));
        node.spawn(leader_rebalance_ticker(controller.clone(), node.clone()));
        Ok(Self {
            addr,
            controller,
            node,
        })
    }

    /// The newest committed image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.controller.committed.borrow().image.clone()
    }

    /// A receiver that sees every committed image.
    pub fn subscribe(&self) -> watch::Receiver<Committed> {
        self.controller.subscribe()
    }

    /// Runs a preferred-leader election for every partition now (like
    /// `kafka-leader-election --election-type preferred --all-topic-partitions`).
    pub fn elect_preferred_leaders(&self) -> Vec<(String, i32)> {
        self.controller.transition(|s| {
            let targets: Vec<(String, i32)> = s
                .image()
                .topics
                .iter()
                .flat_map(|(n, t)| (0..t.partitions.len() as i32).map(move |i| (n.clone(), i)))
                .collect();
            targets
                .into_iter()
                .filter(|(n, i)| s.elect(n, *i, state::ElectionType::Preferred).is_ok())
                .collect()
        })
    }

    /// Freezes (true) or thaws (false) the controller, like SIGSTOP/SIGCONT of its process.
    pub fn set_paused(&self, paused: bool) {
        self.node.set_paused(paused);
    }

    /// Stops the controller.
    pub async fn shutdown(&self) {
        self.node.kill();
        self.node.wait_stopped().await;
    }
}

/// Fences brokers whose heartbeats stopped (see [`state::ControllerState::expire_sessions`],
/// which also knows what to do after the controller itself was paused).
async fn liveness_ticker(controller: Arc<Controller>, node: NodeControl) {
    let period = (controller.timings.broker_heartbeat_interval / 2).max(Duration::from_millis(20));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        node.gate().await;
        let fenced = controller.transition(|s| s.expire_sessions(Instant::now()));
        for id in fenced {
            tracing::info!("controller: broker {id} missed its heartbeats and was fenced");
        }
    }
}

async fn leader_rebalance_ticker(controller: Arc<Controller>, node: NodeControl) {
    let mut tick = tokio::time::interval(controller.timings.leader_imbalance_check_interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        node.gate().await;
        let moved = controller.transition(|s| s.rebalance_preferred_leaders());
        if !moved.is_empty() {
            tracing::info!("controller: preferred leaders restored for {moved:?}");
        }
    }
}
