//! A broker node: a Kafka listener for clients and peers, plus the background work that makes
//! it part of a cluster — registration and heartbeats ([`lifecycle`]), following the
//! controller's metadata log ([`metadata_sync`]), replicating as a follower ([`fetcher`]),
//! and keeping the ISR honest as a leader ([`isr`]). Request handling lives in [`api`], one
//! file per Kafka API family. The replication rules themselves — high watermark, ISR changes,
//! acks=all completion — have one owner, [`partition::Partition`].

pub mod api;
mod data_changes;
pub(crate) mod fetch_session;
pub mod fetcher;
pub mod isr;
pub mod lifecycle;
pub mod link;
pub mod metadata_sync;
pub mod partition;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};
use uuid::Uuid;

use crate::cluster::group::coordinator::GroupCoordinator;
use crate::cluster::group::types::GroupLimits;
use crate::cluster::image::MetadataImage;
use crate::cluster::log::PartitionLog;
use crate::cluster::node::NodeControl;
use crate::cluster::txn::coordinator::TxnCoordinator;
use crate::config::{ClusterConfig, Timings, TopicDefaults};
use crate::protocol::client::Connection;
use crate::protocol::server::{accept_loop, ConnectionLimits};
use crate::protocol::ProtocolError;
use partition::{IsrProposal, Partition};

/// A broker's logs, keyed by (topic id, partition). It outlives the broker the way a data
/// directory outlives a Kafka process, so a restarted broker comes back with its data: in
/// memory for the embedded cluster (the storage outlives the broker task), in a data
/// directory for a node that is its own process or container (the files outlive it).
#[derive(Clone, Debug, Default)]
pub(crate) struct BrokerStorage {
    logs: Arc<Mutex<HashMap<(Uuid, i32), SharedLog>>>,
    /// Where each partition's log file lives (`<topic id>-<partition>/`), if on disk.
    data_dir: Option<std::path::PathBuf>,
}

/// A partition log shared between the storage and the replica that writes it.
pub(crate) type SharedLog = Arc<Mutex<PartitionLog>>;

impl BrokerStorage {
    /// Storage whose logs are files under `dir`, read back when a partition is opened.
    pub fn on_disk(dir: std::path::PathBuf) -> Self {
        Self {
            logs: Arc::default(),
            data_dir: Some(dir),
        }
    }

    /// The log of a partition: what the data directory holds for it, or empty if new.
    pub fn open(&self, topic_id: Uuid, partition: i32) -> SharedLog {
        self.logs
            .lock()
            .expect("storage lock")
            .entry((topic_id, partition))
            .or_insert_with(|| Arc::new(Mutex::new(self.load(topic_id, partition))))
            .clone()
    }

    fn load(&self, topic_id: Uuid, partition: i32) -> PartitionLog {
        let Some(dir) = &self.data_dir else {
            return PartitionLog::default();
        };
        let dir = dir.join(format!("{topic_id}-{partition}"));
        PartitionLog::on_disk(&dir).unwrap_or_else(|e| {
            tracing::error!(
                "cannot use the log in {}: {e}; keeping this partition in memory only",
                dir.display()
            );
            PartitionLog::default()
        })
    }

    /// Deletes every log of a topic, with its files.
    pub(crate) fn delete_topic(&self, topic_id: Uuid) {
        let mut logs = self.logs.lock().expect("storage lock");
        if let Some(dir) = &self.data_dir {
            for (_, partition) in logs.keys().filter(|(id, _)| *id == topic_id) {
                let _ = std::fs::remove_dir_all(dir.join(format!("{topic_id}-{partition}")));
            }
        }
        logs.retain(|(id, _), _| *id != topic_id);
    }

    /// (log end offset, high watermark) of a partition, if this broker has its log.
    pub fn offsets(&self, topic_id: Uuid, partition: i32) -> Option<(i64, i64)> {
        let logs = self.logs.lock().expect("storage lock");
        let log = logs.get(&(topic_id, partition))?.lock().expect("log lock");
        Some((log.log_end_offset(), log.high_watermark()))
    }
}

/// One topic's partitions hosted here, by index.
type ByIndex = HashMap<i32, Arc<Partition>>;

/// Static settings of one broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Broker id.
    pub id: i32,
    /// Host to advertise.
    pub host: String,
    /// Where the controller listens (`host:port`).
    pub controller: String,
    /// Failover timers.
    pub timings: Timings,
    /// Topic defaults.
    pub topic_defaults: TopicDefaults,
    /// Cluster id.
    pub cluster_id: String,
    /// Connection cap and idle limit of its listener.
    pub connections: ConnectionLimits,
    /// `broker.rack`, if the cluster has racks.
    pub rack: Option<String>,
}

impl BrokerConfig {
    /// Settings for broker `id` of `cluster`.
    pub fn new(id: i32, cluster: &ClusterConfig, controller: &str) -> Self {
        Self {
            id,
            host: cluster.host.clone(),
            controller: controller.to_string(),
            timings: cluster.timings.clone(),
            topic_defaults: cluster.topic_defaults.clone(),
            cluster_id: cluster.cluster_id.clone(),
            rack: cluster.rack_of(id),
            // Embedded, every broker and the controller share one process's open files.
            connections: ConnectionLimits {
                max_connections: cluster
                    .connections
                    .per_broker(usize::try_from(cluster.brokers).unwrap_or(1) + 1),
                max_idle: cluster.connections.max_idle,
            },
        }
    }
}

/// What a broker counts about the requests it serves, as Kafka's JMX metrics do. Counters
/// start at zero with the broker process, like Kafka's.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Records appended as leader (`MessagesInPerSec`).
    pub messages_in: AtomicU64,
    /// Produce requests answered with an error (`FailedProduceRequestsPerSec`).
    pub failed_produce_requests: AtomicU64,
}

/// Everything a broker's tasks share. Owned by this broker alone.
pub struct Broker {
    /// Settings.
    pub config: BrokerConfig,
    /// Where clients reach this broker.
    pub addr: SocketAddr,
    /// Failure switches.
    pub node: NodeControl,
    storage: BrokerStorage,
    image: watch::Sender<Arc<MetadataImage>>,
    /// Hosted replicas by topic and index. Read on every fetch and produce, written only when
    /// a metadata image is applied.
    partitions: RwLock<HashMap<String, ByIndex>>,
    /// Bumped whenever an applied image may have changed which replicas exist or their roles,
    /// so a waiting fetch knows to look its partitions up again.
    roles_changed: AtomicU64,
    /// Every append, high-watermark or log-start move, and applied image; long polls wait
    /// on it and read only what moved.
    data_changes: data_changes::DataChanges,
    broker_epoch: AtomicI64,
    incarnation: Uuid,
    isr_proposals: mpsc::UnboundedSender<IsrProposal>,
    pub(crate) producer_ids: tokio::sync::Mutex<(i64, i64)>,
    fetchers: Mutex<HashMap<i32, watch::Sender<Vec<Arc<Partition>>>>>,
    fetch_sessions: fetch_session::FetchSessions,
    wants_shutdown: AtomicBool,
    shutdown_granted: Notify,
    heartbeat_now: Notify,
    /// The consumer groups this broker coordinates.
    pub groups: GroupCoordinator,
    /// The transactions this broker coordinates.
    pub transactions: TxnCoordinator,
    /// Request counters.
    pub stats: BrokerStats,
}

impl Broker {
    /// This broker's id.
    pub fn id(&self) -> i32 {
        self.config.id
    }

    /// The newest metadata image this broker has applied.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    /// A receiver of applied images.
    pub(crate) fn watch_image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.subscribe()
    }

    /// `topic`-`index`, if this broker hosts a replica of it.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .expect("partitions lock")
            .get(topic)
            .and_then(|by_index| by_index.get(&index))
            .cloned()
    }

    /// Looks up many partitions under one lock, in order.
    pub(crate) fn partitions_of<'a>(
        &self,
        keys: impl Iterator<Item = (&'a str, i32)>,
    ) -> Vec<Option<Arc<Partition>>> {
        let partitions = self.partitions.read().expect("partitions lock");
        // Keys come grouped by topic (a fetch lists a topic's partitions together): look the
        // topic up once per run, not once per partition.
        let mut topic_run: Option<(&str, Option<&ByIndex>)> = None;
        keys.map(|(topic, index)| {
            let by_index = match topic_run {
                Some((name, found)) if name == topic => found,
                _ => {
                    let found = partitions.get(topic);
                    topic_run = Some((topic, found));
                    found
                }
            };
            by_index?.get(&index).cloned()
        })
        .collect()
    }

    /// A number that changes whenever replicas or their roles may have changed.
    pub(crate) fn roles_generation(&self) -> u64 {
        self.roles_changed.load(Ordering::SeqCst)
    }

    /// Every partition hosted here.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .expect("partitions lock")
            .values()
            .flat_map(|by_index| by_index.values().cloned())
            .collect()
    }

    /// The incremental fetch sessions this broker serves.
    pub(crate) fn fetch_sessions(&self) -> &fetch_session::FetchSessions {
        &self.fetch_sessions
    }

    /// Which partitions' data moved: record changes here, and long polls read only those.
    pub(crate) fn data_changes(&self) -> &data_changes::DataChanges {
        &self.data_changes
    }

    /// A receiver that changes whenever data or roles change.
    pub(crate) fn watch_data(&self) -> watch::Receiver<u64> {
        self.data_changes.watch()
    }

    /// The registration epoch the controller gave this broker.
    pub(crate) fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::SeqCst)
    }

    /// Opens a connection to the controller; refused while isolated.
    pub(crate) async fn connect_controller(&self) -> Result<Connection, ProtocolError> {
        self.connect_peer(&self.config.controller).await
    }

    /// Opens a connection to a peer node; refused while isolated, like a cut network.
    pub(crate) async fn connect_peer(&self, addr: &str) -> Result<Connection, ProtocolError> {
        if self.node.is_isolated() {
            return Err(ProtocolError::Io(std::io::Error::new(
                std::io::ErrorKind::HostUnreachable,
                "this broker is isolated from its peers",
            )));
        }
        Connection::connect(
            addr,
            &format!("kafka-sandbox-broker-{}", self.id()),
            Duration::from_secs(2),
        )
        .await
    }

    /// Queues an ISR change for the controller.
    pub(crate) fn propose_isr(&self, proposal: IsrProposal) {
        let _ = self.isr_proposals.send(proposal);
    }
}

/// A running broker and its controls.
#[derive(Clone)]
pub(crate) struct BrokerHandle {
    broker: Arc<Broker>,
}

impl BrokerHandle {
    /// Starts a broker on `listener` with the logs in `storage`.
    pub fn start(
        listener: TcpListener,
        config: BrokerConfig,
        storage: BrokerStorage,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let node = NodeControl::new();
        let (isr_tx, isr_rx) = mpsc::unbounded_channel();
        let broker = Arc::new(Broker {
            addr,
            node: node.clone(),
            storage,
            image: watch::channel(Arc::new(MetadataImage::default())).0,
            partitions: RwLock::new(HashMap::new()),
            roles_changed: AtomicU64::new(0),
            data_changes: Default::default(),
            broker_epoch: AtomicI64::new(-1),
            incarnation: Uuid::new_v4(),
            isr_proposals: isr_tx,
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            fetchers: Mutex::new(HashMap::new()),
            fetch_sessions: fetch_session::FetchSessions::default(),
            wants_shutdown: AtomicBool::new(false),
            shutdown_granted: Notify::new(),
            heartbeat_now: Notify::new(),
            groups: GroupCoordinator::new(GroupLimits {
                min_session_timeout: config.timings.group_min_session_timeout,
                max_session_timeout: config.timings.group_max_session_timeout,
                initial_rebalance_delay: config.timings.group_initial_rebalance_delay,
            }),
            transactions: TxnCoordinator::default(),
            config,
            stats: BrokerStats::default(),
        });
        let limits = broker.config.connections;
        node.spawn(accept_loop(listener, broker.clone(), node.clone(), limits));
        node.spawn(lifecycle::run(broker.clone()));
        node.spawn(metadata_sync::run(broker.clone()));
        node.spawn(isr::run_shrink_checks(broker.clone()));
        node.spawn(isr::run_proposals(broker.clone(), isr_rx));
        node.spawn(crate::cluster::group::coordinator::run(broker.clone()));
        node.spawn(crate::cluster::txn::coordinator::run(broker.clone()));
        Ok(Self { broker })
    }

    /// The broker's shared state (for tests and snapshots).
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Controlled shutdown: asks the controller to move leadership away, waits until it
    /// agrees (or `timeout`), then stops. Returns false if the controller never agreed.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        self.broker.wants_shutdown.store(true, Ordering::SeqCst);
        self.broker.heartbeat_now.notify_one();
        let granted = tokio::time::timeout(timeout, self.broker.shutdown_granted.notified())
            .await
            .is_ok();
        self.kill().await;
        granted
    }

    /// Crash: every task ends at once; connections drop without a goodbye.
    pub async fn kill(&self) {
        self.broker.node.kill();
        self.broker.node.wait_stopped().await;
    }

    /// Freezes or thaws the broker.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.broker.node.set_paused(paused);
    }

    /// Cuts or restores the broker's links to peers and the controller.
    pub(crate) fn set_isolated(&self, isolated: bool) {
        self.broker.node.set_isolated(isolated);
    }
}
