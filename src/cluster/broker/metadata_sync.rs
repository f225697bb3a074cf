//! Following the controller: the broker long-polls `__cluster_metadata` with Fetch and applies
//! each new image — becoming leader or follower of its partitions at the image's leader epoch,
//! adopting committed ISR changes, dropping deleted topics, and re-pointing its fetchers.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::link::{Peer, PeerLink};
use super::partition::Partition;
use super::{fetcher, Broker};
use crate::cluster::image::MetadataImage;
use crate::cluster::metadata_log;

const METADATA_POLL: Duration = Duration::from_millis(1000);

/// Fetches and applies metadata until the node ends.
pub async fn run(broker: Arc<Broker>) {
    let backoff = broker.config.timings.replica_fetch_backoff;
    let mut link = PeerLink::new(Peer::Controller, backoff);
    loop {
        let next = broker.image().offset + 1;
        let request = metadata_log::fetch_request(broker.id(), next, METADATA_POLL);
        let timeout = METADATA_POLL + Duration::from_secs(2);
        let response = match link.call(&broker, &request, 12, timeout).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("broker {}: metadata fetch failed: {e}", broker.id());
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let records = response
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .and_then(|p| p.records.clone());
        if let Some(records) = records {
            match metadata_log::decode_latest(records) {
                Ok(Some(image)) if image.offset >= next => {
                    broker.node.gate().await;
                    apply_image(&broker, image);
                }
                Ok(_) => {}
                Err(e) => tracing::error!("broker {}: {e}", broker.id()),
            }
        }
    }
}

/// A deleted topic takes its committed offsets with it: drop them from the groups this broker
/// coordinates and record that in `__consumer_offsets`, so a re-created topic of the same name
/// starts clean.
fn forget_committed_offsets(broker: &Arc<Broker>, topic: &str) {
    use crate::cluster::group::StoredRecord;
    for (group, partitions) in broker.groups.forget_topic(topic) {
        let b = broker.clone();
        let topic = topic.to_string();
        broker.node.spawn(async move {
            let tombstones: Vec<StoredRecord> = partitions
                .iter()
                .map(|p| StoredRecord::Offset(group.clone(), topic.clone(), *p, None))
                .collect();
            let _ = b.groups.write(&b, &group, move |_| tombstones).await;
        });
    }
}

/// Applies a new image: roles, ISR, deletions, fetcher assignments.
pub(crate) fn apply_image(broker: &Arc<Broker>, image: MetadataImage) {
    let me = broker.id();
    let now = Instant::now();
    let mut follow: BTreeMap<i32, Vec<Arc<Partition>>> = BTreeMap::new();
    let mut hosted = HashSet::new();
    {
        let mut partitions = broker.partitions.write().expect("partitions lock");
        for (name, topic) in &image.topics {
            for (index, p) in topic.partitions.iter().enumerate() {
                let index = index as i32;
                if !p.replicas.contains(&me) {
                    continue;
                }
                hosted.insert((name.as_str(), index));
                let by_index = partitions.entry(name.clone()).or_default();
                let partition = match by_index.get(&index) {
                    Some(existing) if existing.topic_id == topic.id => existing.clone(),
                    _ => {
                        let log = broker.storage.open(topic.id, index);
                        let created = Arc::new(Partition::new(name, topic.id, index, log));
                        by_index.insert(index, created.clone());
                        created
                    }
                };
                let leader = partition.apply_metadata(me, p, topic.min_insync_replicas, now);
                if let Some(leader) = leader.filter(|l| image.brokers.contains_key(l)) {
                    follow.entry(leader).or_default().push(partition);
                }
            }
        }
        let live_topic_ids: HashSet<_> = image.topics.values().map(|t| t.id).collect();
        for (name, by_index) in partitions.iter_mut() {
            by_index.retain(|index, p| {
                let keep = hosted.contains(&(name.as_str(), *index))
                    && live_topic_ids.contains(&p.topic_id);
                if !keep && !live_topic_ids.contains(&p.topic_id) {
                    broker.storage.delete_topic(p.topic_id);
                }
                keep
            });
        }
        partitions.retain(|_, by_index| !by_index.is_empty());
        broker.roles_changed.fetch_add(1, Ordering::SeqCst);
    }
    let previous = broker.image();
    let replaced: Vec<String> = previous
        .topics
        .iter()
        .filter(|(name, t)| image.topics.get(*name).is_none_or(|now| now.id != t.id))
        .map(|(name, _)| name.clone())
        .collect();
    broker.image.send_replace(Arc::new(image));
    for topic in replaced {
        forget_committed_offsets(broker, &topic);
    }
    fetcher::assign(broker, follow);
    broker.data_changes().record_everything();
}
