//! A group consumer for tests: a real rdkafka `BaseConsumer` polling on its own thread,
//! recording what it received and which partitions it owns.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;
use std::sync::atomic::AtomicUsize;

use crate::util::Consumed;

/// Settings every test member uses: short sessions and frequent heartbeats.
pub const SESSION_TIMEOUT_MS: u64 = 3000;

/// Counts the rebalances librdkafka reports to the application and, when statistics are on,
/// keeps where it fetches each partition of `topic` from.
struct Observing {
    topic: String,
    rebalances: Arc<AtomicUsize>,
    fetching: Arc<Mutex<BTreeMap<i32, i64>>>,
}
impl ClientContext for Observing {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        // "active": the start offset is resolved and the partition is being fetched from it.
        *self.fetching.lock().unwrap() = topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.fetch_state == "active")
            .map(|p| (p.partition, p.next_offset))
            .collect();
    }
}
impl ConsumerContext for Observing {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::SeqCst);
    }
}

/// A running group member.
pub struct Member {
    stop: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    rebalances: Arc<AtomicUsize>,
    fetching: Arc<Mutex<BTreeMap<i32, i64>>>,
    received: Arc<Mutex<Vec<Consumed>>>,
    assignment: Arc<Mutex<BTreeSet<i32>>>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    /// Subscribes to `topic` in `group`; `extra` overrides librdkafka settings. With
    /// `commit_each` the member commits synchronously after every message.
    pub fn start(
        bootstrap: &str,
        topic: &str,
        group: &str,
        extra: &[(&str, &str)],
        commit_each: bool,
    ) -> Self {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("session.timeout.ms", SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", "300")
            .set("auto.offset.reset", "earliest")
            .set(
                "enable.auto.commit",
                if commit_each { "false" } else { "true" },
            )
            .set("auto.commit.interval.ms", "200")
            .set("topic.metadata.refresh.interval.ms", "500");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let rebalances = Arc::new(AtomicUsize::new(0));
        let fetching = Arc::new(Mutex::new(BTreeMap::new()));
        let consumer: BaseConsumer<Observing> = config
            .create_with_context(Observing {
                topic: topic.to_string(),
                rebalances: rebalances.clone(),
                fetching: fetching.clone(),
            })
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let assignment = Arc::new(Mutex::new(BTreeSet::new()));
        let (s, r, a, st) = (
            stop.clone(),
            received.clone(),
            assignment.clone(),
            stalled.clone(),
        );
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if st.load(Ordering::SeqCst) {
                    // An application stuck in its processing: no poll() calls at all.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                    r.lock().unwrap().push(Consumed {
                        partition: m.partition(),
                        offset: m.offset(),
                        value: String::from_utf8_lossy(m.payload().unwrap_or_default())
                            .into_owned(),
                    });
                    if commit_each {
                        let _ = consumer.commit_message(&m, CommitMode::Sync);
                    }
                }
                if let Ok(tpl) = consumer.assignment() {
                    *a.lock().unwrap() = tpl.elements().iter().map(|e| e.partition()).collect();
                }
            }
            // Dropping the consumer closes it: it leaves the group (LeaveGroup).
            consumer.unsubscribe();
            drop(consumer);
        });
        Self {
            stop,
            stalled,
            rebalances,
            fetching,
            received,
            assignment,
            thread: Some(thread),
        }
    }

    /// Messages received so far.
    pub fn received(&self) -> Vec<Consumed> {
        self.received.lock().unwrap().clone()
    }

    /// Values received so far.
    pub fn values(&self) -> Vec<String> {
        self.received().into_iter().map(|c| c.value).collect()
    }

    /// Partitions currently owned.
    pub fn assignment(&self) -> BTreeSet<i32> {
        self.assignment.lock().unwrap().clone()
    }

    /// Rebalance callbacks (assign and revoke each count) seen so far.
    pub fn rebalances(&self) -> usize {
        self.rebalances.load(Ordering::SeqCst)
    }

    /// Partition -> the offset the member fetches it from next, for the partitions whose start
    /// offset is resolved, as of librdkafka's latest statistics. Empty unless the member was
    /// started with `statistics.interval.ms` among its settings.
    pub fn fetch_positions(&self) -> BTreeMap<i32, i64> {
        self.fetching.lock().unwrap().clone()
    }

    /// Stops calling poll() without leaving (a stuck application).
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Clean close: the member leaves the group.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.shutdown();
    }
}
