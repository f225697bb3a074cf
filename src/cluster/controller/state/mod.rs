//! The controller's decisions as pure transitions of (state, event, now), with no I/O and no
//! clock of its own. This file holds the state and broker membership — registration,
//! heartbeats, fencing by session timeout; [`topics`] creates and deletes topics;
//! [`partitions`] elects leaders and changes ISRs.

mod configs;
pub mod partitions;
#[cfg(test)]
mod tests;
pub mod topics;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::cluster::image::{BrokerImage, MetadataImage, NO_LEADER};
use crate::cluster::{KafkaError, ResponseError};
use crate::config::TopicDefaults;

use partitions::elect_leader;
pub(crate) use partitions::ElectionType;
pub(crate) use topics::validate_topic_name;
pub use topics::NewTopic;

/// Liveness bookkeeping for one registered broker.
#[derive(Debug, Clone)]
struct Session {
    incarnation: Uuid,
    last_heartbeat: Instant,
    /// The broker may be unfenced once its metadata has reached this offset: it must have
    /// seen its own registration or fencing before it is trusted with leadership again.
    unfence_after_offset: i64,
    shut_down: bool,
}

/// What a heartbeat tells the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeartbeatReply {
    /// The broker's metadata has reached what the controller needs it to have seen.
    pub is_caught_up: bool,
    /// The broker is fenced.
    pub is_fenced: bool,
    /// Controlled shutdown is complete: the broker may exit.
    pub should_shut_down: bool,
}

/// The controller's state: the current image plus liveness sessions.
#[derive(Debug)]
pub(crate) struct ControllerState {
    image: MetadataImage,
    sessions: BTreeMap<i32, Session>,
    next_broker_epoch: i64,
    next_producer_id: i64,
    defaults: TopicDefaults,
    session_timeout: Duration,
    /// When [`Self::expire_sessions`] last ran.
    last_liveness_check: Option<Instant>,
    changed: bool,
}

impl ControllerState {
    /// An empty cluster.
    pub fn new(cluster_id: &str, defaults: TopicDefaults, session_timeout: Duration) -> Self {
        Self {
            image: MetadataImage {
                offset: 0,
                cluster_id: cluster_id.to_string(),
                ..Default::default()
            },
            sessions: BTreeMap::new(),
            next_broker_epoch: 1,
            next_producer_id: 1000,
            defaults,
            session_timeout,
            last_liveness_check: None,
            changed: false,
        }
    }

    /// The current (possibly uncommitted) image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// If anything changed since the last call, commits the change as the next metadata
    /// offset and returns the new image.
    pub(crate) fn take_committed(&mut self) -> Option<MetadataImage> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        self.image.offset += 1;
        Some(self.image.clone())
    }

    fn next_offset(&self) -> i64 {
        self.image.offset + 1
    }

    /// BrokerRegistration: a broker (re)starting. A new incarnation of a broker that is still
    /// registered first fences the old one, because whatever it led is gone with that process.
    pub(crate) fn register(
        &mut self,
        id: i32,
        incarnation: Uuid,
        host: &str,
        port: u16,
        rack: Option<String>,
        now: Instant,
    ) -> Result<i64, KafkaError> {
        if id < 0 {
            return Err(KafkaError::new(
                ResponseError::InvalidRequest,
                "broker ids must be non-negative",
            ));
        }
        if let (Some(session), Some(broker)) = (self.sessions.get(&id), self.image.brokers.get(&id))
        {
            if session.incarnation == incarnation {
                return Ok(broker.epoch);
            }
            if !broker.fenced {
                self.fence(id);
            }
        }
        let epoch = self.next_broker_epoch;
        self.next_broker_epoch += 1;
        self.image.brokers.insert(
            id,
            BrokerImage {
                id,
                host: host.to_string(),
                port,
                epoch,
                fenced: true,
                rack,
            },
        );
        self.sessions.insert(
            id,
            Session {
                incarnation,
                last_heartbeat: now,
                unfence_after_offset: self.next_offset(),
                shut_down: false,
            },
        );
        self.changed = true;
        Ok(epoch)
    }

    /// BrokerHeartbeat. Unfences a broker whose metadata has caught up; runs a controlled
    /// shutdown (leadership moved away first) when the broker asks for one.
    pub fn heartbeat(
        &mut self,
        id: i32,
        epoch: i64,
        metadata_offset: i64,
        want_shut_down: bool,
        now: Instant,
    ) -> Result<HeartbeatReply, KafkaError> {
        let registered_epoch = self.image.brokers.get(&id).map(|b| b.epoch);
        if registered_epoch != Some(epoch) {
            return Err(KafkaError::new(
                ResponseError::StaleBrokerEpoch,
                format!("broker {id} epoch {epoch} is not the registered one; register again"),
            ));
        }
        let session = self
            .sessions
            .get_mut(&id)
            .expect("registered brokers have sessions");
        session.last_heartbeat = now;
        let caught_up = metadata_offset >= session.unfence_after_offset;
        if want_shut_down {
            if !session.shut_down {
                session.shut_down = true;
                self.fence(id);
            }
            return Ok(HeartbeatReply {
                is_caught_up: caught_up,
                is_fenced: true,
                should_shut_down: true,
            });
        }
        let fenced = self.image.brokers[&id].fenced;
        if fenced && caught_up && !self.sessions[&id].shut_down {
            self.unfence(id);
        }
        Ok(HeartbeatReply {
            is_caught_up: caught_up,
            is_fenced: self.image.brokers[&id].fenced,
            should_shut_down: false,
        })
    }

    /// Fences every live broker whose last heartbeat is older than the session timeout, and
    /// returns the ids fenced. Called periodically: a controller that was itself not checking
    /// for longer than a session (paused, its process stopped) cannot tell who missed
    /// heartbeats meanwhile, so, like a newly active KRaft controller, it starts every session
    /// afresh instead and fences nobody this time.
    pub(crate) fn expire_sessions(&mut self, now: Instant) -> Vec<i32> {
        let away = self
            .last_liveness_check
            .replace(now)
            .map(|then| now.saturating_duration_since(then));
        if let Some(away) = away.filter(|a| *a > self.session_timeout) {
            tracing::info!(
                "controller: was not running for {} ms; every broker's session starts afresh",
                away.as_millis()
            );
            for s in self.sessions.values_mut() {
                s.last_heartbeat = now;
            }
            return Vec::new();
        }
        let expired: Vec<i32> = self
            .sessions
            .iter()
            .filter(|(id, s)| {
                self.image.is_alive(**id)
                    && now.saturating_duration_since(s.last_heartbeat) > self.session_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.fence(*id);
        }
        expired
    }

    /// Takes a broker out of the cluster: out of every ISR it is not the last member of, and
    /// a new leader from the remaining ISR for everything it led.
    fn fence(&mut self, id: i32) {
        if let Some(b) = self.image.brokers.get_mut(&id) {
            b.fenced = true;
        }
        let unfence_after = self.next_offset();
        if let Some(s) = self.sessions.get_mut(&id) {
            s.unfence_after_offset = unfence_after;
        }
        let alive: Vec<i32> = self.image.live_brokers();
        for topic in self.image.topics.values_mut() {
            let unclean = topic.unclean_leader_election;
            for p in &mut topic.partitions {
                if p.isr.len() > 1 && p.isr.contains(&id) {
                    p.isr.retain(|r| *r != id);
                    p.partition_epoch += 1;
                }
                if p.leader == id {
                    elect_leader(p, &alive, unclean);
                }
            }
        }
        self.changed = true;
    }

    /// Brings a broker back: leaderless partitions it can lead get it as leader.
    fn unfence(&mut self, id: i32) {
        if let Some(b) = self.image.brokers.get_mut(&id) {
            b.fenced = false;
        }
        let alive = self.image.live_brokers();
        for topic in self.image.topics.values_mut() {
            let unclean = topic.unclean_leader_election;
            for p in &mut topic.partitions {
                if p.leader == NO_LEADER && p.replicas.contains(&id) {
                    elect_leader(p, &alive, unclean);
                }
            }
        }
        self.changed = true;
    }

    /// AllocateProducerIds: hands a block of producer ids to a broker.
    pub(crate) fn allocate_producer_ids(&mut self, block: i32) -> i64 {
        let first = self.next_producer_id;
        self.next_producer_id += i64::from(block);
        first
    }
}
