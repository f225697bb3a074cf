//! Seeing the cluster: the session's [`timeline`], its [`clients`], consumer [`groups`],
//! Kafka's operator [`metrics`], all gathered by one [`View`] per session and shown three
//! ways: the live page and JSON API of [`web`], `/metrics`, and the self-contained timeline
//! [`report`].
//!
//! Every figure comes from the cluster itself (its snapshot, the metadata changes it made, the
//! groups' coordinators): the view draws, it never decides.

pub mod clients;
pub mod groups;
pub mod metrics;
mod recorded;
pub mod report;
pub mod state;
pub mod timeline;
pub mod web;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use serde::Serialize;

use crate::backend::ClusterControl;
use crate::client::ledger::Ledger;
use clients::ClientBook;
use groups::{GroupWatch, GroupsView};
use metrics::{Counters, Figures};
use state::ViewState;
use timeline::{Happening, Timeline};

/// How old the groups answer may be before a reader asks for a fresh one.
const GROUPS_MAX_AGE_MS: u64 = 400;

/// The figures when the last fault was injected, so the page can show what changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Baseline {
    /// The fault's timeline entry.
    pub seq: u64,
    /// When (ms since the session started).
    pub at_ms: u64,
    /// The fault, in words.
    pub fault: String,
    /// The figures just before it.
    pub figures: Figures,
}

/// What one session shows: the cluster, what happened to it, and the session's clients.
pub struct View {
    cluster: Arc<dyn ClusterControl>,
    /// Everything that happened, in order.
    pub timeline: Timeline,
    /// The session's producers and consumers.
    pub clients: ClientBook,
    groups: GroupWatch,
    counters: Mutex<Counters>,
    baseline: Mutex<Option<Baseline>>,
    lesson: Mutex<Option<String>>,
    ledgers: Mutex<BTreeMap<String, Ledger>>,
    /// The settings the cluster was started with (unknown for someone else's cluster).
    settings: std::sync::OnceLock<crate::config::ClusterConfig>,
}

impl View {
    /// Records the settings the cluster was started with (once; later calls are ignored).
    pub fn set_settings(&self, config: crate::config::ClusterConfig) {
        let _ = self.settings.set(config);
    }

    /// The settings the cluster was started with, where this session started it.
    pub fn settings(&self) -> Option<&crate::config::ClusterConfig> {
        self.settings.get()
    }

    /// Starts watching `cluster` for a session that started at `started`: every metadata
    /// change from now on is counted and put on the timeline. Call inside the runtime.
    pub fn start(cluster: Arc<dyn ClusterControl>, started: Instant) -> Arc<Self> {
        let view = Arc::new(Self {
            groups: GroupWatch::new(&cluster.bootstrap()),
            timeline: Timeline::new(started),
            clients: ClientBook::default(),
            counters: Mutex::new(Counters::default()),
            baseline: Mutex::new(None),
            lesson: Mutex::new(None),
            ledgers: Mutex::new(BTreeMap::new()),
            settings: std::sync::OnceLock::new(),
            cluster,
        });
        view.timeline.record(Happening::Ready {
            backend: view.cluster.kind().to_string(),
            brokers: view.cluster.brokers(),
        });
        let mut events = view.cluster.events();
        let weak: Weak<View> = Arc::downgrade(&view);
        tokio::spawn(async move {
            while let Some(batch) = crate::backend::events::next_batch(&mut events).await {
                let Some(view) = weak.upgrade() else { return };
                {
                    let mut counters = view.counters.lock().expect("counters lock");
                    for event in &batch {
                        counters.observe(event);
                    }
                }
                for happening in timeline::from_cluster(&batch) {
                    view.timeline.record(happening);
                }
            }
        });
        view
    }

    /// The cluster, with every fault and repair recorded on the timeline: what sessions and
    /// `serve` control it through.
    pub fn control(self: &Arc<Self>) -> Arc<dyn ClusterControl> {
        Arc::new(recorded::Recorded::new(self.clone()))
    }

    /// The cluster as it is, unrecorded.
    pub fn cluster(&self) -> &Arc<dyn ClusterControl> {
        &self.cluster
    }

    /// Records a fault about to be injected, and the figures just before it.
    pub(crate) fn fault(&self, command: &str, broker: Option<i32>) {
        let figures = self.figures_cached();
        let happening = Happening::Fault {
            command: command.to_string(),
            broker,
        };
        let fault = happening.to_string();
        let seq = self.timeline.record(happening);
        *self.baseline.lock().expect("baseline lock") = Some(Baseline {
            seq,
            at_ms: self.timeline.now_ms(),
            fault,
            figures,
        });
    }

    /// Records that a fault command was refused.
    pub(crate) fn fault_failed(&self, command: &str, broker: Option<i32>, error: &str) {
        self.timeline.record(Happening::FaultFailed {
            command: command.to_string(),
            broker,
            error: error.to_string(),
        });
    }

    /// The lesson running now, if any.
    pub(crate) fn set_lesson(&self, name: Option<&str>) {
        *self.lesson.lock().expect("lesson lock") = name.map(str::to_string);
    }

    /// The lesson running now, if any.
    pub fn lesson(&self) -> Option<String> {
        self.lesson.lock().expect("lesson lock").clone()
    }

    /// Keeps the last ledger computed for a topic, for the report.
    pub(crate) fn ledger_computed(&self, ledger: &Ledger) {
        self.ledgers
            .lock()
            .expect("ledgers lock")
            .insert(ledger.topic.clone(), ledger.clone());
    }

    /// The ledgers computed so far, by topic.
    pub(crate) fn ledgers(&self) -> Vec<Ledger> {
        self.ledgers
            .lock()
            .expect("ledgers lock")
            .values()
            .cloned()
            .collect()
    }

    fn controller_active(&self, snapshot: &crate::backend::snapshot::ClusterSnapshot) -> bool {
        // The embedded controller runs as long as the cluster does; elsewhere it is hidden
        // from clients, but only an active controller keeps brokers unfenced.
        self.cluster.kind() == "embedded" || snapshot.brokers.iter().any(|b| !b.fenced)
    }

    fn figures_with(
        &self,
        snapshot: &crate::backend::snapshot::ClusterSnapshot,
        groups: &GroupsView,
    ) -> Figures {
        let counters = self.counters.lock().expect("counters lock").clone();
        Figures::compute(
            snapshot,
            &counters,
            groups,
            self.controller_active(snapshot),
        )
    }

    /// The figures now, with the last groups answer (never waits for a broker).
    pub fn figures_cached(&self) -> Figures {
        self.figures_with(&self.cluster.snapshot(), &self.groups.latest())
    }

    /// The figures now, with groups asked afresh (up to a few seconds while a coordinator
    /// moves).
    pub async fn figures_fresh(&self) -> Figures {
        self.refresh_groups().await;
        self.figures_cached()
    }

    /// Asks for the groups now and waits for the answer.
    pub async fn refresh_groups(&self) {
        let known = self.clients.groups();
        self.groups
            .refresh(self.cluster.as_ref(), &known, self.timeline.now_ms())
            .await;
    }

    /// Starts a groups refresh in the background if the last one is old.
    fn refresh_groups_soon(self: &Arc<Self>) {
        if self.groups.stale(self.timeline.now_ms(), GROUPS_MAX_AGE_MS) {
            let view = self.clone();
            tokio::spawn(async move { view.refresh_groups().await });
        }
    }

    /// The report of the session so far, with groups asked afresh.
    pub(crate) async fn report(
        self: &Arc<Self>,
        title: &str,
        lesson: Option<crate::lesson::run::LessonRun>,
    ) -> report::Report {
        self.refresh_groups().await;
        let (events, dropped) = self.timeline.events();
        report::Report {
            title: title.to_string(),
            events,
            dropped,
            last: self.state(),
            ledgers: self.ledgers(),
            lesson,
        }
    }

    /// Everything the page draws, now. Groups are the last answer; a fresh one is on its way
    /// if that is old.
    pub fn state(self: &Arc<Self>) -> ViewState {
        self.refresh_groups_soon();
        let snapshot = self.cluster.snapshot();
        let groups = self.groups.latest();
        let metrics = self.figures_with(&snapshot, &groups);
        ViewState::new(
            self.cluster.kind(),
            self.timeline.now_ms(),
            self.lesson.lock().expect("lesson lock").clone(),
            snapshot,
            groups,
            self.clients.view(),
            metrics,
            self.baseline.lock().expect("baseline lock").clone(),
        )
    }
}
