//! `GET /api/state`: everything the page draws, in one JSON document. The page holds no
//! state of its own beyond what it last read here and the events of `/api/events`.

use serde::Serialize;

use super::clients::ClientsView;
use super::groups::GroupsView;
use super::metrics::Figures;
use super::Baseline;
use crate::backend::snapshot::ClusterSnapshot;

/// The session as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ViewState {
    /// The backend: `embedded`, `processes`, `docker`, `attach`.
    pub backend: &'static str,
    /// Milliseconds since the session started.
    pub now_ms: u64,
    /// The lesson running, if any.
    pub lesson: Option<String>,
    /// Brokers and topics.
    pub cluster: ClusterSnapshot,
    /// Consumer groups.
    pub groups: GroupsView,
    /// The session's producers and consumers.
    pub clients: ClientsView,
    /// Kafka's operator metrics now.
    pub metrics: Figures,
    /// The metrics when the last fault was injected.
    pub baseline: Option<Baseline>,
    /// What this backend cannot see, one sentence each (empty: it sees everything).
    pub unseen: Vec<String>,
}

impl ViewState {
    /// Gathers the parts and works out what the backend could not see.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        backend: &'static str,
        now_ms: u64,
        lesson: Option<String>,
        cluster: ClusterSnapshot,
        groups: GroupsView,
        clients: ClientsView,
        metrics: Figures,
        baseline: Option<Baseline>,
    ) -> Self {
        let unseen = unseen(backend, &cluster, &groups);
        Self {
            backend,
            now_ms,
            lesson,
            cluster,
            groups,
            clients,
            metrics,
            baseline,
            unseen,
        }
    }
}

/// The sentences the page shows for what is missing, worked out from the data itself.
fn unseen(backend: &str, cluster: &ClusterSnapshot, groups: &GroupsView) -> Vec<String> {
    let mut out = Vec::new();
    let partitions = || cluster.topics.iter().flat_map(|t| &t.partitions);
    if partitions().next().is_some() && partitions().all(|p| p.offsets.is_empty()) {
        out.push(format!(
            "Per-replica log end offsets and high watermarks: only the brokers know them, and \
             the {backend} backend sees the cluster as a client does."
        ));
    }
    if partitions().next().is_some() && partitions().all(|p| p.leader_epoch.is_none()) {
        out.push("Leader epochs: not reported by this backend.".into());
    }
    if cluster.brokers.iter().all(|b| b.counters.is_none()) {
        out.push(
            "MessagesIn and FailedProduceRequests: the brokers' request counters are not \
             readable on this backend."
                .into(),
        );
    }
    if groups.as_of_ms.is_some() && !groups.generations_visible {
        out.push(
            "Group generations: no classic-protocol request returns them to anyone outside \
             the group."
                .into(),
        );
    }
    if cluster.controller.is_none() && backend != "embedded" {
        out.push(
            "The controller: Kafka hides its KRaft quorum from clients; a broker missing from \
             Metadata is shown as fenced."
                .into(),
        );
    }
    out
}
