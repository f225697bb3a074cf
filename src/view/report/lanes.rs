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

mod partitions;

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
            partitions: partitions::partitions(events, last, start_ms, end_ms),
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
mod tests;
