//! Follower replication. One fetcher task per leader broker (like Kafka's replica fetcher
//! threads) copies every partition this broker follows from that leader: first it asks the
//! leader where its own history diverged (OffsetForLeaderEpoch) and truncates, then it fetches
//! from its log end with its replica id, which is how the leader learns its progress.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchTopic, ForgottenTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use tokio::sync::watch;

mod session;

use super::link::{Peer, PeerLink};
use super::partition::{Partition, Role};
use super::Broker;
use crate::protocol::client::Connection;
use crate::protocol::records::split_trusted;
use crate::protocol::ProtocolError;
use session::{FollowerSession, Ready};

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
    let mut session = FollowerSession::default();
    let mut current: Vec<Arc<Partition>> = Vec::new();
    // Thousands of partitions: copy the set only when it changed (the wait below sees the
    // change first, and marks it seen).
    let mut set_changed = true;
    loop {
        broker.node.gate().await;
        if set_changed || partitions.has_changed().unwrap_or(true) {
            current = partitions.borrow_and_update().clone();
            set_changed = false;
        }
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
            session.follow(&current);
            session.refresh(broker.roles_generation(), leader);
            let due = session.to_truncate().to_vec();
            if !due.is_empty() {
                truncate_diverged(&broker, c, leader, &session, &due).await?;
                for i in due {
                    session.touch(i);
                }
                session.refresh(broker.roles_generation(), leader);
            }
            fetch_once(&broker, c, leader, &mut session).await
        };
        // A new partition to follow must not wait out a long poll that does not include it:
        // abandon the request (and the connection it is pending on) and fetch again at once.
        // The abandoned request may or may not have reached the leader, so its session epoch
        // is unknown: the next fetch starts a new session.
        let outcome = tokio::select! {
            outcome = work => Some(outcome),
            _ = partitions.changed() => None,
        };
        match outcome {
            None => {
                set_changed = true;
                link.reset();
                session.reset();
            }
            Some(Ok(true)) if !broker.node.is_isolated() => {}
            Some(Ok(_)) => tokio::time::sleep(backoff).await,
            Some(Err(e)) => {
                tracing::debug!("broker {}: fetch from {leader} failed: {e}", broker.id());
                link.reset();
                session.reset();
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// Indexes what a request asked for by topic and partition, so that matching a response of
/// thousands of partitions costs one lookup each and copies nothing.
fn by_key<T>(asked: &[(Arc<Partition>, i32, T)]) -> Asked<'_, T> {
    let mut index: Asked<'_, T> = HashMap::new();
    for entry in asked {
        index
            .entry(entry.0.topic.as_str())
            .or_default()
            .insert(entry.0.index, entry);
    }
    index
}

/// What a request asked for, by topic and partition index.
type Asked<'a, T> = HashMap<&'a str, HashMap<i32, &'a (Arc<Partition>, i32, T)>>;

/// Is `partition` still following `leader` at `epoch`?
fn follows(partition: &Partition, leader: i32, epoch: Option<i32>) -> bool {
    let st = partition.state();
    st.role == Role::Follower && st.leader == leader && epoch.is_none_or(|e| st.leader_epoch == e)
}

/// For replicas that just got a new leader epoch (the session's positions `due`): ask the
/// leader where our latest epoch ended on its side and cut our log there, dropping whatever
/// the old leader never committed.
async fn truncate_diverged(
    broker: &Broker,
    conn: &mut Connection,
    leader: i32,
    session: &FollowerSession,
    due: &[usize],
) -> Result<(), ProtocolError> {
    let pending: Vec<(Arc<Partition>, i32, Option<i32>)> = due
        .iter()
        .map(|&i| &session.partitions()[i])
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
    let pending = by_key(&pending);
    for topic in response.topics {
        for p in topic.partitions {
            let Some((partition, epoch, latest)) = pending
                .get(topic.topic.as_str())
                .and_then(|t| t.get(&p.partition))
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

/// One follower fetch for all ready partitions (as of the session's last refresh). Returns
/// false if there was nothing to fetch.
async fn fetch_once(
    broker: &Broker,
    conn: &mut Connection,
    leader: i32,
    session: &mut FollowerSession,
) -> Result<bool, ProtocolError> {
    let ready: Vec<Ready> = session.ready().to_vec();
    if ready.iter().all(Option::is_none) {
        return Ok(false);
    }
    let mut plan = session.request(&ready);
    let wait = broker.config.timings.replica_fetch_wait_max;
    let request = FetchRequest::default()
        .with_replica_id(broker.id().into())
        .with_max_wait_ms(wait.as_millis() as i32)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_session_id(session.id_and_epoch().0)
        .with_session_epoch(session.id_and_epoch().1)
        .with_forgotten_topics_data(
            std::mem::take(&mut plan.forgotten)
                .into_iter()
                .map(|(t, ps)| {
                    ForgottenTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t)))
                        .with_partitions(ps)
                })
                .collect(),
        )
        .with_topics(
            std::mem::take(&mut plan.by_topic)
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
        session.reset();
        return Ok(false);
    }
    if response.error_code != 0 {
        // FETCH_SESSION_ID_NOT_FOUND or INVALID_FETCH_SESSION_EPOCH (the leader restarted or
        // evicted us): start over with a full fetch at once.
        tracing::debug!(
            "broker {}: fetch session with {leader} ended (error {}); fetching in full",
            broker.id(),
            response.error_code
        );
        session.reset();
        return Ok(true);
    }
    session.accepted(response.session_id, &ready, &plan);
    let mut progressed = false;
    let mut fenced = false;
    // The partitions this response may have changed here, for waiting fetches and for the
    // session's next refresh.
    let mut changed: Vec<Arc<Partition>> = Vec::new();
    for topic in response.responses {
        for p in topic.partitions {
            let Some(i) = session.position(topic.topic.as_str(), p.partition_index) else {
                continue;
            };
            let Some((epoch, offset)) = ready[i] else {
                continue;
            };
            let partition = session.partitions()[i].clone();
            session.touch(i);
            changed.push(partition.clone());
            let (epoch, offset) = (&epoch, &offset);
            broker.node.gate().await;
            if !follows(&partition, leader, Some(*epoch)) {
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
        broker.data_changes().record(&changed);
    }
    Ok(!fenced)
}
