//! The lanes rebuilt from hand-written timelines: a broker killed and started again, a refused
//! fault, a group rebalancing, internal topics, dropped events.

use super::*;
use crate::backend::snapshot::{
    BrokerState, BrokerStatus, ClusterSnapshot, PartitionView, TopicView,
};
use crate::cluster::BrokerId;
use crate::view::timeline::Happening;

fn events(list: Vec<(u64, Happening)>) -> Vec<Arc<Event>> {
    list.into_iter()
        .enumerate()
        .map(|(i, (at_ms, what))| {
            Arc::new(Event {
                seq: i as u64 + 1,
                at_ms,
                text: what.to_string(),
                what,
            })
        })
        .collect()
}

fn ids(list: &[i32]) -> Vec<BrokerId> {
    list.iter().copied().map(BrokerId).collect()
}

fn partition(index: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionView {
    PartitionView {
        partition: index,
        leader: Some(BrokerId(leader)),
        leader_epoch: Some(0),
        replicas: ids(replicas),
        isr: ids(isr),
        offline: vec![],
        offsets: vec![],
    }
}

fn topic(name: &str, partitions: Vec<PartitionView>) -> TopicView {
    TopicView {
        name: name.into(),
        min_insync_replicas: None,
        unclean_leader_election: None,
        partitions,
    }
}

fn snapshot(topics: Vec<TopicView>) -> ClusterSnapshot {
    ClusterSnapshot {
        metadata_offset: 0,
        controller: Some(BrokerId(1)),
        brokers: (1..=3)
            .map(|id| BrokerStatus {
                id: BrokerId(id),
                addr: format!("127.0.0.1:{}", 9091 + id),
                state: BrokerState::Up,
                fenced: false,
                metadata_offset: None,
                counters: None,
            })
            .collect(),
        topics,
    }
}

fn fault(command: &str, broker: Option<i32>) -> Happening {
    Happening::Fault {
        command: command.into(),
        broker,
    }
}

fn seg<T>(from_ms: u64, to_ms: u64, what: T) -> Segment<T> {
    Segment {
        from_ms,
        to_ms,
        what,
    }
}

fn phase(process: Process, fenced: bool) -> BrokerPhase {
    BrokerPhase { process, fenced }
}

fn led(leader: i32, isr: &[i32]) -> Leadership {
    Leadership {
        leader: Some(leader),
        isr: isr.to_vec(),
        replicas: 3,
    }
}

fn lane<'a, T>(lanes: &'a [Lane<T>], key: &str) -> &'a Lane<T> {
    lanes
        .iter()
        .find(|l| l.key == key)
        .unwrap_or_else(|| panic!("no lane {key}"))
}

#[test]
fn a_kill_and_restart_fences_moves_the_leader_and_shrinks_then_expands_the_isr() {
    let timeline = events(vec![
        (
            0,
            Happening::Ready {
                backend: "embedded".into(),
                brokers: vec![1, 2, 3],
            },
        ),
        (100, Happening::TopicCreated { topic: "t".into() }),
        (1000, fault("kill", Some(2))),
        (1200, Happening::BrokerFenced { broker: 2 }),
        (
            1200,
            Happening::LeaderElected {
                topic: "t".into(),
                partition: 0,
                from: Some(2),
                to: Some(1),
                epoch: 1,
                unclean: false,
            },
        ),
        (
            1200,
            Happening::IsrChanged {
                topic: "t".into(),
                partition: 0,
                from: vec![2, 1, 3],
                to: vec![1, 3],
                leader: Some(1),
            },
        ),
        (3000, fault("start", Some(2))),
        (3500, Happening::BrokerUnfenced { broker: 2 }),
        (
            4000,
            Happening::IsrChanged {
                topic: "t".into(),
                partition: 0,
                from: vec![1, 3],
                to: vec![1, 3, 2],
                leader: Some(1),
            },
        ),
    ]);
    let last = snapshot(vec![topic(
        "t",
        vec![partition(0, 1, &[2, 1, 3], &[1, 3, 2])],
    )]);
    let lanes = Lanes::build(&timeline, 0, &last, 5000);

    assert_eq!((lanes.start_ms, lanes.end_ms), (0, 5000));
    assert_eq!(
        lane(&lanes.brokers, "broker-2").segments,
        vec![
            seg(0, 1000, phase(Process::Up, false)),
            seg(1000, 1200, phase(Process::Down, false)),
            seg(1200, 3000, phase(Process::Down, true)),
            seg(3000, 3500, phase(Process::Up, true)),
            seg(3500, 5000, phase(Process::Up, false)),
        ]
    );
    assert_eq!(
        lane(&lanes.brokers, "broker-1").segments,
        vec![seg(0, 5000, phase(Process::Up, false))]
    );
    let t0 = lane(&lanes.partitions, "partition-t-0");
    assert_eq!(t0.label, "t-0");
    assert_eq!(
        t0.segments,
        vec![
            seg(100, 1200, led(2, &[2, 1, 3])),
            seg(1200, 4000, led(1, &[1, 3])),
            seg(4000, 5000, led(1, &[1, 3, 2])),
        ]
    );
    let faults: Vec<(u64, &str, bool)> = lanes
        .faults
        .iter()
        .map(|f| (f.at_ms, f.label.as_str(), f.refused.is_some()))
        .collect();
    assert_eq!(
        faults,
        vec![(1000, "kill 2", false), (3000, "start 2", false)]
    );
}

#[test]
fn a_refused_fault_is_marked_and_changes_no_broker() {
    let timeline = events(vec![
        (
            0,
            Happening::Ready {
                backend: "embedded".into(),
                brokers: vec![1, 2, 3],
            },
        ),
        (500, fault("kill", Some(3))),
        (
            501,
            Happening::FaultFailed {
                command: "kill".into(),
                broker: Some(3),
                error: "broker 3 is the last one".into(),
            },
        ),
        (800, fault("pause", Some(1))),
        (900, fault("heal", None)),
    ]);
    let lanes = Lanes::build(&timeline, 0, &snapshot(vec![]), 1000);
    assert_eq!(
        lane(&lanes.brokers, "broker-3").segments,
        vec![seg(0, 1000, phase(Process::Up, false))]
    );
    // Healing leaves a paused broker paused.
    assert_eq!(
        lane(&lanes.brokers, "broker-1").segments,
        vec![
            seg(0, 800, phase(Process::Up, false)),
            seg(800, 1000, phase(Process::Paused, false)),
        ]
    );
    assert_eq!(
        lanes.faults[0].refused.as_deref(),
        Some("broker 3 is the last one")
    );
    assert_eq!(lanes.faults[2].label, "heal");
}

#[test]
fn consumer_lanes_follow_assignments_revocations_and_the_end() {
    let assigned = |consumer: &str, partitions: &[i32]| Happening::Assigned {
        consumer: consumer.into(),
        partitions: partitions.to_vec(),
    };
    let started = |consumer: &str| Happening::ConsumerStarted {
        consumer: consumer.into(),
        group: Some("g".into()),
        topic: "t".into(),
    };
    let timeline = events(vec![
        (100, started("g/c1")),
        (200, assigned("g/c1", &[0, 1, 2])),
        (1000, started("g/c2")),
        (
            1100,
            Happening::Revoked {
                consumer: "g/c1".into(),
                partitions: vec![0, 1, 2],
            },
        ),
        (1300, assigned("g/c1", &[1, 0])),
        (1300, assigned("g/c2", &[2])),
        (
            2000,
            Happening::ConsumerEnded {
                consumer: "g/c2".into(),
                how: "left the group".into(),
            },
        ),
    ]);
    let lanes = Lanes::build(&timeline, 0, &snapshot(vec![]), 3000);
    let owns = |p: &[i32]| Assignment {
        partitions: p.to_vec(),
    };
    let keys: Vec<&str> = lanes.consumers.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, ["consumer-g/c1", "consumer-g/c2"]);
    assert_eq!(lanes.consumers[0].label, "g/c1 → t");
    assert_eq!(
        lanes.consumers[0].segments,
        vec![
            seg(100, 200, owns(&[])),
            seg(200, 1100, owns(&[0, 1, 2])),
            seg(1100, 1300, owns(&[])),
            seg(1300, 3000, owns(&[0, 1])),
        ]
    );
    assert_eq!(
        lanes.consumers[1].segments,
        vec![seg(1000, 1300, owns(&[])), seg(1300, 2000, owns(&[2]))]
    );
    assert_eq!(
        lanes.consumers[1].marks,
        vec![Mark {
            at_ms: 2000,
            text: "g/c2 left the group".into()
        }]
    );
}

#[test]
fn internal_topics_get_no_lane_and_quiet_partitions_take_the_final_state() {
    let timeline = events(vec![
        (50, Happening::TopicCreated { topic: "t".into() }),
        (
            60,
            Happening::LeaderElected {
                topic: "__consumer_offsets".into(),
                partition: 0,
                from: Some(1),
                to: Some(2),
                epoch: 1,
                unclean: false,
            },
        ),
        (
            70,
            Happening::Internal {
                topic: "__consumer_offsets".into(),
                summary: "1 leader moved".into(),
            },
        ),
    ]);
    let last = snapshot(vec![
        topic("t", vec![partition(0, 3, &[3, 1], &[3, 1])]),
        topic("__consumer_offsets", vec![partition(0, 2, &[2], &[2])]),
    ]);
    let lanes = Lanes::build(&timeline, 0, &last, 200);
    let keys: Vec<&str> = lanes.partitions.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, ["partition-t-0"]);
    assert_eq!(
        lanes.partitions[0].segments,
        vec![seg(
            50,
            200,
            Leadership {
                leader: Some(3),
                isr: vec![3, 1],
                replicas: 2
            }
        )]
    );
}

#[test]
fn with_older_events_dropped_the_axis_starts_at_the_first_kept() {
    let timeline = events(vec![(7000, Happening::BrokerFenced { broker: 2 })]);
    let lanes = Lanes::build(&timeline, 12, &snapshot(vec![]), 9000);
    assert_eq!(lanes.start_ms, 7000);
    assert_eq!(
        lane(&lanes.brokers, "broker-2").segments,
        vec![seg(7000, 9000, phase(Process::Up, true)),]
    );
}

#[test]
fn a_partition_added_later_starts_its_lane_when_the_topic_grew() {
    let timeline = events(vec![
        (50, Happening::TopicCreated { topic: "t".into() }),
        (
            120,
            Happening::PartitionsAdded {
                topic: "t".into(),
                from: 1,
                to: 2,
            },
        ),
    ]);
    let last = snapshot(vec![topic(
        "t",
        vec![
            partition(0, 1, &[1, 2], &[1, 2]),
            partition(1, 2, &[2, 1], &[2, 1]),
        ],
    )]);
    let lanes = Lanes::build(&timeline, 0, &last, 200);
    let starts: Vec<(String, u64)> = lanes
        .partitions
        .iter()
        .map(|l| (l.key.clone(), l.segments[0].from_ms))
        .collect();
    assert_eq!(
        starts,
        [
            ("partition-t-0".to_string(), 50),
            ("partition-t-1".to_string(), 120)
        ]
    );
}
