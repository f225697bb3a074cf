//! The report's tables under the drawing: the faults with what followed each, the delivery
//! ledgers, the lesson's questions and answers, and the whole timeline (the final state is in
//! [`super::final_state`]).
//! Each writes one `<section>` with a stable id; each leaves itself out when it has nothing.

use std::fmt::Write;
use std::sync::Arc;

use super::escape;
use super::svg::seconds;
use crate::client::ledger::Ledger;
use crate::lesson::run::{LessonRun, Mode, Outcome};
use crate::view::timeline::{Event, Happening};

/// Values listed at most per cell (lost, duplicated); the count says how many in all.
const LISTED: usize = 8;

pub(super) fn list<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Up to [`LISTED`] values and how many more.
fn some_of(values: &[String]) -> String {
    let shown: Vec<String> = values.iter().take(LISTED).map(|v| escape(v)).collect();
    let more = values.len().saturating_sub(LISTED);
    let mut out = format!("<code>{}</code>", shown.join(", "));
    if more > 0 {
        let _ = write!(out, " and {more} more");
    }
    out
}

/// What the cluster did between a fault and the next one: the target fenced or back, leaders
/// moved, ISRs shrunk or grown. The lanes show it; this says it in words, with the delays.
fn followed(fault_at: u64, broker: Option<i32>, after: &[Arc<Event>]) -> String {
    let mut parts = Vec::new();
    let (mut elections, mut offline, mut shrinks, mut expands) = (0, 0, 0, 0);
    for e in after {
        match &e.what {
            Happening::Fault { .. } => break,
            Happening::BrokerFenced { broker: b } if Some(*b) == broker => parts.push(format!(
                "fenced after {:.1} s",
                (e.at_ms - fault_at) as f64 / 1000.0
            )),
            Happening::BrokerUnfenced { broker: b } if Some(*b) == broker => parts.push(format!(
                "back in the cluster after {:.1} s",
                (e.at_ms - fault_at) as f64 / 1000.0
            )),
            Happening::LeaderElected { to: None, .. } => offline += 1,
            Happening::LeaderElected { .. } => elections += 1,
            Happening::IsrChanged { from, to, .. } if to.len() < from.len() => shrinks += 1,
            Happening::IsrChanged { from, to, .. } if to.len() > from.len() => expands += 1,
            _ => {}
        }
    }
    for (n, what) in [
        (elections, "leaders moved"),
        (offline, "partitions lost their leader"),
        (shrinks, "ISRs shrank"),
        (expands, "ISRs grew"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if parts.is_empty() {
        "no change seen before the next fault".into()
    } else {
        parts.join("; ")
    }
}

/// The faults and repairs, refused ones included, with what followed each.
pub(super) fn faults(out: &mut String, events: &[Arc<Event>]) {
    out.push_str("<section id=\"faults\"><h2>Faults</h2>");
    let mut rows = String::new();
    for (i, e) in events.iter().enumerate() {
        let Happening::Fault { command, broker } = &e.what else {
            continue;
        };
        // Its refusal, if any, comes before the next fault.
        let refusal = events[i + 1..]
            .iter()
            .take_while(|n| !matches!(n.what, Happening::Fault { .. }))
            .find_map(|n| match &n.what {
                Happening::FaultFailed {
                    command: c,
                    broker: b,
                    error,
                } if c == command && b == broker => Some(error.clone()),
                _ => None,
            });
        let repair = matches!(
            command.as_str(),
            "start" | "restart" | "resume" | "heal" | "elect"
        );
        let (class, outcome) = match &refusal {
            Some(error) => ("refused", format!("refused: {}", escape(error))),
            None => (
                if repair { "repair" } else { "fault" },
                escape(&followed(e.at_ms, *broker, &events[i + 1..])),
            ),
        };
        let _ = write!(
            rows,
            "<tr class=\"{class}\" data-fault=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"outcome\">{outcome}</td></tr>",
            escape(&super::lanes::fault_label(command, *broker)),
            seconds(e.at_ms),
            escape(command),
            broker.map_or_else(|| "all".to_string(), |b| b.to_string()),
        );
    }
    if rows.is_empty() {
        out.push_str("<p>No faults were injected.</p>");
    } else {
        out.push_str(
            "<table><tr><th>time</th><th>command</th><th>broker</th><th>outcome, and what \
             followed until the next fault</th></tr>",
        );
        out.push_str(&rows);
        out.push_str("</table>");
    }
    out.push_str("</section>");
}

/// Per topic: sent, acknowledged, and what the topic really held afterwards.
pub(super) fn ledgers(out: &mut String, ledgers: &[Ledger]) {
    if ledgers.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"ledgers\"><h2>Delivery ledgers</h2><table><tr><th>topic</th>\
         <th class=\"num\">sent</th><th class=\"num\">acknowledged</th><th class=\"num\">refused</th>\
         <th class=\"num\">in the log</th><th>lost (acknowledged, then gone)</th><th>duplicated</th>\
         <th>out of order</th><th>errors</th></tr>",
    );
    for l in ledgers {
        let verdict = |values: &[String]| {
            if values.is_empty() {
                "<span class=\"good\">none</span>".to_string()
            } else {
                format!(
                    "<span class=\"bad\">{}</span>: {}",
                    values.len(),
                    some_of(values)
                )
            }
        };
        let _ = write!(
            out,
            "<tr data-ledger=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&l.topic),
            escape(&l.topic),
            l.sent,
            l.acknowledged,
            l.refused,
            l.in_log,
            verdict(&l.lost),
            verdict(&l.duplicated),
            verdict(&l.out_of_order),
            if l.errors.is_empty() {
                "none".to_string()
            } else {
                some_of(&l.errors)
            },
        );
    }
    out.push_str("</table></section>");
}

/// One question or prediction as the report shows it.
struct Qa {
    prediction: bool,
    question: String,
    answers: Vec<String>,
    verdict: String,
    correct: Option<bool>,
    feedback: Option<String>,
    model: String,
}

/// The lesson's questions and predictions: from the finished run where there is one (it has
/// every try and the feedback), else from the timeline's `Answered` events (a lesson still
/// running when `report()` was called).
pub(super) fn lesson(out: &mut String, run: Option<&LessonRun>, events: &[Arc<Event>]) {
    let asked: Vec<Qa> = match run {
        Some(run) => run
            .asked
            .iter()
            .map(|a| Qa {
                prediction: a.prediction,
                question: a.text.clone(),
                answers: a.answers.clone(),
                verdict: a.outcome.verdict().to_string(),
                correct: (run.mode != Mode::Auto).then(|| a.outcome.correct()),
                feedback: match &a.outcome {
                    Outcome::Wrong(f) => Some(f.clone()),
                    _ => None,
                },
                model: a.model.clone(),
            })
            .collect(),
        None => events
            .iter()
            .filter_map(|e| match &e.what {
                Happening::Answered {
                    prediction,
                    question,
                    answer,
                    verdict,
                    correct,
                    model,
                } => Some(Qa {
                    prediction: *prediction,
                    question: question.clone(),
                    answers: (!answer.is_empty())
                        .then(|| answer.clone())
                        .into_iter()
                        .collect(),
                    verdict: verdict.clone(),
                    correct: (!verdict.contains("(auto)")).then_some(*correct),
                    feedback: None,
                    model: model.clone(),
                }),
                _ => None,
            })
            .collect(),
    };
    if run.is_none() && asked.is_empty() {
        return;
    }
    out.push_str("<section id=\"lesson\"><h2>Lesson</h2>");
    if let Some(run) = run {
        let _ = write!(
            out,
            "<p>Lesson <b>{}</b>: {} claims checked against this run, all held.",
            escape(&run.name),
            run.checks
        );
        if run.mode != Mode::Auto && !asked.is_empty() {
            let correct = asked.iter().filter(|q| q.correct == Some(true)).count();
            let _ = write!(
                out,
                " <b>{correct} of {} answered correctly.</b>",
                asked.len()
            );
        }
        if run.quit {
            out.push_str(" The learner ended it early.");
        }
        out.push_str("</p>");
    }
    for (i, q) in asked.iter().enumerate() {
        let kind = if q.prediction {
            "prediction"
        } else {
            "question"
        };
        let _ = write!(
            out,
            "<div class=\"qa\" data-question=\"{}\"><p class=\"q\"><span class=\"kind\">Q{} · {kind}</span><br>{}</p>",
            i + 1,
            i + 1,
            escape(&q.question)
        );
        if q.answers.is_empty() {
            out.push_str("<p>Answer: <i>none</i></p>");
        }
        for a in &q.answers {
            let _ = write!(out, "<p>Answer: {}</p>", escape(a));
        }
        let class = match q.correct {
            Some(true) => "good",
            Some(false) => "bad",
            None => "kind",
        };
        let _ = write!(
            out,
            "<p>Verdict: <span class=\"{class}\">{}</span></p>",
            escape(&q.verdict)
        );
        if let Some(f) = &q.feedback {
            let _ = write!(out, "<p>Feedback: {}</p>", escape(f));
        }
        let label = if q.prediction {
            "What this run did"
        } else {
            "Model answer"
        };
        let _ = write!(out, "<p>{label}: {}</p></div>", escape(&q.model));
    }
    out.push_str("</section>");
}

/// The event kind as `/api/events` names it, in words: `leader elected`, `fault failed`.
fn kind(what: &Happening) -> String {
    serde_json::to_value(what)
        .ok()
        .and_then(|v| {
            v.get("kind")
                .and_then(|k| k.as_str())
                .map(|k| k.replace('_', " "))
        })
        .unwrap_or_default()
}

/// Every event kept, oldest first.
pub(super) fn timeline(out: &mut String, events: &[Arc<Event>], dropped: u64) {
    let _ = write!(
        out,
        "<section id=\"timeline\"><h2>Timeline</h2><details open><summary>{} events</summary>",
        events.len()
    );
    if dropped > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{dropped} older events were dropped.</p>"
        );
    }
    out.push_str(
        "<table><tr><th class=\"num\">#</th><th>time</th><th>kind</th><th>what happened</th></tr>",
    );
    for e in events {
        let class = match &e.what {
            Happening::Fault { .. } => " class=\"fault\"",
            Happening::FaultFailed { .. } => " class=\"muted\"",
            _ => "",
        };
        let _ = write!(
            out,
            "<tr{class}><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            seconds(e.at_ms),
            kind(&e.what),
            escape(&e.text)
        );
    }
    out.push_str("</table></details></section>");
}
