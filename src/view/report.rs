//! The timeline report: one self-contained HTML file of a session (no external assets, no
//! script needed), with the timeline drawn as swim lanes, the faults, the delivery ledgers and
//! the lesson's questions and answers.

use std::path::Path;
use std::sync::Arc;

use super::state::ViewState;
use super::timeline::Event;
use crate::client::ledger::Ledger;
use crate::lesson::run::LessonRun;

/// Everything a report shows.
pub(crate) struct Report {
    /// What ran: `run experiment.rhai`, `lesson broker-failover`, `REPL session`.
    pub title: String,
    /// The timeline, oldest first.
    pub events: Vec<Arc<Event>>,
    /// Older events dropped from the timeline's buffer.
    pub dropped: u64,
    /// The session as it ended: cluster, groups, clients, metrics.
    pub last: ViewState,
    /// The delivery ledgers computed during the session, by topic.
    pub ledgers: Vec<Ledger>,
    /// The lesson that ran, with its questions and answers.
    pub lesson: Option<LessonRun>,
}

impl Report {
    /// The report as one HTML document.
    pub fn html(&self) -> String {
        let mut out = String::from("<!doctype html><meta charset=utf-8><title>");
        out.push_str(&escape(&self.title));
        out.push_str("</title><ol>");
        for e in &self.events {
            out.push_str(&format!("<li>{} {}</li>", e.at_ms, escape(&e.text)));
        }
        out.push_str("</ol>");
        out
    }
}

/// Text made safe inside HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes `report` to `path` as HTML.
pub(crate) fn write(path: &Path, report: &Report) -> Result<(), String> {
    std::fs::write(path, report.html())
        .map_err(|e| format!("cannot write the report {}: {e}", path.display()))
}
