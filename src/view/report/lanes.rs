//! Swim lanes rebuilt from the timeline: what each broker, partition and consumer was doing
//! from one moment to the next. Pure data, so the reconstruction is tested without drawing.
//!
//! The timeline records changes, not states, so each lane is a piecewise-constant track.
//! Where a change says what came before (a leader election's `from`, an ISR change's old
//! ISR) that is the partition's state up to it; a partition that never changed takes the
//! final snapshot's leader and ISR. Faults give the brokers' process state (down, paused,
//! isolated); the controller's fencing comes from its own events, so a lane shows both the
//! fault and the moment the cluster noticed it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use crate::backend::snapshot::ClusterSnapshot;
use crate::view::timeline::{Event, Happening};

/// One stretch of time a lane spends in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment<T> {
    /// From (ms since the session started).
    pub from_ms: u64,
    /// To, exclusive.
    pub to_ms: u64,
    /// The state.
    pub what: T,
}

/// A moment worth a tick: a consumer ending, a consumer error, a lesson step, a failed send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    /// When.
    pub at_ms: u64,
    /// What, in words.
    pub text: String,
}

/// One row of the drawing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lane<T> {
    /// Stable id for the document (`broker-2`, `partition-orders-0`, `consumer-g/c1`).
    pub key: String,
    /// What the row is called on the left.
    pub label: String,
    /// Its states, in order, without gaps between equal neighbours.
    pub segments: Vec<Segment<T>>,
    /// Moments on this lane.
    pub marks: Vec<Mark>,
}

/// A broker process as the faults left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Process {
    /// Running.
    Up,
    /// Stopped or killed.
    Down,
    /// Frozen.
    Paused,
    /// Running, cut off from its peers.
    Isolated,
}

/// A broker's state: its process, and whether the controller has fenced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BrokerPhase {
    /// The process.
    pub process: Process,
    /// Out of the cluster, as the controller sees it.
    pub fenced: bool,
}

/// A partition's leader and in-sync replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leadership {
    /// The leader (`None`: offline).
    pub leader: Option<i32>,
    /// The ISR.
    pub isr: Vec<i32>,
    /// Replicas, so a shrunk ISR can be drawn thinner.
    pub replicas: usize,
}

/// What a consumer owns while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// Its partitions, sorted.
    pub partitions: Vec<i32>,
}

/// A fault or repair, drawn across every lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultMark {
    /// When it was asked for.
    pub at_ms: u64,
    /// Short form for the drawing: `kill 2`, `heal`.
    pub label: String,
    /// Why it was refused, if it was.
    pub refused: Option<String>,
}

/// Every lane of a session on one time axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lanes {
    /// Where the axis starts: 0, or the oldest event kept when older ones were dropped.
    pub start_ms: u64,
    /// Where it ends: the moment the report was made.
    pub end_ms: u64,
    /// One per broker, by id.
    pub brokers: Vec<Lane<BrokerPhase>>,
    /// One per partition of a user topic, by topic then index.
    pub partitions: Vec<Lane<Leadership>>,
    /// One per consumer of the session, in start order.
    pub consumers: Vec<Lane<Assignment>>,
    /// Faults and repairs, in order.
    pub faults: Vec<FaultMark>,
    /// Lesson steps.
    pub steps: Vec<Mark>,
    /// Sends refused or timed out.
    pub send_failures: Vec<Mark>,
}

/// A value that changes over time; `None` where the thing does not exist.
struct Track<T> {
    points: Vec<(u64, Option<T>)>,
}

impl<T: Clone + PartialEq> Track<T> {
    fn new() -> Self {
        Self { points: Vec::new() }
    }

    fn set(&mut self, at_ms: u64, value: Option<T>) {
        match self.points.last_mut() {
            // Two changes in the same millisecond: the later one is what lasted.
            Some((at, v)) if *at == at_ms => *v = value,
            _ => self.points.push((at_ms, value)),
        }
    }

    fn current(&self) -> Option<&T> {
        self.points.last().and_then(|(_, v)| v.as_ref())
    }

    /// The stretches up to `end_ms`, equal neighbours merged, empty ones left out.
    fn segments(&self, end_ms: u64) -> Vec<Segment<T>> {
        let mut out: Vec<Segment<T>> = Vec::new();
        for (i, (at, value)) in self.points.iter().enumerate() {
            let to = self.points.get(i + 1).map_or(end_ms, |(next, _)| *next);
            let Some(what) = value else { continue };
            if to <= *at {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.to_ms == *at && last.what == *what => last.to_ms = to,
                _ => out.push(Segment {
                    from_ms: *at,
                    to_ms: to,
                    what: what.clone(),
                }),
            }
        }
        out
    }
}

/// Kafka's own topics (`__consumer_offsets`) are summed up on the timeline, never laned.
fn internal(topic: &str) -> bool {
    topic.starts_with("__")
}

/// The faults that were refused: a `FaultFailed` for the same command and broker before the
/// next fault. They changed nothing, so the broker lanes ignore them.
fn refused(events: &[Arc<Event>]) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    let mut open: Option<(usize, &str, Option<i32>)> = None;
    for (i, e) in events.iter().enumerate() {
        match &e.what {
            Happening::Fault { command, broker } => open = Some((i, command, *broker)),
            Happening::FaultFailed {
                command,
                broker,
                error,
            } => {
                if let Some((at, c, b)) = open {
                    if c == command && b == *broker {
                        out.insert(at, error.clone());
                        open = None;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

pub(crate) fn fault_label(command: &str, broker: Option<i32>) -> String {
    match broker {
        Some(b) => format!("{command} {b}"),
        None => command.to_string(),
    }
}

impl Lanes {
    /// Rebuilds the lanes from `events` (oldest first), ending at `end_ms`, with `last` the
    /// cluster as it ended. `dropped`: older events lost, so the axis starts at the first kept.
    pub(crate) fn build(
        events: &[Arc<Event>],
        dropped: u64,
        last: &ClusterSnapshot,
        end_ms: u64,
    ) -> Lanes {
        let start_ms = match events.first() {
            Some(e) if dropped > 0 => e.at_ms,
            _ => 0,
        };
        let end_ms = end_ms.max(events.last().map_or(0, |e| e.at_ms));
        let refused = refused(events);
        let mut faults = Vec::new();
        let mut steps = Vec::new();
        let mut send_failures = Vec::new();
        for (i, e) in events.iter().enumerate() {
            match &e.what {
                Happening::Fault { command, broker } => faults.push(FaultMark {
                    at_ms: e.at_ms,
                    label: fault_label(command, *broker),
                    refused: refused.get(&i).cloned(),
                }),
                Happening::Step { title } => steps.push(Mark {
                    at_ms: e.at_ms,
                    text: title.clone(),
                }),
                Happening::ProduceFailed { .. } => send_failures.push(Mark {
                    at_ms: e.at_ms,
                    text: e.text.clone(),
                }),
                _ => {}
            }
        }
        Lanes {
            start_ms,
            end_ms,
            brokers: brokers(events, &refused, last, start_ms, end_ms),
            partitions: partitions(events, last, start_ms, end_ms),
            consumers: consumers(events, start_ms, end_ms),
            faults,
            steps,
            send_failures,
        }
    }
}

fn brokers(
    events: &[Arc<Event>],
    refused: &BTreeMap<usize, String>,
    last: &ClusterSnapshot,
    start_ms: u64,
    end_ms: u64,
) -> Vec<Lane<BrokerPhase>> {
    let up = BrokerPhase {
        process: Process::Up,
        fenced: false,
    };
    let mut ids: BTreeSet<i32> = last.brokers.iter().map(|b| b.id.0).collect();
    for e in events {
        match &e.what {
            Happening::Ready { brokers, .. } => ids.extend(brokers),
            Happening::BrokerFenced { broker } | Happening::BrokerUnfenced { broker } => {
                ids.insert(*broker);
            }
            _ => {}
        }
    }
    // Before anything is known (older events dropped) a broker is taken to be up.
    let mut tracks: BTreeMap<i32, Track<BrokerPhase>> = ids
        .iter()
        .map(|id| {
            let mut t = Track::new();
            t.set(start_ms, Some(up));
            (*id, t)
        })
        .collect();
    let change = |tracks: &mut BTreeMap<i32, Track<BrokerPhase>>,
                  id: i32,
                  at: u64,
                  f: &dyn Fn(BrokerPhase) -> BrokerPhase| {
        let track = tracks.entry(id).or_insert_with(Track::new);
        let now = track.current().copied().unwrap_or(up);
        track.set(at, Some(f(now)));
    };
    for (i, e) in events.iter().enumerate() {
        let at = e.at_ms;
        match &e.what {
            Happening::Ready { brokers, .. } => {
                for id in brokers {
                    change(&mut tracks, *id, at, &|_| up);
                }
            }
            Happening::Fault { command, broker } if !refused.contains_key(&i) => {
                let process = match command.as_str() {
                    "kill" | "stop" => Some(Process::Down),
                    "start" | "restart" | "resume" => Some(Process::Up),
                    "pause" => Some(Process::Paused),
                    "isolate" => Some(Process::Isolated),
                    _ => None,
                };
                if let (Some(process), Some(id)) = (process, broker) {
                    change(&mut tracks, *id, at, &|p| BrokerPhase { process, ..p });
                } else if command == "heal" {
                    let healed: Vec<i32> = match broker {
                        Some(id) => vec![*id],
                        None => tracks.keys().copied().collect(),
                    };
                    for id in healed {
                        change(&mut tracks, id, at, &|p| match p.process {
                            Process::Isolated => BrokerPhase {
                                process: Process::Up,
                                ..p
                            },
                            _ => p,
                        });
                    }
                }
            }
            Happening::BrokerFenced { broker } => {
                change(&mut tracks, *broker, at, &|p| BrokerPhase {
                    fenced: true,
                    ..p
                });
            }
            Happening::BrokerUnfenced { broker } => {
                // The controller heard from it, so its process runs whatever we last knew.
                change(&mut tracks, *broker, at, &|_| up);
            }
            _ => {}
        }
    }
    tracks
        .into_iter()
        .map(|(id, track)| Lane {
            key: format!("broker-{id}"),
            label: format!("broker {id}"),
            segments: track.segments(end_ms),
            marks: Vec::new(),
        })
        .collect()
}

/// The changes of one partition, and the lifetime of its topic.
fn partition_events<'a>(
    events: &'a [Arc<Event>],
    topic: &'a str,
    partition: i32,
) -> impl Iterator<Item = &'a Arc<Event>> + 'a {
    events.iter().filter(move |e| match &e.what {
        Happening::TopicCreated { topic: t } | Happening::TopicDeleted { topic: t } => t == topic,
        Happening::LeaderElected {
            topic: t,
            partition: p,
            ..
        }
        | Happening::IsrChanged {
            topic: t,
            partition: p,
            ..
        } => t == topic && *p == partition,
        _ => false,
    })
}

/// The state a partition starts an incarnation in: what its first changes say came before,
/// or else how it ended (`None`: unknown, for a deleted topic that never changed).
fn first_state(
    later: &[&Arc<Event>],
    last: Option<(Option<i32>, Vec<i32>)>,
    replicas: usize,
) -> Option<Leadership> {
    let mut leader: Option<Option<i32>> = None;
    let mut isr: Option<Vec<i32>> = None;
    for e in later {
        match &e.what {
            Happening::TopicCreated { .. } | Happening::TopicDeleted { .. } => break,
            Happening::LeaderElected { from, .. } if leader.is_none() => leader = Some(*from),
            Happening::IsrChanged {
                from, leader: l, ..
            } if isr.is_none() => {
                isr = Some(from.clone());
                // The leader the ISR change applied under held before it too, unless an
                // election came first (then that election's `from` is already taken).
                leader.get_or_insert(*l);
            }
            _ => {}
        }
    }
    let (last_leader, last_isr) = match last {
        Some((l, i)) => (Some(l), Some(i)),
        None => (None, None),
    };
    Some(Leadership {
        leader: leader.or(last_leader)?,
        isr: isr.or(last_isr)?,
        replicas,
    })
}

fn partitions(
    events: &[Arc<Event>],
    last: &ClusterSnapshot,
    start_ms: u64,
    end_ms: u64,
) -> Vec<Lane<Leadership>> {
    let mut keys: BTreeSet<(String, i32)> = BTreeSet::new();
    for t in last.topics.iter().filter(|t| !internal(&t.name)) {
        keys.extend(t.partitions.iter().map(|p| (t.name.clone(), p.partition)));
    }
    for e in events {
        if let Happening::LeaderElected {
            topic, partition, ..
        }
        | Happening::IsrChanged {
            topic, partition, ..
        } = &e.what
        {
            if !internal(topic) {
                keys.insert((topic.clone(), *partition));
            }
        }
    }
    keys.into_iter()
        .map(|(topic, partition)| {
            let final_view = last
                .topic(&topic)
                .and_then(|t| t.partitions.iter().find(|p| p.partition == partition));
            let mine: Vec<&Arc<Event>> = partition_events(events, &topic, partition).collect();
            let mut replicas = final_view.map_or(0, |p| p.replicas.len());
            for e in &mine {
                if let Happening::IsrChanged { from, to, .. } = &e.what {
                    replicas = replicas.max(from.len()).max(to.len());
                }
            }
            let final_state =
                final_view.map(|p| (p.leader.map(|b| b.0), p.isr.iter().map(|b| b.0).collect()));
            // The final state only describes the topic's last incarnation: none after `i` is
            // deleted.
            let last_of = |i: usize| {
                let deleted_later = mine[i..]
                    .iter()
                    .any(|e| matches!(e.what, Happening::TopicDeleted { .. }));
                final_state.clone().filter(|_| !deleted_later)
            };
            let mut track = Track::new();
            if !matches!(
                mine.first().map(|e| &e.what),
                Some(Happening::TopicCreated { .. })
            ) {
                track.set(start_ms, first_state(&mine, last_of(0), replicas));
            }
            for (i, e) in mine.iter().enumerate() {
                let now = track.current().cloned();
                let next = match &e.what {
                    Happening::TopicCreated { .. } => {
                        first_state(&mine[i + 1..], last_of(i), replicas)
                    }
                    Happening::TopicDeleted { .. } => None,
                    Happening::LeaderElected { to, .. } => Some(Leadership {
                        leader: *to,
                        isr: now.map(|n| n.isr).unwrap_or_default(),
                        replicas,
                    }),
                    Happening::IsrChanged { to, leader, .. } => Some(Leadership {
                        leader: *leader,
                        isr: to.clone(),
                        replicas,
                    }),
                    _ => continue,
                };
                track.set(e.at_ms, next);
            }
            Lane {
                key: format!("partition-{topic}-{partition}"),
                label: format!("{topic}-{partition}"),
                segments: track.segments(end_ms),
                marks: Vec::new(),
            }
        })
        .collect()
}

fn consumers(events: &[Arc<Event>], start_ms: u64, end_ms: u64) -> Vec<Lane<Assignment>> {
    struct Building {
        label: String,
        track: Track<Assignment>,
        owned: BTreeSet<i32>,
        marks: Vec<Mark>,
    }
    let mut order: Vec<String> = Vec::new();
    let mut lanes: BTreeMap<String, Building> = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    for e in events {
        let (consumer, label) = match &e.what {
            Happening::ConsumerStarted {
                consumer,
                group,
                topic,
            } => (
                consumer,
                // A group member's label already starts with its group (`billing/c1`).
                match group {
                    Some(g) if !consumer.starts_with(&format!("{g}/")) => {
                        format!("{consumer} ({g}) → {topic}")
                    }
                    _ => format!("{consumer} → {topic}"),
                },
            ),
            Happening::Assigned { consumer, .. }
            | Happening::Revoked { consumer, .. }
            | Happening::ConsumerEnded { consumer, .. }
            | Happening::ConsumerError { consumer, .. } => (consumer, consumer.clone()),
            _ => continue,
        };
        if seen.insert(consumer.clone()) {
            order.push(consumer.clone());
            let mut track = Track::new();
            // A consumer first seen after it started: its start was among the dropped events.
            let from = if matches!(e.what, Happening::ConsumerStarted { .. }) {
                e.at_ms
            } else {
                start_ms
            };
            track.set(from, Some(Assignment { partitions: vec![] }));
            lanes.insert(
                consumer.clone(),
                Building {
                    label,
                    track,
                    owned: BTreeSet::new(),
                    marks: Vec::new(),
                },
            );
        }
        let lane = lanes.get_mut(consumer).expect("inserted above");
        match &e.what {
            Happening::Assigned { partitions, .. } => lane.owned.extend(partitions),
            Happening::Revoked { partitions, .. } => {
                for p in partitions {
                    lane.owned.remove(p);
                }
            }
            Happening::ConsumerEnded { how, .. } => {
                lane.track.set(e.at_ms, None);
                lane.marks.push(Mark {
                    at_ms: e.at_ms,
                    text: format!("{consumer} {how}"),
                });
                continue;
            }
            Happening::ConsumerError { message, .. } => {
                lane.marks.push(Mark {
                    at_ms: e.at_ms,
                    text: format!("{consumer} error: {message}"),
                });
                continue;
            }
            _ => continue,
        }
        lane.track.set(
            e.at_ms,
            Some(Assignment {
                partitions: lane.owned.iter().copied().collect(),
            }),
        );
    }
    order
        .into_iter()
        .map(|name| {
            let b = lanes.remove(&name).expect("every name has a lane");
            Lane {
                key: format!("consumer-{name}"),
                label: b.label,
                segments: b.track.segments(end_ms),
                marks: b.marks,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::snapshot::{
        BrokerState, BrokerStatus, ClusterSnapshot, PartitionView, TopicView,
    };
    use crate::cluster::BrokerId;

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
}
