//! Cluster events in plain words, computed by comparing two consecutive metadata images:
//! brokers joining or being fenced, leaders moving, ISRs shrinking or growing, topics coming
//! and going. Nothing here is scripted; every line comes from a real change.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::cluster::image::{MetadataImage, PartitionImage, NO_LEADER};

/// One observable change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// A broker was unfenced (joined or came back).
    BrokerJoined(i32),
    /// A broker was fenced (stopped, crashed, paused or cut off).
    BrokerFenced(i32),
    /// A topic was created.
    TopicCreated(String),
    /// A topic was deleted.
    TopicDeleted(String),
    /// A topic grew (CreatePartitions): partitions `from..to` are new.
    PartitionsAdded {
        /// Topic.
        topic: String,
        /// Partitions before.
        from: i32,
        /// Partitions now.
        to: i32,
    },
    /// A partition's leader changed.
    LeaderChanged {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Old leader (-1: none).
        from: i32,
        /// New leader (-1: none).
        to: i32,
        /// New leader epoch.
        epoch: i32,
        /// The new leader was not in the ISR: an unclean election, which loses what it lacked.
        unclean: bool,
    },
    /// A partition's ISR changed.
    IsrChanged {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Old ISR.
        from: Vec<i32>,
        /// New ISR.
        to: Vec<i32>,
        /// The partition's leader once the change applies (-1: none).
        leader: i32,
    },
}

fn ids(list: &[i32]) -> String {
    list.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn leader(id: i32) -> String {
    if id == NO_LEADER {
        "none".into()
    } else {
        id.to_string()
    }
}

impl fmt::Display for ClusterEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterEvent::BrokerJoined(id) => write!(f, "broker {id} is in the cluster"),
            ClusterEvent::BrokerFenced(id) => {
                write!(f, "broker {id} left the cluster (fenced by the controller)")
            }
            ClusterEvent::TopicCreated(t) => write!(f, "topic {t} created"),
            ClusterEvent::TopicDeleted(t) => write!(f, "topic {t} deleted"),
            ClusterEvent::PartitionsAdded { topic, from, to } => {
                write!(f, "topic {topic} grew from {from} to {to} partitions")
            }
            ClusterEvent::LeaderChanged {
                topic,
                partition,
                from,
                to,
                epoch,
                unclean,
            } => write!(
                f,
                "leader of {topic}-{partition} moved {}→{} (epoch {epoch}){}",
                leader(*from),
                leader(*to),
                if *unclean {
                    ", an unclean election: the new leader was out of sync"
                } else {
                    ""
                }
            ),
            ClusterEvent::IsrChanged {
                topic,
                partition,
                from,
                to,
                ..
            } => {
                let verb = if to.len() < from.len() {
                    "shrank"
                } else if to.len() > from.len() {
                    "grew"
                } else {
                    "changed"
                };
                write!(
                    f,
                    "ISR of {topic}-{partition} {verb} to {} (was {})",
                    ids(to),
                    ids(from)
                )
            }
        }
    }
}

/// The events that turn `old` into `new`, brokers first, then topics, then partitions.
pub(crate) fn diff(old: &MetadataImage, new: &MetadataImage) -> Vec<ClusterEvent> {
    let mut out = Vec::new();
    for (id, b) in &new.brokers {
        let was_alive = old.is_alive(*id);
        if !b.fenced && !was_alive {
            out.push(ClusterEvent::BrokerJoined(*id));
        } else if b.fenced && was_alive {
            out.push(ClusterEvent::BrokerFenced(*id));
        }
    }
    for name in old.topics.keys().filter(|n| !new.topics.contains_key(*n)) {
        out.push(ClusterEvent::TopicDeleted(name.clone()));
    }
    for (name, topic) in &new.topics {
        let Some(before) = old.topics.get(name).filter(|t| t.id == topic.id) else {
            out.push(ClusterEvent::TopicCreated(name.clone()));
            continue;
        };
        if topic.partitions.len() > before.partitions.len() {
            out.push(ClusterEvent::PartitionsAdded {
                topic: name.clone(),
                from: before.partitions.len() as i32,
                to: topic.partitions.len() as i32,
            });
        }
        for (i, (p_old, p_new)) in before.partitions.iter().zip(&topic.partitions).enumerate() {
            if p_old.leader != p_new.leader {
                out.push(ClusterEvent::LeaderChanged {
                    topic: name.clone(),
                    partition: i as i32,
                    from: p_old.leader,
                    to: p_new.leader,
                    epoch: p_new.leader_epoch,
                    unclean: unclean_election(topic.unclean_leader_election, p_old, p_new),
                });
            }
            if p_old.isr != p_new.isr {
                out.push(ClusterEvent::IsrChanged {
                    topic: name.clone(),
                    partition: i as i32,
                    from: p_old.isr.clone(),
                    to: p_new.isr.clone(),
                    leader: p_new.leader,
                });
            }
        }
    }
    out
}

/// Whether the leader change from `old` to `new` was an unclean election: the controller chose
/// a replica that was not in the ISR, which it only does for a topic that allows it.
///
/// The two images may be several metadata changes apart (a watcher sees only the latest), so
/// "not in the old ISR" alone would also call unclean a clean move that followed the replica's
/// return to the ISR, such as the preferred-leader election after a broker restarts. When the
/// images are one change apart the old ISR settles it; when they are more, an unclean election
/// shows as an ISR of the new leader alone.
fn unclean_election(allowed: bool, old: &PartitionImage, new: &PartitionImage) -> bool {
    if !allowed || new.leader == NO_LEADER || old.isr.contains(&new.leader) {
        return false;
    }
    new.partition_epoch == old.partition_epoch + 1 || new.isr == [new.leader]
}

/// True if the event concerns one of Kafka's internal topics (`__consumer_offsets`).
fn internal(event: &ClusterEvent) -> Option<&str> {
    let topic = match event {
        ClusterEvent::TopicCreated(t) | ClusterEvent::TopicDeleted(t) => t,
        ClusterEvent::LeaderChanged { topic, .. }
        | ClusterEvent::IsrChanged { topic, .. }
        | ClusterEvent::PartitionsAdded { topic, .. } => topic,
        ClusterEvent::BrokerJoined(_) | ClusterEvent::BrokerFenced(_) => return None,
    };
    topic.starts_with("__").then_some(topic.as_str())
}

/// The lines to print for events that arrived together (one metadata change): each event on
/// its own line, except those about internal topics, which are summed up in one line per
/// topic, since a failover moves dozens of `__consumer_offsets` partitions at once.
pub fn lines(batch: &[ClusterEvent]) -> Vec<String> {
    let mut out = Vec::new();
    // topic -> (created, deleted, leaders moved, ISR shrank, ISR grew)
    let mut hidden: std::collections::BTreeMap<&str, [usize; 5]> = Default::default();
    for event in batch {
        let Some(topic) = internal(event) else {
            out.push(event.to_string());
            continue;
        };
        let counts = hidden.entry(topic).or_default();
        match event {
            ClusterEvent::TopicCreated(_) => counts[0] += 1,
            ClusterEvent::TopicDeleted(_) => counts[1] += 1,
            ClusterEvent::LeaderChanged { .. } => counts[2] += 1,
            ClusterEvent::IsrChanged { from, to, .. } if to.len() < from.len() => counts[3] += 1,
            ClusterEvent::IsrChanged { .. } => counts[4] += 1,
            ClusterEvent::BrokerJoined(_)
            | ClusterEvent::BrokerFenced(_)
            | ClusterEvent::PartitionsAdded { .. } => {}
        }
    }
    for (topic, [created, deleted, leaders, shrank, grew]) in hidden {
        let mut parts = Vec::new();
        if created > 0 {
            parts.push("created".to_string());
        }
        if deleted > 0 {
            parts.push("deleted".to_string());
        }
        let count = |n: usize, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        if leaders > 0 {
            parts.push(count(leaders, "leader moved", "leaders moved"));
        }
        if shrank > 0 {
            parts.push(count(shrank, "ISR shrank", "ISRs shrank"));
        }
        if grew > 0 {
            parts.push(count(grew, "ISR grew", "ISRs grew"));
        }
        out.push(format!("{topic} (internal): {}", parts.join(", ")));
    }
    out
}

/// The next event and every other one already waiting: what one metadata change produced.
pub(crate) async fn next_batch(
    events: &mut mpsc::UnboundedReceiver<ClusterEvent>,
) -> Option<Vec<ClusterEvent>> {
    let mut batch = vec![events.recv().await?];
    while let Ok(more) = events.try_recv() {
        batch.push(more);
    }
    Some(batch)
}

/// Turns a stream of images into a stream of events, from now on. `image` picks the metadata
/// image out of whatever the channel carries. The watcher ends when the receiver is dropped or
/// the images stop.
pub(crate) fn watch<T: Send + Sync + 'static>(
    mut images: watch::Receiver<T>,
    image: fn(&T) -> Arc<MetadataImage>,
) -> mpsc::UnboundedReceiver<ClusterEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut previous = image(&images.borrow_and_update());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                changed = images.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
            let current = image(&images.borrow_and_update());
            for event in diff(&previous, &current) {
                if tx.send(event).is_err() {
                    return;
                }
            }
            previous = current;
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::{BrokerImage, TopicImage};

    fn partition(leader: i32, isr: Vec<i32>, partition_epoch: i32) -> PartitionImage {
        PartitionImage {
            replicas: vec![3, 1, 2],
            isr,
            leader,
            leader_epoch: partition_epoch,
            partition_epoch,
        }
    }

    #[test]
    fn only_a_topic_that_allows_it_has_unclean_elections() {
        // Broker 3 restarts, rejoins the ISR and takes back its preferred leadership; a watcher
        // that sees only the first and last image must not call that move unclean.
        let before = partition(2, vec![2, 1], 4);
        let after = partition(3, vec![2, 1, 3], 6);
        assert!(!unclean_election(false, &before, &after));
        assert!(!unclean_election(true, &before, &after));
        // One change apart: the new leader was out of sync.
        let out_of_sync = partition(3, vec![3], 5);
        assert!(unclean_election(true, &before, &out_of_sync));
        assert!(!unclean_election(false, &before, &out_of_sync));
        // Several changes apart, the ISR of the new leader alone still shows it.
        let later = partition(3, vec![3], 7);
        assert!(unclean_election(true, &before, &later));
        // A clean move within the ISR.
        assert!(!unclean_election(true, &before, &partition(1, vec![1], 5)));
    }

    #[test]
    fn describes_a_failover_in_words() {
        let broker = |id, fenced| BrokerImage {
            id,
            host: "h".into(),
            port: 1,
            epoch: 1,
            fenced,
            rack: None,
        };
        let partition = |leader, isr: Vec<i32>| PartitionImage {
            replicas: vec![2, 1, 3],
            isr,
            leader,
            leader_epoch: 1,
            partition_epoch: 1,
        };
        let topic = |p| TopicImage {
            id: uuid::Uuid::nil(),
            configs: Default::default(),
            min_insync_replicas: 1,
            unclean_leader_election: false,
            partitions: vec![p],
        };
        let mut old = MetadataImage::default();
        old.brokers.insert(2, broker(2, false));
        old.topics
            .insert("t".into(), topic(partition(2, vec![2, 1, 3])));
        let mut new = old.clone();
        new.brokers.insert(2, broker(2, true));
        new.topics
            .insert("t".into(), topic(partition(1, vec![1, 3])));
        let lines: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "broker 2 left the cluster (fenced by the controller)",
                "leader of t-0 moved 2→1 (epoch 1)",
                "ISR of t-0 shrank to 1,3 (was 2,1,3)",
            ]
        );
        // CreatePartitions: the same topic with one more partition.
        let mut grown = new.clone();
        grown
            .topics
            .get_mut("t")
            .unwrap()
            .partitions
            .push(partition(3, vec![3, 1]));
        let lines: Vec<String> = diff(&new, &grown).iter().map(ToString::to_string).collect();
        assert_eq!(lines, vec!["topic t grew from 1 to 2 partitions"]);
    }

    #[test]
    fn internal_topic_events_are_summed_up_in_one_line() {
        let moved = |topic: &str, partition| ClusterEvent::LeaderChanged {
            topic: topic.into(),
            partition,
            from: 2,
            to: 1,
            epoch: 3,
            unclean: false,
        };
        let shrank = |partition| ClusterEvent::IsrChanged {
            topic: "__consumer_offsets".into(),
            partition,
            from: vec![2, 1],
            to: vec![1],
            leader: 1,
        };
        let mut batch = vec![ClusterEvent::BrokerFenced(2), moved("t", 0)];
        for p in 0..40 {
            batch.push(moved("__consumer_offsets", p));
            batch.push(shrank(p));
        }
        assert_eq!(
            lines(&batch),
            vec![
                "broker 2 left the cluster (fenced by the controller)",
                "leader of t-0 moved 2→1 (epoch 3)",
                "__consumer_offsets (internal): 40 leaders moved, 40 ISRs shrank",
            ]
        );
    }
}
