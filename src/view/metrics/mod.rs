//! Kafka's operator metrics, computed from what the sandbox sees: the cluster snapshot, the
//! elections and ISR changes counted from metadata, the brokers' request counters, and group
//! lag. One set of [`Figures`] feeds `/metrics` (Prometheus, named as the common JMX exporter
//! rules name Kafka's MBeans), the page, and `metrics()` in scripts.
//!
//! Where the figures come from (see docs/architecture.md for how this differs from Kafka):
//! - per broker, from the controller's metadata: `UnderReplicatedPartitions` (partitions it
//!   leads with fewer in-sync replicas than replicas), `PartitionCount` (replicas it holds),
//!   `LeaderCount`;
//! - per broker, counted from metadata changes since the session started: `IsrShrinks` and
//!   `IsrExpands`, charged to the partition's leader;
//! - per broker, from the broker's own counters where the backend can read them:
//!   `MessagesIn`, `FailedProduceRequests`;
//! - for the controller: `OfflinePartitionsCount` (no leader), `ActiveControllerCount`,
//!   `LeaderElections` and `UncleanLeaderElections` (leaders chosen, counted from metadata);
//! - per group and partition: the lag behind the high watermark, as kafka-exporter reports it.
//!
//! A broker that is down or paused reports nothing, as a dead or frozen JVM would not.

use std::collections::BTreeMap;

use serde::Serialize;

use super::groups::GroupsView;
use crate::backend::events::ClusterEvent;
use crate::backend::snapshot::{BrokerState, ClusterSnapshot};
use crate::cluster::image::NO_LEADER;

mod exposition;

/// Counts kept from the metadata changes the session saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    isr_shrinks: BTreeMap<i32, u64>,
    isr_expands: BTreeMap<i32, u64>,
    leader_elections: u64,
    unclean_leader_elections: u64,
}

impl Counters {
    /// Counts one metadata change. An ISR update that drops a replica is one shrink, one that
    /// adds a replica one expand, charged to the partition's leader; a leader chosen (not a
    /// partition going offline) is one election.
    pub fn observe(&mut self, event: &ClusterEvent) {
        match event {
            ClusterEvent::LeaderChanged { to, unclean, .. } if *to != NO_LEADER => {
                self.leader_elections += 1;
                if *unclean {
                    self.unclean_leader_elections += 1;
                }
            }
            ClusterEvent::IsrChanged {
                from, to, leader, ..
            } if *leader != NO_LEADER => {
                if from.iter().any(|r| !to.contains(r)) {
                    *self.isr_shrinks.entry(*leader).or_default() += 1;
                }
                if to.iter().any(|r| !from.contains(r)) {
                    *self.isr_expands.entry(*leader).or_default() += 1;
                }
            }
            _ => {}
        }
    }
}

/// One broker's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BrokerFigures {
    /// Partitions it leads that have fewer in-sync replicas than replicas.
    pub under_replicated_partitions: u64,
    /// Replicas it holds.
    pub partition_count: u64,
    /// Partitions it leads.
    pub leader_count: u64,
    /// ISR shrinks of partitions it leads.
    pub isr_shrinks: u64,
    /// ISR expands of partitions it leads.
    pub isr_expands: u64,
    /// Records it appended as leader (`None`: the backend cannot read it).
    pub messages_in: Option<u64>,
    /// Produce requests it answered with an error (`None`: the backend cannot read it).
    pub failed_produce_requests: Option<u64>,
}

/// One group partition's lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lag {
    /// Group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Messages between the committed offset and the high watermark.
    pub lag: i64,
}

/// Every figure at one moment: cluster totals, then per broker, then lag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Figures {
    /// Sum over running brokers.
    pub under_replicated_partitions: u64,
    /// Partitions without a leader.
    pub offline_partitions_count: u64,
    /// Active controllers the sandbox can see (1 when healthy).
    pub active_controller_count: u64,
    /// Sum over running brokers.
    pub isr_shrinks: u64,
    /// Sum over running brokers.
    pub isr_expands: u64,
    /// Leaders chosen.
    pub leader_elections: u64,
    /// Leaders chosen from outside the ISR.
    pub unclean_leader_elections: u64,
    /// Sum over running brokers, where readable.
    pub messages_in: Option<u64>,
    /// Sum over running brokers, where readable.
    pub failed_produce_requests: Option<u64>,
    /// Sum over running brokers.
    pub partition_count: u64,
    /// Sum over running brokers.
    pub leader_count: u64,
    /// Running brokers by id (`brokers` in JSON, as in `metrics()`).
    #[serde(rename = "brokers")]
    pub brokers: BTreeMap<i32, BrokerFigures>,
    /// Lag per group, topic and partition.
    #[serde(rename = "lag")]
    pub lag: Vec<Lag>,
}

fn sum_opt(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), Some(v)) => Some(a + v),
        (a, None) => a,
    })
}

impl Figures {
    /// The figures for `snapshot`, with `counters` since the session started and the lag of
    /// `groups`. `controller_active` says whether the backend sees an active controller.
    pub fn compute(
        snapshot: &ClusterSnapshot,
        counters: &Counters,
        groups: &GroupsView,
        controller_active: bool,
    ) -> Figures {
        let mut brokers: BTreeMap<i32, BrokerFigures> = snapshot
            .brokers
            .iter()
            .filter(|b| matches!(b.state, BrokerState::Up | BrokerState::Isolated))
            .map(|b| {
                let id = b.id.0;
                (
                    id,
                    BrokerFigures {
                        isr_shrinks: counters.isr_shrinks.get(&id).copied().unwrap_or(0),
                        isr_expands: counters.isr_expands.get(&id).copied().unwrap_or(0),
                        messages_in: b.counters.map(|c| c.messages_in),
                        failed_produce_requests: b.counters.map(|c| c.failed_produce_requests),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let mut offline = 0;
        for p in snapshot.topics.iter().flat_map(|t| &t.partitions) {
            match p.leader {
                None => offline += 1,
                Some(leader) => {
                    if let Some(b) = brokers.get_mut(&leader.0) {
                        b.leader_count += 1;
                        if p.under_replicated() {
                            b.under_replicated_partitions += 1;
                        }
                    }
                }
            }
            for r in &p.replicas {
                if let Some(b) = brokers.get_mut(&r.0) {
                    b.partition_count += 1;
                }
            }
        }
        let lag = groups
            .groups
            .iter()
            .flat_map(|g| {
                g.offsets.iter().filter_map(move |o| {
                    o.lag.map(|lag| Lag {
                        group: g.name.clone(),
                        topic: o.topic.clone(),
                        partition: o.partition,
                        lag,
                    })
                })
            })
            .collect();
        let total = |f: fn(&BrokerFigures) -> u64| brokers.values().map(f).sum::<u64>();
        Figures {
            under_replicated_partitions: total(|b| b.under_replicated_partitions),
            offline_partitions_count: offline,
            active_controller_count: u64::from(controller_active),
            isr_shrinks: total(|b| b.isr_shrinks),
            isr_expands: total(|b| b.isr_expands),
            leader_elections: counters.leader_elections,
            unclean_leader_elections: counters.unclean_leader_elections,
            messages_in: sum_opt(brokers.values().map(|b| b.messages_in)),
            failed_produce_requests: sum_opt(brokers.values().map(|b| b.failed_produce_requests)),
            partition_count: total(|b| b.partition_count),
            leader_count: total(|b| b.leader_count),
            brokers,
            lag,
        }
    }

    /// The figures as a Rhai map: the cluster totals under Kafka's MBean names
    /// (`UnderReplicatedPartitions`, …), `brokers` (per broker, keyed by id) and `lag`
    /// (group → `topic-partition` → lag).
    pub fn to_rhai(&self) -> rhai::Map {
        use rhai::{Dynamic, Map};
        let mut m = Map::new();
        let put = |m: &mut Map, k: &str, v: Option<u64>| {
            m.insert(
                k.into(),
                v.map_or(Dynamic::UNIT, |v| Dynamic::from(v as i64)),
            );
        };
        put(
            &mut m,
            "UnderReplicatedPartitions",
            Some(self.under_replicated_partitions),
        );
        put(
            &mut m,
            "OfflinePartitionsCount",
            Some(self.offline_partitions_count),
        );
        put(
            &mut m,
            "ActiveControllerCount",
            Some(self.active_controller_count),
        );
        put(&mut m, "IsrShrinks", Some(self.isr_shrinks));
        put(&mut m, "IsrExpands", Some(self.isr_expands));
        put(&mut m, "LeaderElections", Some(self.leader_elections));
        put(
            &mut m,
            "UncleanLeaderElections",
            Some(self.unclean_leader_elections),
        );
        put(&mut m, "MessagesIn", self.messages_in);
        put(
            &mut m,
            "FailedProduceRequests",
            self.failed_produce_requests,
        );
        put(&mut m, "PartitionCount", Some(self.partition_count));
        put(&mut m, "LeaderCount", Some(self.leader_count));
        let mut brokers = Map::new();
        for (id, b) in &self.brokers {
            let mut one = Map::new();
            put(
                &mut one,
                "UnderReplicatedPartitions",
                Some(b.under_replicated_partitions),
            );
            put(&mut one, "PartitionCount", Some(b.partition_count));
            put(&mut one, "LeaderCount", Some(b.leader_count));
            put(&mut one, "IsrShrinks", Some(b.isr_shrinks));
            put(&mut one, "IsrExpands", Some(b.isr_expands));
            put(&mut one, "MessagesIn", b.messages_in);
            put(&mut one, "FailedProduceRequests", b.failed_produce_requests);
            brokers.insert(id.to_string().into(), Dynamic::from_map(one));
        }
        m.insert("brokers".into(), Dynamic::from_map(brokers));
        let mut lag: BTreeMap<&str, Map> = BTreeMap::new();
        for l in &self.lag {
            lag.entry(&l.group).or_default().insert(
                format!("{}-{}", l.topic, l.partition).into(),
                Dynamic::from(l.lag),
            );
        }
        m.insert(
            "lag".into(),
            Dynamic::from_map(
                lag.into_iter()
                    .map(|(g, m)| (g.into(), Dynamic::from_map(m)))
                    .collect(),
            ),
        );
        m
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::backend::snapshot::{BrokerCounters, BrokerStatus, PartitionView, TopicView};
    use crate::cluster::BrokerId;
    use crate::view::groups::{GroupView, OffsetView};

    fn broker(id: i32, state: BrokerState) -> BrokerStatus {
        BrokerStatus {
            id: BrokerId(id),
            addr: format!("127.0.0.1:{id}"),
            state,
            fenced: state == BrokerState::Down,
            metadata_offset: None,
            counters: Some(BrokerCounters {
                messages_in: 10 * id as u64,
                failed_produce_requests: 1,
            }),
        }
    }

    fn partition(index: i32, leader: Option<i32>, isr: &[i32]) -> PartitionView {
        PartitionView {
            partition: index,
            leader: leader.map(BrokerId),
            leader_epoch: Some(1),
            replicas: [1, 2, 3].map(BrokerId).to_vec(),
            isr: isr.iter().copied().map(BrokerId).collect(),
            offline: Vec::new(),
            offsets: Vec::new(),
        }
    }

    /// Broker 2 is down: partition 0 moved to 1 with a shrunken ISR, partition 1 has no leader.
    pub(in crate::view::metrics) fn failover() -> (ClusterSnapshot, Counters, GroupsView) {
        let snapshot = ClusterSnapshot {
            metadata_offset: 9,
            controller: Some(BrokerId(1)),
            brokers: vec![
                broker(1, BrokerState::Up),
                broker(2, BrokerState::Down),
                broker(3, BrokerState::Up),
            ],
            topics: vec![TopicView {
                name: "t".into(),
                min_insync_replicas: Some(2),
                unclean_leader_election: Some(false),
                partitions: vec![
                    partition(0, Some(1), &[1, 3]),
                    partition(1, None, &[2]),
                    partition(2, Some(3), &[1, 2, 3]),
                ],
            }],
        };
        let mut counters = Counters::default();
        counters.observe(&ClusterEvent::LeaderChanged {
            topic: "t".into(),
            partition: 0,
            from: 2,
            to: 1,
            epoch: 2,
            unclean: false,
        });
        counters.observe(&ClusterEvent::LeaderChanged {
            topic: "t".into(),
            partition: 1,
            from: 2,
            to: NO_LEADER,
            epoch: 2,
            unclean: false,
        });
        counters.observe(&ClusterEvent::IsrChanged {
            topic: "t".into(),
            partition: 0,
            from: vec![2, 1, 3],
            to: vec![1, 3],
            leader: 1,
        });
        let groups = GroupsView {
            groups: vec![GroupView {
                name: "g".into(),
                state: "Stable".into(),
                protocol: "range".into(),
                generation: Some(3),
                members: Vec::new(),
                offsets: vec![OffsetView {
                    topic: "t".into(),
                    partition: 0,
                    committed: 4,
                    end: Some(9),
                    lag: Some(5),
                }],
            }],
            ..Default::default()
        };
        (snapshot, counters, groups)
    }

    #[test]
    fn figures_follow_kafkas_definitions() {
        let (snapshot, counters, groups) = failover();
        let f = Figures::compute(&snapshot, &counters, &groups, true);
        assert_eq!(f.under_replicated_partitions, 1);
        assert_eq!(f.offline_partitions_count, 1);
        assert_eq!(f.leader_elections, 1, "going offline is not an election");
        assert_eq!(f.brokers[&1].isr_shrinks, 1);
        assert_eq!(f.brokers[&1].leader_count, 1);
        assert_eq!(f.brokers[&1].partition_count, 3);
        assert!(!f.brokers.contains_key(&2), "a dead broker reports nothing");
        assert_eq!(f.messages_in, Some(40));
        assert_eq!(f.lag[0].lag, 5);
    }
}
