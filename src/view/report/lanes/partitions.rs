//! Partition lanes: leader and ISR over time. The timeline records changes; the state before
//! the first change is what that change says it replaced, and a partition that never changed
//! (or a topic recreated under the same name) takes the final snapshot's state.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{internal, Lane, Leadership, Track};
use crate::backend::snapshot::ClusterSnapshot;
use crate::view::timeline::{Event, Happening};

/// The changes of one partition, and the lifetime of its topic.
fn partition_events<'a>(
    events: &'a [Arc<Event>],
    topic: &'a str,
    partition: i32,
) -> impl Iterator<Item = &'a Arc<Event>> + 'a {
    events.iter().filter(move |e| match &e.what {
        Happening::TopicCreated { topic: t } | Happening::TopicDeleted { topic: t } => t == topic,
        // The partition begins here if the topic grew to include it.
        Happening::PartitionsAdded { topic: t, from, .. } => t == topic && partition >= *from,
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
            Happening::TopicCreated { .. }
            | Happening::TopicDeleted { .. }
            | Happening::PartitionsAdded { .. } => break,
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

/// Whether one of `later` (this partition's events) adds the partition to its topic before the
/// topic is deleted again.
fn added_later(later: &[&Arc<Event>]) -> bool {
    later
        .iter()
        .take_while(|e| !matches!(e.what, Happening::TopicDeleted { .. }))
        .any(|e| matches!(e.what, Happening::PartitionsAdded { .. }))
}

pub(super) fn partitions(
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
                Some(Happening::TopicCreated { .. } | Happening::PartitionsAdded { .. })
            ) {
                track.set(start_ms, first_state(&mine, last_of(0), replicas));
            }
            for (i, e) in mine.iter().enumerate() {
                let now = track.current().cloned();
                let next = match &e.what {
                    // A partition the topic grew into later did not exist when it was created.
                    Happening::TopicCreated { .. } if added_later(&mine[i + 1..]) => None,
                    Happening::TopicCreated { .. } | Happening::PartitionsAdded { .. } => {
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
