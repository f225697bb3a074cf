//! Watches a cluster from outside, over the Kafka protocol only, the way `kafka-topics
//! --describe` would: a Metadata request every [`POLL_INTERVAL`] to the first broker that
//! answers, and DescribeConfigs once per new topic for `min.insync.replicas` and
//! `unclean.leader.election.enable`. Each answer becomes a [`MetadataImage`], so cluster events
//! come from the same diff the embedded cluster uses. Works against any Kafka: the sandbox's
//! own nodes, or Apache Kafka.
//!
//! Brokers missing from a Metadata answer are shown as fenced: outside the controller, that is
//! all a client can see.
//!
//! When the cluster's controller is the sandbox's own node (the processes backend and the
//! sandbox node image), the observer follows it instead, as a broker does: it long-polls the
//! controller's `__cluster_metadata` log and takes every image as the controller committed it,
//! with partition epochs, fencing and topic settings exact. A Metadata answer only says what
//! the answering broker has applied, which lags when that broker was just resumed, and two
//! changes between polls (an unclean election and the old leader's return to the ISR) read as
//! one that hides what happened.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{DescribeConfigsRequest, MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cluster::image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
use crate::cluster::metadata_log;
use crate::protocol::client::Connection;

/// How often the observer asks for metadata.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long one broker gets to answer before the next is tried.
const CALL_TIMEOUT: Duration = Duration::from_millis(1000);
/// How often the observer reads every topic's settings again, so one altered live (an
/// AlterConfigs of `unclean.leader.election.enable`, say) is judged by its new value.
const CONFIG_REFRESH: Duration = Duration::from_secs(1);
/// DescribeConfigs resource type for topics.
const TOPIC_RESOURCE: i8 = 2;

/// A running observer; dropping it stops the polling.
pub(crate) struct Observer {
    images: watch::Receiver<Arc<MetadataImage>>,
    stop: CancellationToken,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Observer {
    /// Starts watching: following the sandbox controller at `controller` (`host:port`) when
    /// there is one, else polling `bootstrap` (`host:port` each). `known` are broker ids to
    /// show even before they first answer (as fenced).
    pub fn start(bootstrap: Vec<String>, known: &[i32], controller: Option<String>) -> Self {
        let mut first = MetadataImage::default();
        with_known(&mut first, known);
        let (tx, images) = watch::channel(Arc::new(first.clone()));
        let stop = CancellationToken::new();
        if let Some(controller) = controller {
            tokio::spawn(follow_controller(
                controller,
                known.to_vec(),
                tx,
                stop.clone(),
            ));
            return Self { images, stop };
        }
        let mut poller = Poller {
            bootstrap,
            conn: None,
            image: first,
            topic_settings: HashMap::new(),
            settings_read: None,
        };
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                if let Some(image) = poller.poll().await {
                    tx.send_if_modified(|current| {
                        if **current == image {
                            return false;
                        }
                        *current = Arc::new(image);
                        true
                    });
                }
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
        });
        Self { images, stop }
    }

    /// The newest image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    /// A receiver that sees every new image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    /// Waits until `condition` holds for an image, or `timeout` passes. Returns whether it held.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&MetadataImage) -> bool,
    ) -> bool {
        let mut rx = self.images.clone();
        tokio::time::timeout(timeout, rx.wait_for(|image| condition(image)))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Adds the brokers in `known` the image does not have yet, as fenced (not registered).
fn with_known(image: &mut MetadataImage, known: &[i32]) {
    for id in known {
        image.brokers.entry(*id).or_insert_with(|| BrokerImage {
            id: *id,
            host: String::new(),
            port: 0,
            epoch: 0,
            fenced: true,
            rack: None,
        });
    }
}

/// How long the controller may hold a metadata fetch open when nothing changes.
const CONTROLLER_WAIT: Duration = Duration::from_millis(1000);

/// Follows the sandbox controller at `addr` as a broker does: long-polls its
/// `__cluster_metadata` log for the next image and publishes each one, until `stop`.
async fn follow_controller(
    addr: String,
    known: Vec<i32>,
    tx: watch::Sender<Arc<MetadataImage>>,
    stop: CancellationToken,
) {
    let mut conn: Option<Connection> = None;
    let mut next = 0;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let Some(c) = conn.as_mut() else {
            tokio::select! {
                _ = stop.cancelled() => return,
                connected = Connection::connect(&addr, "kafka-sandbox-observer", CALL_TIMEOUT) => {
                    match connected {
                        Ok(c) => conn = Some(c),
                        Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
                    }
                }
            }
            continue;
        };
        let request = metadata_log::fetch_request(-1, next, CONTROLLER_WAIT);
        let answer = tokio::select! {
            _ = stop.cancelled() => return,
            answer = c.call(&request, 12, CONTROLLER_WAIT + CALL_TIMEOUT) => answer,
        };
        let records = match answer {
            Ok(response) => response
                .responses
                .first()
                .and_then(|t| t.partitions.first())
                .and_then(|p| p.records.clone()),
            Err(_) => {
                // A frozen controller answers nothing; ask again on a new connection.
                conn = None;
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            }
        };
        match records.map(metadata_log::decode_latest) {
            Some(Ok(Some(mut image))) if image.offset >= next => {
                next = image.offset + 1;
                with_known(&mut image, &known);
                tx.send_replace(Arc::new(image));
            }
            Some(Err(e)) => tracing::warn!("observer: controller metadata unreadable: {e}"),
            _ => {}
        }
    }
}

/// Puts back, for each partition of `answer` (index, image), what `seen` holds if it was seen
/// with a newer leader epoch: an answer from a broker behind on metadata must not step the
/// image back to an older leadership.
fn keep_newer_leadership(seen: &TopicImage, answer: &mut [(i32, PartitionImage)]) {
    for (i, p) in answer {
        if let Some(newer) = usize::try_from(*i)
            .ok()
            .and_then(|i| seen.partitions.get(i))
            .filter(|old| old.leader_epoch > p.leader_epoch)
        {
            *p = newer.clone();
        }
    }
}

struct Poller {
    bootstrap: Vec<String>,
    conn: Option<Connection>,
    image: MetadataImage,
    /// `(min.insync.replicas, unclean.leader.election.enable)` by topic id.
    topic_settings: HashMap<Uuid, (i32, bool)>,
    /// When every topic's settings were last read.
    settings_read: Option<tokio::time::Instant>,
}

impl Poller {
    /// Every address worth trying: bootstrap first, then brokers learnt from metadata.
    fn candidates(&self) -> Vec<String> {
        let mut out = self.bootstrap.clone();
        for b in self.image.brokers.values().filter(|b| b.port != 0) {
            let addr = format!("{}:{}", b.host, b.port);
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        out
    }

    async fn metadata(&mut self) -> Option<MetadataResponse> {
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false);
        if let Some(conn) = self.conn.as_mut() {
            if let Ok(r) = conn.call(&request, 12, CALL_TIMEOUT).await {
                return Some(r);
            }
            self.conn = None;
        }
        for addr in self.candidates() {
            let Ok(mut conn) =
                Connection::connect(&addr, "kafka-sandbox-observer", CALL_TIMEOUT).await
            else {
                continue;
            };
            if let Ok(r) = conn.call(&request, 12, CALL_TIMEOUT).await {
                self.conn = Some(conn);
                return Some(r);
            }
        }
        None
    }

    async fn poll(&mut self) -> Option<MetadataImage> {
        let response = self.metadata().await?;
        let mut image = MetadataImage {
            offset: self.image.offset,
            cluster_id: response
                .cluster_id
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            brokers: self.image.brokers.clone(),
            topics: BTreeMap::new(),
        };
        for b in image.brokers.values_mut() {
            b.fenced = true;
        }
        for b in &response.brokers {
            let id = b.node_id.0;
            image.brokers.insert(
                id,
                BrokerImage {
                    id,
                    host: b.host.to_string(),
                    port: u16::try_from(b.port).unwrap_or(0),
                    epoch: 0,
                    fenced: false,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                },
            );
        }
        let refresh = self
            .settings_read
            .is_none_or(|at| at.elapsed() >= CONFIG_REFRESH);
        let mut to_describe = Vec::new();
        for t in &response.topics {
            let Some(name) = t.name.as_ref().map(|n| n.to_string()) else {
                continue;
            };
            if t.error_code != 0 {
                continue;
            }
            let mut partitions: Vec<(i32, PartitionImage)> = t
                .partitions
                .iter()
                .map(|p| {
                    (
                        p.partition_index,
                        PartitionImage {
                            replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                            isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                            leader: p.leader_id.0,
                            leader_epoch: p.leader_epoch,
                            partition_epoch: 0,
                        },
                    )
                })
                .collect();
            partitions.sort_by_key(|(i, _)| *i);
            // The answering broker may not have applied the latest metadata yet (one just
            // resumed, or lagging): like Kafka's clients, keep what was seen with a newer
            // leader epoch rather than step back to an older leadership.
            if let Some(seen) = self.image.topics.get(&name).filter(|s| s.id == t.topic_id) {
                keep_newer_leadership(seen, &mut partitions);
            }
            if refresh || !self.topic_settings.contains_key(&t.topic_id) {
                to_describe.push((name.clone(), t.topic_id));
            }
            image.topics.insert(
                name,
                TopicImage {
                    id: t.topic_id,
                    configs: BTreeMap::new(),
                    min_insync_replicas: 0,
                    unclean_leader_election: false,
                    partitions: partitions.into_iter().map(|(_, p)| p).collect(),
                },
            );
        }
        if !to_describe.is_empty() && self.describe_configs(&to_describe).await && refresh {
            self.settings_read = Some(tokio::time::Instant::now());
        }
        if refresh {
            self.topic_settings
                .retain(|id, _| image.topics.values().any(|t| t.id == *id));
        }
        for t in image.topics.values_mut() {
            if let Some((min_isr, unclean)) = self.topic_settings.get(&t.id) {
                t.min_insync_replicas = *min_isr;
                t.unclean_leader_election = *unclean;
            }
        }
        if image.brokers != self.image.brokers || image.topics != self.image.topics {
            image.offset += 1;
        }
        self.image = image.clone();
        Some(image)
    }

    /// Reads the settings of `topics`; false if no broker answered.
    async fn describe_configs(&mut self, topics: &[(String, Uuid)]) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        let request = DescribeConfigsRequest::default().with_resources(
            topics
                .iter()
                .map(|(name, _)| {
                    DescribeConfigsResource::default()
                        .with_resource_type(TOPIC_RESOURCE)
                        .with_resource_name(StrBytes::from_string(name.clone()))
                        .with_configuration_keys(Some(vec![
                            StrBytes::from_static_str("min.insync.replicas"),
                            StrBytes::from_static_str("unclean.leader.election.enable"),
                        ]))
                })
                .collect(),
        );
        let Ok(response) = conn.call(&request, 4, CALL_TIMEOUT).await else {
            return false;
        };
        for result in response.results.iter().filter(|r| r.error_code == 0) {
            let Some((_, id)) = topics
                .iter()
                .find(|(name, _)| name.as_str() == result.resource_name.as_str())
            else {
                continue;
            };
            let value = |key: &str| {
                result
                    .configs
                    .iter()
                    .find(|c| c.name.as_str() == key)
                    .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
            };
            let min_isr = value("min.insync.replicas")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let unclean = value("unclean.leader.election.enable").is_some_and(|v| v == "true");
            self.topic_settings.insert(*id, (min_isr, unclean));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;

    use super::*;
    use crate::backend::embedded::EmbeddedCluster;
    use crate::client::admin::Admin;
    use crate::config::ClusterConfig;

    fn led(leader: i32, leader_epoch: i32, isr: &[i32]) -> PartitionImage {
        PartitionImage {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch,
            partition_epoch: 0,
        }
    }

    #[test]
    fn an_answer_with_an_older_leader_epoch_keeps_the_newer_leadership_seen() {
        let seen = TopicImage {
            id: Uuid::nil(),
            configs: BTreeMap::new(),
            min_insync_replicas: 1,
            unclean_leader_election: false,
            partitions: vec![led(2, 5, &[2, 3]), led(1, 3, &[1, 2, 3])],
        };
        // A broker that just resumed still names 1 as partition 0's leader at epoch 4, and
        // already knows partition 1's newer leader.
        let mut answer = vec![(0, led(1, 4, &[1, 2, 3])), (1, led(3, 4, &[3, 1]))];
        keep_newer_leadership(&seen, &mut answer);
        assert_eq!(answer[0].1, led(2, 5, &[2, 3]), "kept the newer leadership");
        assert_eq!(answer[1].1, led(3, 4, &[3, 1]), "took the newer answer");
    }

    /// Following the controller, the observer has the controller's own images: partition
    /// epochs and topic settings a Metadata answer does not carry, and a killed broker fenced
    /// as soon as the controller fences it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn following_the_controller_gives_its_images_exactly() {
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .expect("the cluster starts");
        let bootstrap = cluster.bootstrap();
        Admin::new(&bootstrap)
            .create_topic(
                "followed",
                2,
                3,
                &[("unclean.leader.election.enable".into(), "true".into())],
            )
            .await
            .unwrap();
        let observer = Observer::start(Vec::new(), &[1, 2, 3, 4], Some(cluster.controller_addr()));
        let seen = observer
            .wait_for(Duration::from_secs(5), |i| {
                i.topics.contains_key("followed")
            })
            .await;
        assert!(seen, "the observer follows the controller");
        let image = observer.image();
        let topic = &image.topics["followed"];
        assert!(
            topic.unclean_leader_election,
            "settings come with the image"
        );
        assert!(
            image.brokers[&4].fenced && image.brokers[&4].port == 0,
            "a known broker that never registered is shown fenced"
        );
        cluster.kill_broker(2).await.unwrap();
        let fenced = observer
            .wait_for(Duration::from_secs(10), |i| {
                i.brokers.get(&2).is_some_and(|b| b.fenced)
            })
            .await;
        assert!(
            fenced,
            "the controller's fencing of broker 2 reaches the observer"
        );
    }

    /// A topic's settings are read again while the observer runs: one turned on by an outside
    /// client's AlterConfigs reaches the image, so an election after it is judged by it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_topic_setting_altered_live_reaches_the_image() {
        let cluster = EmbeddedCluster::start(ClusterConfig::default())
            .await
            .expect("the cluster starts");
        let bootstrap = cluster.bootstrap();
        Admin::new(&bootstrap)
            .create_topic("altered", 1, 3, &[])
            .await
            .unwrap();
        let observer = Observer::start(
            bootstrap.split(',').map(str::to_string).collect(),
            &[],
            None,
        );
        let allows = |image: &MetadataImage| {
            image
                .topics
                .get("altered")
                .map(|t| t.unclean_leader_election)
        };
        assert!(
            observer
                .wait_for(Duration::from_secs(5), |i| allows(i) == Some(false))
                .await,
            "the observer sees the topic"
        );
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .create()
            .unwrap();
        let alter = AlterConfig::new(ResourceSpecifier::Topic("altered"))
            .set("unclean.leader.election.enable", "true");
        let results = admin
            .alter_configs(&[alter], &AdminOptions::new())
            .await
            .unwrap();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert!(
            observer
                .wait_for(Duration::from_secs(5), |i| allows(i) == Some(true))
                .await,
            "the altered setting reached the image: {:?}",
            observer.image().topics.get("altered")
        );
    }
}
