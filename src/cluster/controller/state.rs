//! The controller's decisions as pure transitions of (state, event, now): broker registration
//! and liveness, fencing, leader election from the ISR, ISR changes proposed by leaders,
//! topic creation and deletion, preferred-leader elections. No I/O, no clocks of its own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::cluster::assignment::assign_replicas;
use crate::cluster::image::{BrokerImage, MetadataImage, PartitionImage, TopicImage, NO_LEADER};
use crate::cluster::{KafkaError, ResponseError};
use crate::config::TopicDefaults;

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
pub struct HeartbeatReply {
    /// The broker's metadata has reached what the controller needs it to have seen.
    pub is_caught_up: bool,
    /// The broker is fenced.
    pub is_fenced: bool,
    /// Controlled shutdown is complete: the broker may exit.
    pub should_shut_down: bool,
}

/// A request to create one topic.
#[derive(Debug, Clone, Default)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count, or -1 for the default.
    pub partitions: i32,
    /// Replication factor, or -1 for the default.
    pub replication: i16,
    /// Explicit replica lists, by partition (overrides counts when non-empty).
    pub assignments: Vec<Vec<i32>>,
    /// Topic configs.
    pub configs: BTreeMap<String, String>,
}

/// Which kind of election ElectLeaders asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Move leadership back to the first replica.
    Preferred,
    /// Elect any live replica for leaderless partitions, accepting data loss.
    Unclean,
}

/// Topic configs the sandbox accepts (Kafka's names). Values are checked where they matter.
const KNOWN_TOPIC_CONFIGS: &[&str] = &[
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "segment.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "compression.type",
];

/// The controller's state: the current image plus liveness sessions.
#[derive(Debug)]
pub struct ControllerState {
    image: MetadataImage,
    sessions: BTreeMap<i32, Session>,
    next_broker_epoch: i64,
    next_producer_id: i64,
    defaults: TopicDefaults,
    session_timeout: Duration,
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
            changed: false,
        }
    }

    /// The current (possibly uncommitted) image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// If anything changed since the last call, commits the change as the next metadata
    /// offset and returns the new image.
    pub fn take_committed(&mut self) -> Option<MetadataImage> {
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
    pub fn register(
        &mut self,
        id: i32,
        incarnation: Uuid,
        host: &str,
        port: u16,
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

    /// Fences every live broker whose last heartbeat is older than the session timeout.
    /// Returns the ids fenced.
    pub fn expire_sessions(&mut self, now: Instant) -> Vec<i32> {
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

    /// AlterPartition: the leader proposes a new ISR. Checked against the leader epoch and the
    /// partition epoch so that a deposed leader or a stale proposal cannot win.
    #[allow(clippy::too_many_arguments)] // mirrors the fields of one AlterPartition entry
    pub fn alter_partition(
        &mut self,
        broker: i32,
        broker_epoch: i64,
        topic_id: Uuid,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        new_isr: &[i32],
    ) -> Result<PartitionImage, KafkaError> {
        if self.image.brokers.get(&broker).map(|b| b.epoch) != Some(broker_epoch) {
            return Err(KafkaError::new(
                ResponseError::StaleBrokerEpoch,
                format!("broker {broker} epoch {broker_epoch} is stale"),
            ));
        }
        let alive = self.image.live_brokers();
        let Some(topic) = self.image.topics.values_mut().find(|t| t.id == topic_id) else {
            return Err(KafkaError::new(
                ResponseError::UnknownTopicId,
                "no such topic",
            ));
        };
        let Some(p) = topic.partitions.get_mut(partition as usize) else {
            return Err(KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                "no such partition",
            ));
        };
        if p.leader != broker {
            return Err(KafkaError::new(
                ResponseError::NotLeaderOrFollower,
                format!("broker {broker} is not the leader (leader is {})", p.leader),
            ));
        }
        if leader_epoch != p.leader_epoch {
            return Err(KafkaError::new(
                ResponseError::FencedLeaderEpoch,
                format!("leader epoch {leader_epoch} is not {}", p.leader_epoch),
            ));
        }
        if partition_epoch != p.partition_epoch {
            return Err(KafkaError::new(
                ResponseError::InvalidUpdateVersion,
                format!(
                    "partition epoch {partition_epoch} is not {}",
                    p.partition_epoch
                ),
            ));
        }
        if !new_isr.contains(&broker) || new_isr.iter().any(|r| !p.replicas.contains(r)) {
            return Err(KafkaError::new(
                ResponseError::InvalidRequest,
                "the ISR must contain the leader and only replicas",
            ));
        }
        if new_isr
            .iter()
            .any(|r| !p.isr.contains(r) && !alive.contains(r))
        {
            return Err(KafkaError::new(
                ResponseError::IneligibleReplica,
                "a fenced broker cannot join the ISR",
            ));
        }
        if p.isr != new_isr {
            p.isr = new_isr.to_vec();
            p.partition_epoch += 1;
            self.changed = true;
        }
        Ok(p.clone())
    }

    /// CreateTopics for one topic. With `validate_only` nothing changes.
    pub fn create_topic(&mut self, req: &NewTopic, validate_only: bool) -> Result<(), KafkaError> {
        validate_topic_name(&req.name)?;
        if self.image.topics.contains_key(&req.name) {
            return Err(KafkaError::new(
                ResponseError::TopicAlreadyExists,
                format!("topic '{}' already exists", req.name),
            ));
        }
        let live = self.image.live_brokers();
        let replicas = if req.assignments.is_empty() {
            let partitions = if req.partitions == -1 {
                self.defaults.num_partitions
            } else {
                req.partitions
            };
            let replication = if req.replication == -1 {
                self.defaults.replication_factor
            } else {
                req.replication
            };
            if partitions < 1 {
                return Err(KafkaError::new(
                    ResponseError::InvalidPartitions,
                    "the number of partitions must be at least 1",
                ));
            }
            if replication < 1 {
                return Err(KafkaError::new(
                    ResponseError::InvalidReplicationFactor,
                    "the replication factor must be at least 1",
                ));
            }
            let seed = Uuid::new_v4().as_u128();
            assign_replicas(
                &live,
                partitions,
                i32::from(replication),
                (seed & 0xffff) as usize,
                ((seed >> 16) & 0xffff) as usize,
            )
            .map_err(|e| KafkaError::new(ResponseError::InvalidReplicationFactor, e.to_string()))?
        } else {
            for r in &req.assignments {
                let mut distinct = r.clone();
                distinct.sort();
                distinct.dedup();
                if r.is_empty()
                    || distinct.len() != r.len()
                    || r.iter().any(|b| !self.image.brokers.contains_key(b))
                {
                    return Err(KafkaError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!("replica list {r:?} must name distinct registered brokers"),
                    ));
                }
            }
            req.assignments.clone()
        };
        let (min_isr, unclean) = self.resolve_configs(&req.configs)?;
        if validate_only {
            return Ok(());
        }
        let partitions = replicas
            .into_iter()
            .map(|replicas| {
                let leader = replicas
                    .iter()
                    .copied()
                    .find(|r| live.contains(r))
                    .unwrap_or(NO_LEADER);
                PartitionImage {
                    isr: replicas.clone(),
                    replicas,
                    leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                }
            })
            .collect();
        self.image.topics.insert(
            req.name.clone(),
            TopicImage {
                id: Uuid::new_v4(),
                configs: req.configs.clone(),
                min_insync_replicas: min_isr,
                unclean_leader_election: unclean,
                partitions,
            },
        );
        self.changed = true;
        Ok(())
    }

    fn resolve_configs(
        &self,
        configs: &BTreeMap<String, String>,
    ) -> Result<(i32, bool), KafkaError> {
        let invalid = |msg: String| KafkaError::new(ResponseError::InvalidConfig, msg);
        for key in configs.keys() {
            if !KNOWN_TOPIC_CONFIGS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "unknown topic config '{key}' (known: {})",
                    KNOWN_TOPIC_CONFIGS.join(", ")
                )));
            }
        }
        let min_isr = match configs.get("min.insync.replicas") {
            None => self.defaults.min_insync_replicas,
            Some(v) => match v.parse::<i32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(invalid(format!(
                        "min.insync.replicas must be an integer >= 1, got '{v}'"
                    )))
                }
            },
        };
        let unclean = match configs.get("unclean.leader.election.enable") {
            None => self.defaults.unclean_leader_election,
            Some(v) => match v.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(invalid(format!(
                        "unclean.leader.election.enable must be true or false, got '{v}'"
                    )))
                }
            },
        };
        Ok((min_isr, unclean))
    }

    /// DeleteTopics for one topic.
    pub fn delete_topic(&mut self, name: &str) -> Result<Uuid, KafkaError> {
        match self.image.topics.remove(name) {
            Some(t) => {
                self.changed = true;
                Ok(t.id)
            }
            None => Err(KafkaError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            )),
        }
    }

    /// ElectLeaders for one partition.
    pub fn elect(
        &mut self,
        topic: &str,
        partition: i32,
        kind: ElectionType,
    ) -> Result<i32, KafkaError> {
        let alive = self.image.live_brokers();
        let p = self
            .image
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(partition as usize))
            .ok_or_else(|| {
                KafkaError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("{topic}-{partition} does not exist"),
                )
            })?;
        match kind {
            ElectionType::Preferred => {
                let preferred = p.replicas[0];
                if p.leader == preferred {
                    return Err(KafkaError::new(
                        ResponseError::ElectionNotNeeded,
                        "the preferred replica already leads",
                    ));
                }
                if !alive.contains(&preferred) || !p.isr.contains(&preferred) {
                    return Err(KafkaError::new(
                        ResponseError::PreferredLeaderNotAvailable,
                        format!("preferred replica {preferred} is not alive and in sync"),
                    ));
                }
                set_leader(p, preferred);
            }
            ElectionType::Unclean => {
                if p.leader != NO_LEADER {
                    return Err(KafkaError::new(
                        ResponseError::ElectionNotNeeded,
                        "the partition has a leader",
                    ));
                }
                elect_leader(p, &alive, true);
                if p.leader == NO_LEADER {
                    return Err(KafkaError::new(
                        ResponseError::EligibleLeadersNotAvailable,
                        "no replica of this partition is alive",
                    ));
                }
            }
        }
        self.changed = true;
        Ok(p.leader)
    }

    /// Kafka's automatic leader rebalance: for each broker whose share of partitions led by
    /// someone else exceeds the imbalance percentage, hand back what it can lead.
    /// Returns the partitions moved.
    pub fn rebalance_preferred_leaders(&mut self) -> Vec<(String, i32)> {
        if !self.defaults.auto_leader_rebalance {
            return Vec::new();
        }
        let alive = self.image.live_brokers();
        let mut moved = Vec::new();
        for broker in alive.iter().copied() {
            let mut preferred = 0u32;
            let mut elsewhere = Vec::new();
            for (name, topic) in &self.image.topics {
                for (i, p) in topic.partitions.iter().enumerate() {
                    if p.replicas[0] == broker {
                        preferred += 1;
                        if p.leader != broker {
                            elsewhere.push((name.clone(), i as i32));
                        }
                    }
                }
            }
            if preferred == 0
                || (elsewhere.len() as u32) * 100
                    <= self.defaults.leader_imbalance_per_broker_percentage * preferred
            {
                continue;
            }
            for (name, i) in elsewhere {
                if self.elect(&name, i, ElectionType::Preferred).is_ok() {
                    moved.push((name, i));
                }
            }
        }
        moved
    }

    /// AllocateProducerIds: hands a block of producer ids to a broker.
    pub fn allocate_producer_ids(&mut self, block: i32) -> i64 {
        let first = self.next_producer_id;
        self.next_producer_id += i64::from(block);
        first
    }
}

/// Elects a leader: the first replica (in replica order) that is alive and in the ISR; with
/// unclean election allowed and none in sync, any live replica, which then becomes the whole
/// ISR — the data it lacks is lost. Bumps the epochs when the leader changes.
fn elect_leader(p: &mut PartitionImage, alive: &[i32], unclean: bool) {
    let clean = p
        .replicas
        .iter()
        .copied()
        .find(|r| alive.contains(r) && p.isr.contains(r));
    let chosen = match clean {
        Some(r) => Some(r),
        None if unclean => p.replicas.iter().copied().find(|r| alive.contains(r)),
        None => None,
    };
    match chosen {
        Some(r) => {
            if !p.isr.contains(&r) {
                p.isr = vec![r];
            }
            set_leader(p, r);
        }
        None => set_leader(p, NO_LEADER),
    }
}

fn set_leader(p: &mut PartitionImage, leader: i32) {
    if p.leader != leader {
        p.leader = leader;
        p.leader_epoch += 1;
        p.partition_epoch += 1;
    }
}

/// Kafka's topic-name rules: 1–249 characters from `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), KafkaError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    if name.is_empty() || name.len() > 249 || !ok_chars || name == "." || name == ".." {
        return Err(KafkaError::new(
            ResponseError::InvalidTopicException,
            format!(
                "'{name}' is not a valid topic name: use 1-249 letters, digits, '.', '_' or '-'"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_millis(1500);

    fn cluster(brokers: i32) -> (ControllerState, Instant) {
        let now = Instant::now();
        let mut c = ControllerState::new("test", TopicDefaults::default(), SESSION);
        for id in 1..=brokers {
            let epoch = c
                .register(id, Uuid::new_v4(), "127.0.0.1", 9000 + id as u16, now)
                .unwrap();
            c.take_committed();
            c.heartbeat(id, epoch, i64::MAX, false, now).unwrap();
            c.take_committed();
        }
        (c, now)
    }

    fn tutorial_topic(c: &mut ControllerState) {
        c.create_topic(
            &NewTopic {
                name: "t".into(),
                assignments: vec![
                    vec![3, 2, 1],
                    vec![1, 3, 2],
                    vec![2, 1, 3],
                    vec![3, 1, 2],
                    vec![1, 2, 3],
                    vec![2, 3, 1],
                ],
                ..Default::default()
            },
            false,
        )
        .unwrap();
    }

    fn heartbeat_all(c: &mut ControllerState, except: i32, at: Instant) {
        for id in 1..=3 {
            if id != except {
                let epoch = c.image().brokers[&id].epoch;
                c.heartbeat(id, epoch, i64::MAX, false, at).unwrap();
            }
        }
    }

    #[test]
    fn a_registered_broker_stays_fenced_until_its_metadata_catches_up() {
        let now = Instant::now();
        let mut c = ControllerState::new("test", TopicDefaults::default(), SESSION);
        let epoch = c.register(1, Uuid::new_v4(), "h", 1, now).unwrap();
        let committed = c.take_committed().unwrap().offset;
        let reply = c.heartbeat(1, epoch, committed - 1, false, now).unwrap();
        assert!(reply.is_fenced && !reply.is_caught_up);
        let reply = c.heartbeat(1, epoch, committed, false, now).unwrap();
        assert!(!reply.is_fenced && reply.is_caught_up);
    }

    #[test]
    fn losing_a_broker_elects_from_the_isr_and_shrinks_it() {
        let (mut c, now) = cluster(3);
        tutorial_topic(&mut c);
        let later = now + SESSION + Duration::from_millis(1);
        heartbeat_all(&mut c, 2, later);
        assert_eq!(c.expire_sessions(later), vec![2]);
        let t = &c.image().topics["t"];
        // Replicas 2,1,3 -> leader 1; replicas 2,3,1 -> leader 3 (replica order wins).
        assert_eq!(
            (t.partitions[2].leader, t.partitions[2].isr.clone()),
            (1, vec![1, 3])
        );
        assert_eq!(
            (t.partitions[5].leader, t.partitions[5].isr.clone()),
            (3, vec![3, 1])
        );
        for p in &t.partitions {
            assert_ne!(p.leader, 2);
            assert!(!p.isr.contains(&2));
        }
        assert_eq!(t.partitions[2].leader_epoch, 1);
        assert_eq!(
            t.partitions[0].leader_epoch, 0,
            "partitions 2 did not lead keep their epoch"
        );
    }

    #[test]
    fn the_last_isr_member_stays_and_the_partition_goes_leaderless() {
        let (mut c, now) = cluster(3);
        c.create_topic(
            &NewTopic {
                name: "solo".into(),
                assignments: vec![vec![2]],
                ..Default::default()
            },
            false,
        )
        .unwrap();
        let later = now + SESSION * 2;
        heartbeat_all(&mut c, 2, later);
        c.expire_sessions(later);
        let p = &c.image().topics["solo"].partitions[0];
        assert_eq!((p.leader, p.isr.clone()), (NO_LEADER, vec![2]));
        // It comes back (new incarnation) and leads again once caught up.
        let epoch = c.register(2, Uuid::new_v4(), "h", 1, later).unwrap();
        c.heartbeat(2, epoch, i64::MAX, false, later).unwrap();
        assert_eq!(c.image().topics["solo"].partitions[0].leader, 2);
    }

    #[test]
    fn unclean_election_picks_an_out_of_sync_replica() {
        let (mut c, now) = cluster(3);
        let mut configs = BTreeMap::new();
        configs.insert("unclean.leader.election.enable".into(), "true".into());
        c.create_topic(
            &NewTopic {
                name: "u".into(),
                assignments: vec![vec![1, 2]],
                configs,
                ..Default::default()
            },
            false,
        )
        .unwrap();
        let epoch1 = c.image().brokers[&1].epoch;
        let id = c.image().topics["u"].id;
        c.alter_partition(1, epoch1, id, 0, 0, 0, &[1]).unwrap();
        let later = now + SESSION * 2;
        heartbeat_all(&mut c, 1, later);
        c.expire_sessions(later);
        let p = &c.image().topics["u"].partitions[0];
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_at_once() {
        let (mut c, now) = cluster(3);
        tutorial_topic(&mut c);
        let epoch = c.image().brokers[&3].epoch;
        let reply = c.heartbeat(3, epoch, i64::MAX, true, now).unwrap();
        assert!(reply.should_shut_down);
        for p in &c.image().topics["t"].partitions {
            assert_ne!(p.leader, 3);
            assert!(!p.isr.contains(&3));
        }
    }

    #[test]
    fn alter_partition_rejects_stale_proposals() {
        let (mut c, _) = cluster(3);
        tutorial_topic(&mut c);
        let id = c.image().topics["t"].id;
        let e1 = c.image().brokers[&1].epoch;
        let e3 = c.image().brokers[&3].epoch;
        let err = c.alter_partition(3, e3, id, 1, 0, 0, &[3]).unwrap_err();
        assert_eq!(err.code, ResponseError::NotLeaderOrFollower);
        c.alter_partition(1, e1, id, 1, 0, 0, &[1, 3]).unwrap();
        let err = c.alter_partition(1, e1, id, 1, 0, 0, &[1]).unwrap_err();
        assert_eq!(err.code, ResponseError::InvalidUpdateVersion);
        let p = c.alter_partition(1, e1, id, 1, 0, 1, &[1, 3, 2]).unwrap();
        assert_eq!(p.isr, vec![1, 3, 2]);
        assert_eq!(p.partition_epoch, 2);
    }

    #[test]
    fn preferred_leaders_come_back_after_the_broker_returns() {
        let (mut c, now) = cluster(3);
        tutorial_topic(&mut c);
        let later = now + SESSION * 2;
        heartbeat_all(&mut c, 2, later);
        c.expire_sessions(later);
        let epoch = c.register(2, Uuid::new_v4(), "h", 1, later).unwrap();
        c.heartbeat(2, epoch, i64::MAX, false, later).unwrap();
        // Not yet in sync: nothing to give back.
        assert!(c.rebalance_preferred_leaders().is_empty());
        let id = c.image().topics["t"].id;
        for i in [2, 5] {
            let p = c.image().topics["t"].partitions[i].clone();
            let leader_epoch = c.image().brokers[&p.leader].epoch;
            let mut isr = p.isr.clone();
            isr.push(2);
            c.alter_partition(
                p.leader,
                leader_epoch,
                id,
                i as i32,
                p.leader_epoch,
                p.partition_epoch,
                &isr,
            )
            .unwrap();
        }
        let moved = c.rebalance_preferred_leaders();
        assert_eq!(moved, vec![("t".into(), 2), ("t".into(), 5)]);
        assert_eq!(c.image().topics["t"].partitions[2].leader, 2);
    }

    #[test]
    fn create_topic_validates_like_kafka() {
        let (mut c, _) = cluster(3);
        let too_many = NewTopic {
            name: "x".into(),
            partitions: 1,
            replication: 4,
            ..Default::default()
        };
        assert_eq!(
            c.create_topic(&too_many, false).unwrap_err().code,
            ResponseError::InvalidReplicationFactor
        );
        let bad_name = NewTopic {
            name: "no spaces".into(),
            partitions: 1,
            replication: 1,
            ..Default::default()
        };
        assert_eq!(
            c.create_topic(&bad_name, false).unwrap_err().code,
            ResponseError::InvalidTopicException
        );
        let ok = NewTopic {
            name: "x".into(),
            partitions: 8,
            replication: 3,
            ..Default::default()
        };
        c.create_topic(&ok, false).unwrap();
        assert_eq!(
            c.create_topic(&ok, false).unwrap_err().code,
            ResponseError::TopicAlreadyExists
        );
        let mut bad_config = ok.clone();
        bad_config.name = "y".into();
        bad_config
            .configs
            .insert("min.insync.replicas".into(), "zero".into());
        assert_eq!(
            c.create_topic(&bad_config, false).unwrap_err().code,
            ResponseError::InvalidConfig
        );
    }
}
