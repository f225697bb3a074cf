//! The bundled lessons (scripts/lessons/*.rhai, compiled into the binary), the judging of
//! review answers ([`judge`]) and predictions ([`predict`]), and the corpus that keeps the
//! judge honest ([`corpus`]). Lessons are ordinary scripts that use a few extra functions —
//! `step`, `observe`, `check`, `predict`, `question` — described in docs/lessons.md.

pub mod corpus;
pub mod judge;
pub mod predict;
pub mod run;
pub mod spec;

/// A bundled lesson.
#[derive(Debug, Clone, Copy)]
pub struct Lesson {
    /// Name used with `kafka-sandbox lesson NAME` and `lesson("NAME")`.
    pub name: &'static str,
    /// One line on what it shows.
    pub summary: &'static str,
    /// The script.
    pub source: &'static str,
}

/// The lessons, in the tutorial's order.
pub const LESSONS: &[Lesson] = &[
    Lesson {
        name: "pub-sub",
        summary: "three consumers in three groups each receive every message (publish/subscribe)",
        source: include_str!("../../scripts/lessons/pub-sub.rhai"),
    },
    Lesson {
        name: "load-sharing",
        summary: "three consumers in one group share the partitions and so the messages",
        source: include_str!("../../scripts/lessons/load-sharing.rhai"),
    },
    Lesson {
        name: "consumer-failover",
        summary: "a consumer leaves the group and the others take over its partitions",
        source: include_str!("../../scripts/lessons/consumer-failover.rhai"),
    },
    Lesson {
        name: "broker-failover",
        summary: "a broker stops: new leaders, a smaller ISR, and the messages still flow",
        source: include_str!("../../scripts/lessons/broker-failover.rhai"),
    },
];

/// Finds a lesson by name.
pub fn find(name: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.name == name)
}

/// The lesson list as printed by `kafka-sandbox lesson` and `lessons()`.
pub fn listing() -> String {
    let mut out =
        String::from("lessons (kafka-sandbox lesson NAME, or lesson(\"NAME\") in the REPL):\n");
    for l in LESSONS {
        out.push_str(&format!("  {:<18} {}\n", l.name, l.summary));
    }
    out
}
