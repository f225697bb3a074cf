//! The session's own producers and consumers as the view shows them: what each sent and
//! received, counts and the last values. Script bindings report into it as they go; the web
//! server reads it from another thread.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

use serde::Serialize;

use crate::client::consumer::ConsumerHandle;

/// Values kept per client for display.
const LAST_VALUES: usize = 5;

/// One producer of the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProducerView {
    /// Its label, `p1`, `p2`, … in creation order.
    pub name: String,
    /// Its `acks` setting.
    pub acks: String,
    /// Sends attempted.
    pub sent: u64,
    /// Sends acknowledged.
    pub acknowledged: u64,
    /// Sends refused or timed out.
    pub failed: u64,
    /// The last values sent, oldest first.
    pub last_values: VecDeque<String>,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// One consumer of the session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerView {
    /// Its label (`group/c1`, or `c1` alone).
    pub name: String,
    /// Its group, if any.
    pub group: Option<String>,
    /// The topic it reads.
    pub topic: String,
    /// `running`, `closed`, `killed`, or why its process exited.
    pub state: String,
    /// Partitions it owns now.
    pub assignment: Vec<i32>,
    /// Messages received.
    pub received: u64,
    /// The last values received, oldest first.
    pub last_values: VecDeque<String>,
}

/// Producers and consumers of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientsView {
    /// Producers in creation order.
    pub producers: Vec<ProducerView>,
    /// Consumers in start order.
    pub consumers: Vec<ConsumerView>,
}

/// The book the bindings write to: producer tallies, and the consumers' own handles, read
/// when the page asks (each consumer process reports into its handle as it goes). The book
/// holds consumers weakly: whether a script still refers to a consumer is told by its strong
/// count (a failed statement's unreferenced consumers are closed), and watching must not
/// change that.
#[derive(Default)]
pub struct ClientBook {
    producers: Mutex<Vec<ProducerView>>,
    consumers: Mutex<Vec<Weak<ConsumerHandle>>>,
}

fn remember(values: &mut VecDeque<String>, value: &str) {
    if values.len() == LAST_VALUES {
        values.pop_front();
    }
    values.push_back(value.to_string());
}

impl ClientBook {
    /// Registers a new producer; returns its label.
    pub fn producer_created(&self, acks: &str) -> String {
        let mut producers = self.producers.lock().expect("clients lock");
        let name = format!("p{}", producers.len() + 1);
        producers.push(ProducerView {
            name: name.clone(),
            acks: acks.to_string(),
            ..Default::default()
        });
        name
    }

    /// Records one send of producer `name` and its outcome.
    pub fn sent(&self, name: &str, value: &str, outcome: Result<(), &str>) {
        let mut producers = self.producers.lock().expect("clients lock");
        let Some(p) = producers.iter_mut().find(|p| p.name == name) else {
            return;
        };
        p.sent += 1;
        remember(&mut p.last_values, value);
        match outcome {
            Ok(()) => p.acknowledged += 1,
            Err(e) => {
                p.failed += 1;
                p.last_error = Some(e.to_string());
            }
        }
    }

    /// Registers a consumer as it starts.
    pub(crate) fn consumer_started(&self, consumer: &Arc<ConsumerHandle>) {
        self.consumers
            .lock()
            .expect("clients lock")
            .push(Arc::downgrade(consumer));
    }

    /// The consumers still alive (the session holds every one it started until it ends).
    fn live_consumers(&self) -> Vec<Arc<ConsumerHandle>> {
        self.consumers
            .lock()
            .expect("clients lock")
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// The groups the session's consumers joined.
    pub fn groups(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .live_consumers()
            .iter()
            .filter_map(|c| c.spec.group.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Everything, for the page.
    pub fn view(&self) -> ClientsView {
        let producers = self.producers.lock().expect("clients lock").clone();
        let consumers = self
            .live_consumers()
            .iter()
            .map(|c| {
                let (received, last) = c.tally(LAST_VALUES);
                ConsumerView {
                    name: c.name.clone(),
                    group: c.spec.group.clone(),
                    topic: c.spec.topic.clone(),
                    state: c.end().map_or_else(|| "running".into(), |e| e.to_string()),
                    assignment: c.assignment().into_iter().collect(),
                    received: received as u64,
                    last_values: last.into(),
                }
            })
            .collect();
        ClientsView {
            producers,
            consumers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sends_and_keeps_the_last_values() {
        let book = ClientBook::default();
        let p = book.producer_created("all");
        book.sent(&p, "a", Ok(()));
        book.sent(&p, "b", Err("NOT_ENOUGH_REPLICAS"));
        for i in 0..7 {
            book.sent(&p, &format!("v{i}"), Ok(()));
        }
        let view = book.view();
        let p1 = &view.producers[0];
        assert_eq!(p1.name, "p1");
        assert_eq!((p1.sent, p1.acknowledged, p1.failed), (9, 8, 1));
        assert_eq!(p1.last_error.as_deref(), Some("NOT_ENOUGH_REPLICAS"));
        assert_eq!(p1.last_values, ["v2", "v3", "v4", "v5", "v6"]);
        assert_eq!(book.producer_created("1"), "p2");
    }
}
