//! Following the controller: the broker long-polls `__cluster_metadata` with Fetch and applies
//! each new image — becoming leader or follower of its partitions at the image's leader epoch,
//! adopting committed ISR changes, dropping deleted topics, and re-pointing its fetchers.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::replica::{Replica, Role};
use super::{fetcher, Broker};
use crate::cluster::image::{MetadataImage, NO_LEADER};
use crate::cluster::metadata_log::{self, METADATA_TOPIC};
use crate::protocol::client::Connection;

const METADATA_POLL: Duration = Duration::from_millis(1000);

/// Fetches and applies metadata until the node ends.
pub async fn run(broker: Arc<Broker>) {
    let backoff = broker.config.timings.replica_fetch_backoff;
    let mut conn: Option<Connection> = None;
    loop {
        broker.node.gate().await;
        if broker.node.is_isolated() {
            conn = None;
            tokio::time::sleep(backoff).await;
            continue;
        }
        if conn.is_none() {
            match broker.connect_controller().await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let next = broker.image().offset + 1;
        let request = FetchRequest::default()
            .with_replica_id(broker.id().into())
            .with_max_wait_ms(METADATA_POLL.as_millis() as i32)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                .with_partitions(vec![FetchPartition::default()
                    .with_fetch_offset(next)
                    .with_partition_max_bytes(64 << 20)])]);
        let c = conn.as_mut().expect("connected above");
        let response = match c
            .call(&request, 12, METADATA_POLL + Duration::from_secs(2))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("broker {}: metadata fetch failed: {e}", broker.id());
                conn = None;
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
pub fn apply_image(broker: &Arc<Broker>, image: MetadataImage) {
    let me = broker.id();
    let now = Instant::now();
    let mut follow: BTreeMap<i32, Vec<Arc<Replica>>> = BTreeMap::new();
    let mut hosted = HashSet::new();
    {
        let mut replicas = broker.replicas.lock().expect("replicas lock");
        for (name, topic) in &image.topics {
            for (index, p) in topic.partitions.iter().enumerate() {
                let index = index as i32;
                if !p.replicas.contains(&me) {
                    continue;
                }
                hosted.insert((name.clone(), index));
                let key = (name.clone(), index);
                let replica = match replicas.get(&key) {
                    Some(r) if r.topic_id == topic.id => r.clone(),
                    _ => {
                        let log = broker.storage.open(topic.id, index);
                        let r = Arc::new(Replica::new(name, topic.id, index, log));
                        replicas.insert(key, r.clone());
                        r
                    }
                };
                let mut st = replica.state();
                st.replicas = p.replicas.clone();
                st.min_insync_replicas = topic.min_insync_replicas;
                if p.leader == me {
                    if st.role != Role::Leader || st.leader_epoch != p.leader_epoch {
                        st.become_leader(me, p.leader_epoch, p.partition_epoch, &p.isr, now);
                        let mut log = replica.log();
                        log.start_epoch(p.leader_epoch);
                        let hw = st.high_watermark(me, log.log_end_offset());
                        if hw > log.high_watermark() {
                            log.set_high_watermark(hw);
                        }
                        tracing::debug!(
                            "broker {me}: leader of {name}-{index} at epoch {}",
                            p.leader_epoch
                        );
                    } else if p.partition_epoch > st.partition_epoch {
                        st.partition_epoch = p.partition_epoch;
                        st.isr = p.isr.clone();
                        st.pending_isr = None;
                    }
                } else {
                    let role = if p.leader == NO_LEADER {
                        Role::Offline
                    } else {
                        Role::Follower
                    };
                    if st.role != role || st.leader != p.leader || st.leader_epoch != p.leader_epoch
                    {
                        st.role = role;
                        st.leader = p.leader;
                        st.leader_epoch = p.leader_epoch;
                        st.needs_truncation = true;
                        st.pending_isr = None;
                        st.followers.clear();
                    }
                    st.partition_epoch = p.partition_epoch;
                    st.isr = p.isr.clone();
                    if role == Role::Follower && image.brokers.contains_key(&p.leader) {
                        follow.entry(p.leader).or_default().push(replica.clone());
                    }
                }
            }
        }
        let live_topic_ids: HashSet<_> = image.topics.values().map(|t| t.id).collect();
        replicas.retain(|key, r| {
            let keep = hosted.contains(key) && live_topic_ids.contains(&r.topic_id);
            if !keep && !live_topic_ids.contains(&r.topic_id) {
                broker.storage.delete_topic(r.topic_id);
            }
            keep
        });
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
    broker.notify_data_changed();
}
