//! Consumer groups as the view shows them: state, generation, members and their partitions,
//! committed offsets and lag. Read over the Kafka protocol the way `kafka-consumer-groups
//! --describe --all-groups` does (ListGroups on every broker, then DescribeGroups and
//! OffsetFetch at each coordinator), so it works on every backend; the generation, which no
//! classic-protocol request returns, comes from the backend where it can read it.
//!
//! Lookups can take seconds while a coordinator moves, so the watch keeps the last answer and
//! refreshes in the background: a reader never waits for a broker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::backend::ClusterControl;
use crate::client::admin::{Admin, GroupDescription};

/// How long one refresh may take before it gives up on the slow groups.
const REFRESH_LIMIT: Duration = Duration::from_secs(3);

/// A partition a member owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owned {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

/// A group member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    /// Member id the coordinator gave it.
    pub member_id: String,
    /// Its client id (the consumer's label for the session's own consumers).
    pub client_id: String,
    /// Its host.
    pub host: String,
    /// What it owns.
    pub partitions: Vec<Owned>,
}

/// A committed offset and the lag behind the log end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffsetView {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset.
    pub committed: i64,
    /// The partition's high watermark (`None`: its leader did not answer).
    pub end: Option<i64>,
    /// `end - committed` (`None` when the end is unknown).
    pub lag: Option<i64>,
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupView {
    /// Group id.
    pub name: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`.
    pub state: String,
    /// The assignor chosen (`range`, `cooperative-sticky`, …).
    pub protocol: String,
    /// The generation (`None` where the backend cannot read it).
    pub generation: Option<i32>,
    /// Members.
    pub members: Vec<MemberView>,
    /// Committed offsets with lag.
    pub offsets: Vec<OffsetView>,
}

impl GroupView {
    fn from_description(d: GroupDescription, generation: Option<i32>) -> Self {
        GroupView {
            name: d.name,
            state: d.state,
            protocol: d.protocol,
            generation,
            members: d
                .members
                .into_iter()
                .map(|m| MemberView {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    host: m.client_host,
                    partitions: m
                        .assignment
                        .into_iter()
                        .map(|(topic, partition)| Owned { topic, partition })
                        .collect(),
                })
                .collect(),
            offsets: d
                .offsets
                .into_iter()
                .map(|o| OffsetView {
                    topic: o.topic,
                    partition: o.partition,
                    committed: o.committed,
                    end: (o.end >= 0).then_some(o.end),
                    lag: (o.lag >= 0).then_some(o.lag),
                })
                .collect(),
        }
    }
}

/// Every group, as of the last refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupsView {
    /// Groups by name.
    pub groups: Vec<GroupView>,
    /// When they were read (ms since the session started; `None`: not yet).
    pub as_of_ms: Option<u64>,
    /// Brokers or groups that did not answer, in words (empty when all did).
    pub note: String,
    /// Whether generations are visible on this backend.
    pub generations_visible: bool,
}

/// Keeps the last groups answer and refreshes it.
pub struct GroupWatch {
    admin: Admin,
    latest: Mutex<GroupsView>,
    busy: AtomicBool,
    /// When the last refresh started (ms since the session started), for staleness.
    started_ms: AtomicU64,
}

impl GroupWatch {
    /// A watch on the cluster at `bootstrap`; nothing is asked until the first refresh.
    pub fn new(bootstrap: &str) -> Self {
        Self {
            admin: Admin::new(bootstrap),
            latest: Mutex::new(GroupsView::default()),
            busy: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
        }
    }

    /// The last answer.
    pub fn latest(&self) -> GroupsView {
        self.latest.lock().expect("groups lock").clone()
    }

    /// Asks the cluster now (unless a refresh is already under way, whose answer is then
    /// awaited by nobody) and keeps the answer. `known` are groups to describe even if
    /// ListGroups missed them (its broker was down).
    pub async fn refresh(&self, cluster: &dyn ClusterControl, known: &[String], now_ms: u64) {
        if self.busy.swap(true, Ordering::SeqCst) {
            return;
        }
        self.started_ms.store(now_ms.max(1), Ordering::SeqCst);
        let fresh = tokio::time::timeout(REFRESH_LIMIT, self.read(cluster, known, now_ms)).await;
        if let Ok(view) = fresh {
            *self.latest.lock().expect("groups lock") = view;
        }
        self.busy.store(false, Ordering::SeqCst);
    }

    /// True if no refresh started within `max_age_ms` of `now_ms`.
    pub fn stale(&self, now_ms: u64, max_age_ms: u64) -> bool {
        let started = self.started_ms.load(Ordering::SeqCst);
        started == 0 || now_ms.saturating_sub(started) > max_age_ms
    }

    async fn read(
        &self,
        cluster: &dyn ClusterControl,
        known: &[String],
        now_ms: u64,
    ) -> GroupsView {
        let mut notes = Vec::new();
        let mut names: Vec<String> = known.to_vec();
        match self.admin.list_groups().await {
            Ok(listed) => {
                if !listed.note.is_empty() {
                    notes.push(listed.note);
                }
                names.extend(listed.value);
            }
            Err(e) => notes.push(format!("listing groups: {e}")),
        }
        names.sort();
        names.dedup();
        let generations = cluster.group_generations();
        let described = futures_util::future::join_all(
            names.iter().map(|name| self.admin.describe_group(name)),
        )
        .await;
        let mut groups = Vec::new();
        for (name, outcome) in names.iter().zip(described) {
            match outcome {
                Ok(seen) => {
                    if !seen.note.is_empty() {
                        notes.push(seen.note);
                    }
                    let generation = generations.as_ref().and_then(|g| g.get(name).copied());
                    groups.push(GroupView::from_description(seen.value, generation));
                }
                Err(e) => notes.push(format!("group {name}: {e}")),
            }
        }
        notes.dedup();
        GroupsView {
            groups,
            as_of_ms: Some(now_ms),
            note: notes.join("; "),
            generations_visible: generations.is_some(),
        }
    }
}
