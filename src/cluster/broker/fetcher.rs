//! Follower replication. One fetcher task per leader broker (like Kafka's replica fetcher
//! threads) copies every partition this broker follows from that leader: first it asks the
//! leader where its own history diverged (OffsetForLeaderEpoch) and truncates, then it fetches
//! from its log end with its replica id, which is how the leader learns its progress.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;

use super::link::{Peer, PeerLink};
use super::partition::{Partition, Role};
use super::Broker;
use crate::protocol::client::Connection;
use crate::protocol::records::split_trusted;
use crate::protocol::ProtocolError;

/// Bytes per partition per follower fetch.
const PARTITION_FETCH_BYTES: i32 = 4 << 20;

/// Points this broker's fetchers at the leaders in `follow`, starting and stopping tasks.
pub fn assign(broker: &Arc<Broker>, follow: BTreeMap<i32, Vec<Arc<Partition>>>) {
    let mut fetchers = broker.fetchers.lock().expect("fetchers lock");
    fetchers.retain(|leader, tx| {
        if follow.contains_key(leader) {
            return true;
        }
        tx.send_replace(Vec::new());
        false
    });
    for (leader, replicas) in follow {
        match fetchers.get(&leader) {
            Some(tx) => {
                // Only a changed partition set interrupts the fetcher's long poll.
                let unchanged = {
                    let current = tx.borrow();
                    current.len() == replicas.len()
                        && current
                            .iter()
                            .zip(&replicas)
                            .all(|(a, b)| Arc::ptr_eq(a, b))
                };
                if !unchanged {
                    tx.send_replace(replicas);
                }
            }
            None => {
                let (tx, rx) = watch::channel(replicas);
                fetchers.insert(leader, tx);
                broker.node.spawn(run(broker.clone(), leader, rx));
            }
        }
    }
}

fn leader_addr(broker: &Broker, leader: i32) -> Option<String> {
    let image = broker.image();
    let b = image.brokers.get(&leader)?;
    Some(format!("{}:{}", b.host, b.port))
}

async fn run(
    broker: Arc<Broker>,
    leader: i32,
    mut partitions: watch::Receiver<Vec<Arc<Partition>>>,
) {
    let backoff = broker.config.timings.replica_fetch_backoff;
    let mut link: Option<PeerLink> = None;
    loop {
        broker.node.gate().await;
        let current: Vec<Arc<Partition>> = partitions.borrow_and_update().clone();
        if current.is_empty() {
            return;
        }
        let Some(addr) = leader_addr(&broker, leader) else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        let link = link.get_or_insert_with(|| PeerLink::new(Peer::Broker(addr.clone()), backoff));
        link.retarget(Peer::Broker(addr));
        let c = link.ready(&broker).await;
        let work = async {
            truncate_diverged(&broker, c, leader, &current).await?;
            fetch_once(&broker, c, leader, &current).await
        };
        // A new partition to follow must not wait out a long poll that does not include it:
        // abandon the request (and the connection it is pending on) and fetch again at once.
        let outcome = tokio::select! {
            outcome = work => outcome,
            _ = partitions.changed() => {
                link.reset();
                continue;
            }
        };
        match outcome {
            Ok(true) if !broker.node.is_isolated() => {}
            Ok(_) => tokio::time::sleep(backoff).await,
            Err(e) => {
                tracing::debug!("broker {}: fetch from {leader} failed: {e}", broker.id());
                link.reset();
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// Is `partition` still following `leader` at `epoch`?
fn follows(partition: &Partition, leader: i32, epoch: Option<i32>) -> bool {
    let st = partition.state();
    st.role == Role::Follower && st.leader == leader && epoch.is_none_or(|e| st.leader_epoch == e)
}

/// For replicas that just got a new leader epoch: ask the leader where our latest epoch ended
/// on its side and cut our log there, dropping whatever the old leader never committed.
async fn truncate_diverged(
    broker: &Broker,
    conn: &mut Connection,
    leader: i32,
    replicas: &[Arc<Partition>],
) -> Result<(), ProtocolError> {
    let pending: Vec<(Arc<Partition>, i32, Option<i32>)> = replicas
        .iter()
        .filter_map(|r| {
            let st = r.state();
            (st.needs_truncation && st.role == Role::Follower && st.leader == leader)
                .then(|| (r.clone(), st.leader_epoch, r.log().latest_epoch()))
        })
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut by_topic: BTreeMap<String, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for (r, current_epoch, latest) in &pending {
        by_topic.entry(r.topic.clone()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(r.index)
                .with_current_leader_epoch(*current_epoch)
                .with_leader_epoch(latest.unwrap_or(-1)),
        );
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(broker.id().into())
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t)))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = conn.call(&request, 4, Duration::from_secs(5)).await?;
    for topic in response.topics {
        for p in topic.partitions {
            let Some((partition, epoch, latest)) = pending
                .iter()
                .find(|(r, _, _)| r.topic == topic.topic.as_str() && r.index == p.partition)
            else {
                continue;
            };
            if p.error_code != 0 || !follows(partition, leader, Some(*epoch)) {
                continue;
            }
            let answer = latest.map(|_| (p.leader_epoch, p.end_offset));
            partition.truncate_to_leader(broker.id(), answer);
        }
    }
    Ok(())
}

/// One follower fetch for all ready partitions. Returns false if there was nothing to fetch.
async fn fetch_once(
    broker: &Broker,
    conn: &mut Connection,
    leader: i32,
    replicas: &[Arc<Partition>],
) -> Result<bool, ProtocolError> {
    let ready: Vec<(Arc<Partition>, i32, i64)> = replicas
        .iter()
        .filter_map(|r| {
            let st = r.state();
            (st.role == Role::Follower && st.leader == leader && !st.needs_truncation)
                .then(|| (r.clone(), st.leader_epoch, r.log().log_end_offset()))
        })
        .collect();
    if ready.is_empty() {
        return Ok(false);
    }
    let mut by_topic: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
    for (r, epoch, offset) in &ready {
        by_topic.entry(r.topic.clone()).or_default().push(
            FetchPartition::default()
                .with_partition(r.index)
                .with_current_leader_epoch(*epoch)
                .with_fetch_offset(*offset)
                .with_log_start_offset(r.log_start_offset())
                .with_partition_max_bytes(PARTITION_FETCH_BYTES),
        );
    }
    let wait = broker.config.timings.replica_fetch_wait_max;
    let request = FetchRequest::default()
        .with_replica_id(broker.id().into())
        .with_max_wait_ms(wait.as_millis() as i32)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t)))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = conn
        .call(&request, 12, wait + Duration::from_secs(5))
        .await?;
    if broker.node.is_isolated() {
        // Cut off while the fetch was waiting at the leader: its answer never arrives.
        return Ok(false);
    }
    let mut progressed = false;
    let mut fenced = false;
    for topic in response.responses {
        for p in topic.partitions {
            let Some((partition, epoch, offset)) = ready
                .iter()
                .find(|(r, _, _)| r.topic == topic.topic.as_str() && r.index == p.partition_index)
            else {
                continue;
            };
            broker.node.gate().await;
            if !follows(partition, leader, Some(*epoch)) {
                continue;
            }
            match ResponseError::try_from_code(p.error_code) {
                None => {
                    let batches = p.records.as_ref().map(split_trusted);
                    match partition.append_from_leader(*offset, batches, p.high_watermark) {
                        Ok(appended) => progressed |= appended,
                        Err(e) => tracing::warn!("broker {}: {e}", broker.id()),
                    }
                    if p.log_start_offset > 0 {
                        partition.follow_log_start(p.log_start_offset);
                    }
                }
                // Our log ends before the leader's start: nothing to reconcile, begin there.
                Some(ResponseError::OffsetOutOfRange) if p.log_start_offset > *offset => {
                    partition.restart_log_at(p.log_start_offset);
                    progressed = true;
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    partition.state().needs_truncation = true;
                }
                Some(_) => fenced = true,
            }
        }
    }
    if progressed {
        broker.notify_data_changed();
    }
    Ok(!fenced)
}
