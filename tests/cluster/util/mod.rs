//! Shared helpers: an embedded cluster per test, real rdkafka clients, unique names, and
//! waiting for conditions with deadlines instead of sleeping.
//!
//! One file per kind of helper, all re-exported here, so a test file takes them with
//! `use crate::util::*`.

mod clients;
mod processes;
mod test_cluster;
mod wait;

pub use clients::*;
pub use processes::*;
pub use test_cluster::*;
pub use wait::*;

use std::sync::atomic::{AtomicU32, Ordering};

use kafka_sandbox::backend::snapshot::ClusterSnapshot;

/// A unique name for a topic.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// True if every partition of `topic` has a leader and its whole replica set in the ISR.
pub fn fully_in_sync(snapshot: &ClusterSnapshot, topic: &str) -> bool {
    snapshot.topic(topic).is_some_and(|t| {
        t.partitions
            .iter()
            .all(|p| p.isr_ids().len() == p.replica_ids().len() && p.leader_id() >= 0)
    })
}

/// Plain broker numbers from the shared partition view, for comparing with test constants.
pub trait Numbered {
    /// The leader's id, or -1 with no leader.
    fn leader_id(&self) -> i32;
    /// Replica ids, preferred first.
    fn replica_ids(&self) -> Vec<i32>;
    /// In-sync replica ids.
    fn isr_ids(&self) -> Vec<i32>;
}

impl Numbered for kafka_sandbox::backend::snapshot::PartitionView {
    fn leader_id(&self) -> i32 {
        self.leader.map_or(-1, |l| l.0)
    }
    fn replica_ids(&self) -> Vec<i32> {
        self.replicas.iter().map(|b| b.0).collect()
    }
    fn isr_ids(&self) -> Vec<i32> {
        self.isr.iter().map(|b| b.0).collect()
    }
}
