//! The bundled lessons (scripts/lessons/*.rhai, compiled into the binary), the judging of
//! review answers ([`judge`]) and predictions ([`predict`]), and the corpus that keeps the
//! judge honest ([`corpus`]). Lessons are ordinary scripts that use a few extra functions —
//! `step`, `observe`, `check`, `predict`, `question` — described in docs/lessons.md.

pub mod corpus;
pub mod judge;
pub mod predict;
pub mod run;
pub mod spec;

/// Why a lesson's question or prediction cannot be asked: what the author wrote wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthoringError {
    /// A pattern names a word class the lexicon does not have.
    #[error("pattern \"{pattern}\": there is no word class @{class}; classes are {}", judge::lexicon::names().join(", "))]
    UnknownClass {
        /// The pattern.
        pattern: String,
        /// The class it named.
        class: String,
    },
    /// A quoted phrase is not closed.
    #[error("unclosed quote in pattern \"{0}\"")]
    UnclosedQuote(String),
    /// A term, once stemmed, has no words.
    #[error("pattern \"{0}\" has a term with no words")]
    EmptyTerm(String),
    /// A pattern has no terms.
    #[error("pattern \"{0}\" is empty")]
    EmptyPattern(String),
    /// A map lacks a string it needs.
    #[error("{what} needs a string '{key}'")]
    MissingString {
        /// What was being read.
        what: String,
        /// The key.
        key: &'static str,
    },
    /// A value is not the list it must be.
    #[error("{what} must be an array of {of}")]
    NotAList {
        /// What was being read.
        what: String,
        /// What its elements must be.
        of: &'static str,
    },
    /// A question with nothing to judge by.
    #[error("question \"{0}\" needs at least one idea a right answer states")]
    NoIdeas(String),
    /// The script declaring the questions does not compile or run.
    #[error("fn questions(): {0}")]
    Script(String),
    /// A prediction kind that is not one.
    #[error("prediction kind '{0}' is not known; use \"number\", \"yes/no\", \"brokers\", \"set\" or an array of choices")]
    UnknownKind(String),
    /// A choice prediction with fewer than two options.
    #[error("a choice prediction needs at least two options")]
    FewChoices,
}

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
pub(crate) const LESSONS: &[Lesson] = &[
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
