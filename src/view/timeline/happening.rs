//! What can happen in a session, as the timeline records it: each [`Happening`] with its
//! sentence, and the mapping from the cluster's metadata changes to happenings.

use std::fmt;

use serde::Serialize;

use crate::backend::events::ClusterEvent;
use crate::cluster::image::NO_LEADER;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happening {
    /// The cluster is ready: the session starts.
    Ready {
        /// The backend (`embedded`, `processes`, `docker`, `attach`).
        backend: String,
        /// Its brokers.
        brokers: Vec<i32>,
    },
    /// A fault or repair was asked for: `kill`, `stop`, `start`, `restart`, `pause`, `resume`,
    /// `isolate`, `heal`, `elect`.
    Fault {
        /// The command.
        command: String,
        /// The broker it targets (none for `heal` of all, or `elect`).
        broker: Option<i32>,
    },
    /// A fault command was refused; the cluster did not change.
    FaultFailed {
        /// The command.
        command: String,
        /// The broker it targeted.
        broker: Option<i32>,
        /// Why.
        error: String,
    },
    /// The controller unfenced a broker: it joined or came back.
    BrokerUnfenced {
        /// Broker id.
        broker: i32,
    },
    /// The controller fenced a broker: it stopped, crashed, froze or was cut off.
    BrokerFenced {
        /// Broker id.
        broker: i32,
    },
    /// A topic was created.
    TopicCreated {
        /// Topic.
        topic: String,
    },
    /// A topic was deleted.
    TopicDeleted {
        /// Topic.
        topic: String,
    },
    /// A topic grew: partitions `from..to` are new (CreatePartitions).
    PartitionsAdded {
        /// Topic.
        topic: String,
        /// Partitions before.
        from: i32,
        /// Partitions now.
        to: i32,
    },
    /// A partition's leader changed.
    LeaderElected {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The old leader.
        from: Option<i32>,
        /// The new leader (none: the partition is offline).
        to: Option<i32>,
        /// The new leader epoch.
        epoch: i32,
        /// The new leader was not in the ISR.
        unclean: bool,
    },
    /// A partition's ISR shrank, grew or changed.
    IsrChanged {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The ISR before.
        from: Vec<i32>,
        /// The ISR after.
        to: Vec<i32>,
        /// The leader once the change applied.
        leader: Option<i32>,
    },
    /// Many changes to an internal topic (`__consumer_offsets`) at once, summed up.
    Internal {
        /// Topic.
        topic: String,
        /// What changed, in words.
        summary: String,
    },
    /// A consumer of the session started.
    ConsumerStarted {
        /// Its label (`group/c1`).
        consumer: String,
        /// Its group, if any.
        group: Option<String>,
        /// The topic it reads.
        topic: String,
    },
    /// A consumer was given partitions in a rebalance.
    Assigned {
        /// Its label.
        consumer: String,
        /// The partitions.
        partitions: Vec<i32>,
    },
    /// A consumer gave partitions up in a rebalance.
    Revoked {
        /// Its label.
        consumer: String,
        /// The partitions.
        partitions: Vec<i32>,
    },
    /// A consumer stopped: closed, killed, or its process exited.
    ConsumerEnded {
        /// Its label.
        consumer: String,
        /// How.
        how: String,
    },
    /// A consumer reported an error.
    ConsumerError {
        /// Its label.
        consumer: String,
        /// What librdkafka said.
        message: String,
    },
    /// A send was refused (e.g. NOT_ENOUGH_REPLICAS) or timed out.
    ProduceFailed {
        /// The producer's label (`p1`).
        producer: String,
        /// Topic.
        topic: String,
        /// The error.
        error: String,
    },
    /// A lesson began.
    LessonStarted {
        /// Its name.
        lesson: String,
    },
    /// A lesson step.
    Step {
        /// Its title.
        title: String,
    },
    /// A review question or prediction was answered and judged.
    Answered {
        /// True for a prediction.
        prediction: bool,
        /// The question.
        question: String,
        /// The learner's last answer (empty: none given).
        answer: String,
        /// The verdict in words (`correct`, `incorrect`, `model answer shown (auto)`, …).
        verdict: String,
        /// Whether it counts as correct.
        correct: bool,
        /// The model answer (for a prediction: what this run did).
        model: String,
    },
    /// A lesson ended.
    LessonEnded {
        /// Its name.
        lesson: String,
        /// Whether it ran to the end.
        completed: bool,
    },
}

fn ids(list: &[i32]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn broker_or_none(id: Option<i32>) -> String {
    id.map_or_else(|| "none".into(), |b| b.to_string())
}

impl fmt::Display for Happening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Happening::Ready { backend, brokers } => write!(
                f,
                "{} ready ({backend}): {}",
                crate::control::count(brokers.len() as i64, "broker", "brokers"),
                ids(brokers)
            ),
            Happening::Fault { command, broker } => match broker {
                Some(b) => write!(f, "{command} broker {b}"),
                None if command == "heal" => write!(f, "heal every broker"),
                None if command == "elect" => write!(f, "preferred-leader election"),
                None => write!(f, "{command}"),
            },
            Happening::FaultFailed {
                command,
                broker,
                error,
            } => match broker {
                Some(b) => write!(f, "{command} broker {b} refused: {error}"),
                None => write!(f, "{command} refused: {error}"),
            },
            Happening::BrokerUnfenced { broker } => write!(f, "broker {broker} is in the cluster"),
            Happening::BrokerFenced { broker } => {
                write!(f, "broker {broker} fenced by the controller")
            }
            Happening::TopicCreated { topic } => write!(f, "topic {topic} created"),
            Happening::TopicDeleted { topic } => write!(f, "topic {topic} deleted"),
            Happening::PartitionsAdded { topic, from, to } => {
                write!(f, "topic {topic} grew from {from} to {to} partitions")
            }
            Happening::LeaderElected {
                topic,
                partition,
                from,
                to,
                epoch,
                unclean,
            } => {
                write!(
                    f,
                    "{topic}-{partition} leader {} → {} (epoch {epoch})",
                    broker_or_none(*from),
                    broker_or_none(*to)
                )?;
                if *unclean {
                    f.write_str(", unclean: the new leader was out of sync")?;
                }
                Ok(())
            }
            Happening::IsrChanged {
                topic,
                partition,
                from,
                to,
                ..
            } => {
                let verb = match to.len().cmp(&from.len()) {
                    std::cmp::Ordering::Less => "shrank",
                    std::cmp::Ordering::Greater => "expanded",
                    std::cmp::Ordering::Equal => "changed",
                };
                write!(
                    f,
                    "{topic}-{partition} ISR {verb} {} → {}",
                    ids(from),
                    ids(to)
                )
            }
            Happening::Internal { topic, summary } => write!(f, "{topic}: {summary}"),
            Happening::ConsumerStarted {
                consumer,
                group,
                topic,
            } => match group {
                Some(g) => write!(f, "{consumer} joins group {g} on {topic}"),
                None => write!(f, "{consumer} reads {topic} on its own"),
            },
            Happening::Assigned {
                consumer,
                partitions,
            } => write!(f, "{consumer} assigned {}", ids(partitions)),
            Happening::Revoked {
                consumer,
                partitions,
            } => write!(f, "{consumer} revoked {}", ids(partitions)),
            Happening::ConsumerEnded { consumer, how } => write!(f, "{consumer} {how}"),
            Happening::ConsumerError { consumer, message } => {
                write!(f, "{consumer} error: {message}")
            }
            Happening::ProduceFailed {
                producer,
                topic,
                error,
            } => write!(f, "{producer} send to {topic} failed: {error}"),
            Happening::LessonStarted { lesson } => write!(f, "lesson {lesson} begins"),
            Happening::Step { title } => write!(f, "step: {title}"),
            Happening::Answered {
                prediction,
                question,
                answer,
                verdict,
                ..
            } => {
                let kind = if *prediction {
                    "prediction"
                } else {
                    "question"
                };
                if answer.is_empty() {
                    write!(f, "{kind}: {question} — {verdict}")
                } else {
                    write!(f, "{kind}: {question} — {answer:?}, {verdict}")
                }
            }
            Happening::LessonEnded { lesson, completed } => {
                if *completed {
                    write!(f, "lesson {lesson} completed")
                } else {
                    write!(f, "lesson {lesson} stopped")
                }
            }
        }
    }
}

impl Happening {
    /// A fault or repair (including refused ones): what the report marks across every lane.
    pub fn is_fault(&self) -> bool {
        matches!(self, Happening::Fault { .. })
    }
}

fn leader(id: i32) -> Option<i32> {
    (id != NO_LEADER).then_some(id)
}

/// The timeline entries for one batch of cluster events: each change of a user topic on its
/// own, and those of internal topics summed up in one entry per topic (a failover moves
/// dozens of `__consumer_offsets` partitions at once).
pub fn from_cluster(batch: &[ClusterEvent]) -> Vec<Happening> {
    let mut out = Vec::new();
    let mut internal = Vec::new();
    for event in batch {
        let topic = match event {
            ClusterEvent::TopicCreated(t) | ClusterEvent::TopicDeleted(t) => Some(t),
            ClusterEvent::LeaderChanged { topic, .. }
            | ClusterEvent::IsrChanged { topic, .. }
            | ClusterEvent::PartitionsAdded { topic, .. } => Some(topic),
            _ => None,
        };
        if topic.is_some_and(|t| t.starts_with("__")) {
            internal.push(event.clone());
            continue;
        }
        out.push(match event.clone() {
            ClusterEvent::BrokerJoined(broker) => Happening::BrokerUnfenced { broker },
            ClusterEvent::BrokerFenced(broker) => Happening::BrokerFenced { broker },
            ClusterEvent::TopicCreated(topic) => Happening::TopicCreated { topic },
            ClusterEvent::TopicDeleted(topic) => Happening::TopicDeleted { topic },
            ClusterEvent::PartitionsAdded { topic, from, to } => {
                Happening::PartitionsAdded { topic, from, to }
            }
            ClusterEvent::LeaderChanged {
                topic,
                partition,
                from,
                to,
                epoch,
                unclean,
            } => Happening::LeaderElected {
                topic,
                partition,
                from: leader(from),
                to: leader(to),
                epoch,
                unclean,
            },
            ClusterEvent::IsrChanged {
                topic,
                partition,
                from,
                to,
                leader: l,
            } => Happening::IsrChanged {
                topic,
                partition,
                from,
                to,
                leader: leader(l),
            },
        });
    }
    for line in crate::backend::events::lines(&internal) {
        // `lines` writes "TOPIC (internal): summary".
        let (topic, summary) = line
            .split_once(" (internal): ")
            .map_or((line.as_str(), ""), |(t, s)| (t, s));
        out.push(Happening::Internal {
            topic: topic.to_string(),
            summary: summary.to_string(),
        });
    }
    out
}
