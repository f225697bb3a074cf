//! The timeline report: one self-contained HTML file of a session, to keep, mail or hand in.
//! It opens offline and without script: the CSS is inline, the swim lanes are inline SVG
//! with `<title>` tooltips, and nothing refers to any other file or address.
//!
//! The parts: [`lanes`] rebuilds what each broker, partition and consumer was doing from the
//! timeline, [`svg`] draws that, [`tables`] writes the faults, the delivery ledgers, the
//! lesson's questions and answers and the whole timeline, and [`final_state`] the session as
//! it ended. Every string that
//! came from the session (topic names, errors, answers) is escaped on its way in.

mod final_state;
pub(crate) mod lanes;
pub(crate) mod svg;
mod tables;

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use super::state::ViewState;
use super::timeline::{Event, Happening, CAPACITY};
use crate::client::ledger::Ledger;
use crate::lesson::run::LessonRun;
use lanes::Lanes;

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

/// The document's look: plain, printable, readable in any browser.
const CSS: &str = r#"
:root { --ink: #1f2328; --muted: #5d6670; --line: #d5d9de; --soft: #f5f7f9; --fault: #c0392b; --repair: #2e8b57; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
p.meta { color: var(--muted); margin: 0 0 12px; }
.chips span { display: inline-block; background: var(--soft); border: 1px solid var(--line); border-radius: 12px; padding: 1px 10px; margin: 0 6px 6px 0; }
.note { background: #fff6d6; border-left: 4px solid #e0b020; padding: 6px 10px; }
.drawing { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; padding: 4px 0; }
.drawing svg { display: block; width: 100%; height: auto; min-width: 960px; }
.legend { color: var(--muted); font-size: 12.5px; margin: 6px 0 0; }
.legend i { display: inline-block; width: 14px; height: 10px; border-radius: 2px; vertical-align: baseline; margin: 0 4px 0 12px; }
.legend i.thin { height: 5px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; padding-right: 14px; }
tr.fault td { color: var(--fault); }
tr.repair td { color: var(--repair); }
tr.refused td { color: var(--muted); text-decoration: line-through; }
tr.refused td.outcome { text-decoration: none; }
tr.muted td { color: var(--muted); }
.good { color: var(--repair); font-weight: 600; }
.bad { color: var(--fault); font-weight: 600; }
.qa { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
.qa p { margin: 3px 0; }
.qa .q { font-weight: 600; }
.kind { color: var(--muted); font-size: 12px; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
details > summary { cursor: pointer; color: var(--muted); }
footer { color: var(--muted); font-size: 12px; margin-top: 32px; }
svg.lanes text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: #1f2328; }
svg.lanes text.label { font-size: 12px; }
svg.lanes text.heading { font-size: 12px; font-weight: 600; fill: #5d6670; letter-spacing: .03em; }
svg.lanes .rule { stroke: #d5d9de; }
svg.lanes .shade { fill: #f6f8fa; }
svg.lanes .axis line { stroke: #8a939c; }
svg.lanes .axis text { fill: #5d6670; font-size: 10.5px; }
svg.lanes .bar.leader text, svg.lanes .bar.offline text, svg.lanes .state-down text { fill: #fff; font-weight: 600; }
svg.lanes .fault line { stroke: #c0392b; stroke-width: 1.5; stroke-dasharray: 5 3; }
svg.lanes .fault text { fill: #c0392b; font-weight: 600; }
svg.lanes .fault.repair line { stroke: #2e8b57; }
svg.lanes .fault.repair text { fill: #2e8b57; }
svg.lanes .fault.refused line { stroke: #9aa1a8; stroke-dasharray: 2 3; }
svg.lanes .fault.refused text { fill: #9aa1a8; }
svg.lanes .step circle { fill: #1f2328; }
svg.lanes .step text { fill: #fff; font-size: 9.5px; font-weight: 700; }
svg.lanes .mark path { fill: #1f2328; }
svg.lanes .mark.failure path { fill: #c0392b; }
@media print { .drawing { overflow: visible; } .drawing svg { min-width: 0; } }
"#;

/// Text made safe inside HTML and SVG, in text and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Report {
    /// The report as one HTML document.
    pub fn html(&self) -> String {
        let lanes = Lanes::build(
            &self.events,
            self.dropped,
            &self.last.cluster,
            self.last.now_ms,
        );
        let mut out = String::with_capacity(64 * 1024);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} — kafka-sandbox report</title><style>{CSS}</style></head><body><main>",
            escape(&self.title)
        );
        self.header(&mut out, &lanes);
        out.push_str("<section id=\"lanes\"><h2>Swim lanes</h2>");
        out.push_str(&legend());
        out.push_str("<div class=\"drawing\">");
        out.push_str(&svg::draw(&lanes));
        out.push_str("</div>");
        steps(&mut out, &lanes);
        out.push_str("</section>");
        tables::faults(&mut out, &self.events);
        tables::ledgers(&mut out, &self.ledgers);
        tables::lesson(&mut out, self.lesson.as_ref(), &self.events);
        final_state::write(&mut out, &self.last);
        tables::timeline(&mut out, &self.events, self.dropped);
        out.push_str(
            "<footer>Written by kafka-sandbox. This file is self-contained: it needs no \
             network, no other file and no script. Hover over a bar for its details.</footer>\
             </main></body></html>\n",
        );
        out
    }

    fn header(&self, out: &mut String, lanes: &Lanes) {
        let _ = write!(out, "<h1>{}</h1>", escape(&self.title));
        let brokers = self.last.cluster.brokers.len();
        let faults = lanes.faults.len();
        let refused = lanes.faults.iter().filter(|f| f.refused.is_some()).count();
        let _ = write!(
            out,
            "<p class=\"meta\">{} backend · {brokers} brokers · {} long · {} events</p>",
            escape(self.last.backend),
            svg::seconds(self.last.now_ms).trim_start_matches("t+"),
            self.events.len() as u64 + self.dropped,
        );
        out.push_str("<p class=\"chips\">");
        let _ = write!(out, "<span>{faults} faults and repairs</span>");
        if refused > 0 {
            let _ = write!(out, "<span>{refused} refused</span>");
        }
        let elections = count(&self.events, |h| {
            matches!(h, Happening::LeaderElected { .. })
        });
        let shrinks = count(
            &self.events,
            |h| matches!(h, Happening::IsrChanged { from, to, .. } if to.len() < from.len()),
        );
        let failed_sends = lanes.send_failures.len();
        let _ = write!(
            out,
            "<span>{elections} leader elections</span><span>{shrinks} ISR shrinks</span>\
             <span>{} consumers</span><span>{failed_sends} failed sends</span>",
            lanes.consumers.len()
        );
        if let Some(lesson) = self
            .lesson
            .as_ref()
            .map(|l| l.name.clone())
            .or(self.last.lesson.clone())
        {
            let _ = write!(out, "<span>lesson {}</span>", escape(&lesson));
        }
        out.push_str("</p>");
        if self.dropped > 0 {
            let _ = write!(
                out,
                "<p class=\"note\">The timeline keeps the last {CAPACITY} events: {} older ones \
                 were dropped, so the lanes start at {} and what came before is not shown.</p>",
                self.dropped,
                svg::seconds(lanes.start_ms)
            );
        }
    }
}

fn count(events: &[Arc<Event>], f: impl Fn(&Happening) -> bool) -> usize {
    events.iter().filter(|e| f(&e.what)).count()
}

/// What the colours and shapes of the drawing mean.
fn legend() -> String {
    let mut out = String::from("<p class=\"legend\">Brokers:");
    for (colour, text) in [
        ("#9fd19a", "up"),
        ("#f2c14e", "running but fenced"),
        ("#e8a09a", "down, not yet fenced"),
        ("#c0392b", "down and fenced"),
        ("#9b8ec4", "paused"),
        ("#f0a35e", "isolated"),
    ] {
        let _ = write!(out, "<i style=\"background:{colour}\"></i>{text}");
    }
    out.push_str(
        "<br>Partitions: coloured by leader (the broker's swatch), <i class=\"thin\" \
         style=\"background:#3b6ea5\"></i>thinner while the ISR is short of all replicas, \
         <i style=\"background:#c0392b\"></i>no leader. Consumers: <i style=\"background:#a9cdee\"></i>\
         partitions assigned, <i style=\"background:#dcdcdc\"></i>none. Faults: \
         <span class=\"bad\">red dashed</span>, repairs <span class=\"good\">green</span>, \
         refused grey; ● lesson steps; ▼ a consumer ended or a send failed.</p>",
    );
    out
}

fn steps(out: &mut String, lanes: &Lanes) {
    if lanes.steps.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Lesson steps</h3><table><tr><th class=\"num\">#</th><th>time</th><th>step</th></tr>",
    );
    for (i, step) in lanes.steps.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            svg::seconds(step.at_ms),
            escape(&step.text)
        );
    }
    out.push_str("</table>");
}

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the report {}: {cause}; give a path in a folder you can write to", .path.display())]
pub struct WriteError {
    /// The file.
    pub path: std::path::PathBuf,
    /// Why not.
    pub cause: std::io::Error,
}

/// Writes `text` (a report, HTML or Markdown) to `path`.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), WriteError> {
    std::fs::write(path, text).map_err(|cause| WriteError {
        path: path.to_path_buf(),
        cause,
    })
}

/// Writes `report` to `path` as HTML.
pub(crate) fn write(path: &Path, report: &Report) -> Result<(), WriteError> {
    write_text(path, &report.html())
}
