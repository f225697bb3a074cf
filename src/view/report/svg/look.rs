//! What each state looks like: the leader colours, and the colour and wording of broker,
//! partition and consumer bars. Wordings come longest first so a narrow bar can take a
//! shorter one instead of an ellipsis.

use super::BAR_H;
use crate::view::report::lanes::{Assignment, BrokerPhase, Leadership, Process};

/// Colours for leaders, by broker id (cycled): dark enough for white text, and none of them
/// the red of "offline" or "down".
const LEADER_COLOURS: [&str; 8] = [
    "#3b6ea5", "#d9731a", "#2a9d8f", "#8e5ea2", "#7a5c45", "#c2477a", "#5b8c2a", "#4a4a8c",
];

/// The colour partitions use for broker `id`'s leadership.
pub(crate) fn broker_colour(id: i32) -> &'static str {
    LEADER_COLOURS[((id - 1).rem_euclid(LEADER_COLOURS.len() as i32)) as usize]
}

/// A broker's bar: colour, wording, tooltip.
pub(super) fn broker_bar(p: &BrokerPhase) -> (&'static str, &'static str, &'static str) {
    match (p.process, p.fenced) {
        (Process::Up, false) => ("#9fd19a", "up", "up"),
        (Process::Up, true) => ("#f2c14e", "fenced", "running, fenced (rejoining)"),
        (Process::Down, false) => ("#e8a09a", "down", "down, not yet fenced"),
        (Process::Down, true) => ("#c0392b", "down", "down, fenced"),
        (Process::Paused, false) => ("#9b8ec4", "paused", "paused"),
        (Process::Paused, true) => ("#9b8ec4", "paused, fenced", "paused, fenced"),
        (Process::Isolated, false) => ("#f0a35e", "isolated", "isolated from its peers"),
        (Process::Isolated, true) => ("#f0a35e", "isolated, fenced", "isolated, fenced"),
    }
}

/// A partition's bar: height, wordings from longest to shortest, tooltip, colour.
pub(super) fn partition_bar(l: &Leadership) -> (f64, Vec<String>, String, &'static str) {
    let isr = l
        .isr
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let shrunk = l.replicas > 0 && l.isr.len() < l.replicas;
    let height = if shrunk {
        (BAR_H * l.isr.len() as f64 / l.replicas as f64).max(BAR_H * 0.4)
    } else {
        BAR_H
    };
    match l.leader {
        None => (
            BAR_H,
            vec!["no leader".into(), "none".into()],
            format!("offline: no leader; ISR {isr}"),
            "#c0392b",
        ),
        Some(b) => {
            let mut texts = vec![
                format!("{b} · ISR {isr}"),
                format!("{b} · {isr}"),
                b.to_string(),
            ];
            if shrunk {
                texts.insert(0, format!("{b} · ISR {isr} (shrunk)"));
            }
            (
                height,
                texts,
                format!("leader {b}; ISR {isr} of {} replicas", l.replicas),
                broker_colour(b),
            )
        }
    }
}

/// A consumer's bar: wordings from longest to shortest, colour.
pub(super) fn consumer_bar(a: &Assignment) -> (Vec<String>, &'static str) {
    if a.partitions.is_empty() {
        (vec!["no partitions".into(), "none".into()], "#dcdcdc")
    } else {
        let list = a
            .partitions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        (vec![format!("partitions {list}"), list], "#a9cdee")
    }
}
