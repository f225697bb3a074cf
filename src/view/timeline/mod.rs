//! The session's timeline: every fault injected, every change the cluster made in answer,
//! every rebalance, produce error and lesson step, stamped with the time since the session
//! started. The page's event list, `/api/events` and the report's swim lanes all read it.
//!
//! Recording never waits for a reader: the buffer keeps the last [`CAPACITY`] events and drops
//! the oldest, and live readers get a bounded broadcast channel that drops the oldest for a
//! reader that falls behind. A stalled browser tab cannot hold up a broker or a statement.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::broadcast;

mod happening;
pub use happening::{from_cluster, Happening};

/// Events kept for replay and the report; older ones are dropped (and counted).
pub const CAPACITY: usize = 20_000;
/// Events a live reader may fall behind by before it loses the oldest.
const LIVE_BACKLOG: usize = 1024;

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Position in the session (from 1, without gaps).
    pub seq: u64,
    /// Milliseconds since the session started.
    pub at_ms: u64,
    /// The event in words, as the page and report show it.
    pub text: String,
    /// The event as data.
    #[serde(flatten)]
    pub what: Happening,
}

struct Buffer {
    events: VecDeque<Arc<Event>>,
    next_seq: u64,
    dropped: u64,
}

/// The session's events: a bounded buffer for replay and a broadcast for live readers.
pub struct Timeline {
    started: Instant,
    buffer: Mutex<Buffer>,
    live: broadcast::Sender<Arc<Event>>,
}

impl Timeline {
    /// An empty timeline whose clock starts at `started`.
    pub fn new(started: Instant) -> Self {
        let (live, _) = broadcast::channel(LIVE_BACKLOG);
        Self {
            started,
            buffer: Mutex::new(Buffer {
                events: VecDeque::new(),
                next_seq: 1,
                dropped: 0,
            }),
            live,
        }
    }

    /// Milliseconds since the session started.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// When the session started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Records `what` now; returns its sequence number. Never waits for a reader.
    pub fn record(&self, what: Happening) -> u64 {
        let mut buffer = self.buffer.lock().expect("timeline lock");
        let event = Arc::new(Event {
            seq: buffer.next_seq,
            at_ms: self.now_ms(),
            text: what.to_string(),
            what,
        });
        buffer.next_seq += 1;
        if buffer.events.len() == CAPACITY {
            buffer.events.pop_front();
            buffer.dropped += 1;
        }
        buffer.events.push_back(event.clone());
        // Sent under the lock, so a reader that replays then subscribes sees every event
        // exactly once (see `subscribe`). No receivers is not an error worth noticing.
        let _ = self.live.send(event.clone());
        event.seq
    }

    /// Every event kept, oldest first, and how many older ones were dropped.
    pub fn events(&self) -> (Vec<Arc<Event>>, u64) {
        let buffer = self.buffer.lock().expect("timeline lock");
        (buffer.events.iter().cloned().collect(), buffer.dropped)
    }

    /// The events so far and a receiver for every later one, with nothing missed or repeated
    /// between the two.
    pub fn subscribe(&self) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let buffer = self.buffer.lock().expect("timeline lock");
        let receiver = self.live.subscribe();
        (buffer.events.iter().cloned().collect(), receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::events::ClusterEvent;
    use crate::cluster::image::NO_LEADER;

    #[test]
    fn a_ready_cluster_is_counted_in_words() {
        let ready = |brokers: Vec<i32>| {
            Happening::Ready {
                backend: "embedded".into(),
                brokers,
            }
            .to_string()
        };
        assert_eq!(ready(vec![1]), "1 broker ready (embedded): 1");
        assert!(ready(vec![1, 2, 3]).starts_with("3 brokers ready (embedded)"));
    }

    #[test]
    fn events_are_numbered_and_replayed_then_streamed_without_gaps() {
        let timeline = Timeline::new(Instant::now());
        timeline.record(Happening::Fault {
            command: "kill".into(),
            broker: Some(2),
        });
        let (replayed, mut live) = timeline.subscribe();
        timeline.record(Happening::BrokerFenced { broker: 2 });
        assert_eq!(replayed.len(), 1);
        assert_eq!(replayed[0].text, "kill broker 2");
        let next = live.try_recv().unwrap();
        assert_eq!(next.seq, 2);
        assert_eq!(next.text, "broker 2 fenced by the controller");
        let json = serde_json::to_value(&*next).unwrap();
        assert_eq!(json["kind"], "broker_fenced");
        assert_eq!(json["broker"], 2);
    }

    #[test]
    fn the_buffer_drops_the_oldest_and_a_slow_reader_never_blocks_recording() {
        let timeline = Timeline::new(Instant::now());
        let (_, mut stalled) = timeline.subscribe();
        for broker in 0..(CAPACITY as i32 + 10) {
            timeline.record(Happening::BrokerUnfenced { broker });
        }
        let (kept, dropped) = timeline.events();
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(dropped, 10);
        assert_eq!(kept[0].seq, 11);
        // The stalled reader lost the oldest, and is told so.
        assert!(matches!(
            stalled.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }

    #[test]
    fn internal_topic_changes_are_summed_up_and_user_topics_kept() {
        let batch = vec![
            ClusterEvent::BrokerFenced(2),
            ClusterEvent::LeaderChanged {
                topic: "t".into(),
                partition: 0,
                from: 2,
                to: 1,
                epoch: 4,
                unclean: false,
            },
            ClusterEvent::LeaderChanged {
                topic: "__consumer_offsets".into(),
                partition: 3,
                from: 2,
                to: NO_LEADER,
                epoch: 4,
                unclean: false,
            },
        ];
        let texts: Vec<String> = from_cluster(&batch)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            texts,
            vec![
                "broker 2 fenced by the controller",
                "t-0 leader 2 → 1 (epoch 4)",
                "__consumer_offsets: 1 leader moved",
            ]
        );
    }
}
