//! The bundled lessons (scripts/lessons/*.rhai, compiled into the binary), the judging of
//! review answers ([`judge`]) and predictions ([`predict`]), and the corpus that keeps the
//! judge honest ([`corpus`]). Lessons are ordinary scripts that use a few extra functions —
//! `step`, `observe`, `check`, `predict`, `question` — described in docs/lessons.md.

pub mod corpus;
pub mod judge;
pub mod needs;
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
    /// The track it belongs to; `kafka-sandbox lesson` lists lessons under their tracks.
    pub track: &'static str,
    /// The script.
    pub source: &'static str,
}

const TUTORIAL: &str = "The failover tutorial";
const PRODUCING: &str = "Producers and durability";
const CONSUMING: &str = "Consumers and groups";
const OPERATING: &str = "Running a cluster";

/// The lessons, in the order to take them: the tutorial first, then the tracks beyond it.
pub(crate) const LESSONS: &[Lesson] = &[
    Lesson {
        name: "pub-sub",
        summary: "three consumers in three groups each receive every message (publish/subscribe)",
        track: TUTORIAL,
        source: include_str!("../../scripts/lessons/pub-sub.rhai"),
    },
    Lesson {
        name: "load-sharing",
        summary: "three consumers in one group share the partitions and so the messages",
        track: TUTORIAL,
        source: include_str!("../../scripts/lessons/load-sharing.rhai"),
    },
    Lesson {
        name: "consumer-failover",
        summary: "a consumer leaves the group and the others take over its partitions",
        track: TUTORIAL,
        source: include_str!("../../scripts/lessons/consumer-failover.rhai"),
    },
    Lesson {
        name: "broker-failover",
        summary: "a broker stops: new leaders, a smaller ISR, and the messages still flow",
        track: TUTORIAL,
        source: include_str!("../../scripts/lessons/broker-failover.rhai"),
    },
    Lesson {
        name: "keys-and-ordering",
        summary: "same key, same partition, order kept; no key spreads; new partitions move keys",
        track: PRODUCING,
        source: include_str!("../../scripts/lessons/keys-and-ordering.rhai"),
    },
    Lesson {
        name: "durability-boundary",
        summary: "min.insync.replicas refuses acks=all writes; acks=1 writes die with their leader",
        track: PRODUCING,
        source: include_str!("../../scripts/lessons/durability-boundary.rhai"),
    },
    Lesson {
        name: "high-watermark",
        summary: "consumers read only what the whole ISR holds; a paused follower holds it back",
        track: PRODUCING,
        source: include_str!("../../scripts/lessons/high-watermark.rhai"),
    },
    Lesson {
        name: "unclean-election",
        summary: "unclean leader election: exactly which writes are lost, and why it is off",
        track: PRODUCING,
        source: include_str!("../../scripts/lessons/unclean-election.rhai"),
    },
    Lesson {
        name: "idempotence",
        summary: "a timed-out request retried: duplicates without idempotence, none with it",
        track: PRODUCING,
        source: include_str!("../../scripts/lessons/idempotence.rhai"),
    },
    Lesson {
        name: "exactly-once",
        summary: "transactions: a crash mid-transaction, a zombie fenced, a coordinator lost",
        track: PRODUCING,
        source: include_str!("../../scripts/lessons/exactly-once.rhai"),
    },
    Lesson {
        name: "delivery-semantics",
        summary: "commit before or after processing: at most once, at least once, duplicates",
        track: CONSUMING,
        source: include_str!("../../scripts/lessons/delivery-semantics.rhai"),
    },
    Lesson {
        name: "slow-consumers",
        summary: "consumer lag per partition; a member too slow to poll is evicted",
        track: CONSUMING,
        source: include_str!("../../scripts/lessons/slow-consumers.rhai"),
    },
    Lesson {
        name: "rebalance-protocols",
        summary: "eager vs cooperative-sticky rebalances; a static member restarts, no rebalance",
        track: CONSUMING,
        source: include_str!("../../scripts/lessons/rebalance-protocols.rhai"),
    },
    Lesson {
        name: "preferred-leaders",
        summary: "a returning broker leads nothing until a preferred-leader election",
        track: OPERATING,
        source: include_str!("../../scripts/lessons/preferred-leaders.rhai"),
    },
    Lesson {
        name: "network-partition",
        summary: "a cut-off leader stalls acks=all, is fenced; leader epochs undo its lone writes",
        track: OPERATING,
        source: include_str!("../../scripts/lessons/network-partition.rhai"),
    },
    Lesson {
        name: "racks",
        summary: "brokers in racks: replicas spread over racks, and a whole rack can go down",
        track: OPERATING,
        source: include_str!("../../scripts/lessons/racks.rhai"),
    },
    Lesson {
        name: "controller",
        summary: "what the controller decides, and what still works while it is down",
        track: OPERATING,
        source: include_str!("../../scripts/lessons/controller.rhai"),
    },
];

/// Why a lesson's script cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Neither a bundled lesson nor a `.rhai` file.
    #[error("there is no lesson '{0}' (give a .rhai file for your own)")]
    Unknown(String),
    /// The file could not be read.
    #[error("cannot read lesson file {path}: {cause}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
}

/// A lesson's source: a bundled lesson by name, or a `.rhai` file.
pub fn source(name: &str) -> Result<String, SourceError> {
    match find(name) {
        Some(l) => Ok(l.source.to_string()),
        None if name.ends_with(".rhai") => {
            std::fs::read_to_string(name).map_err(|cause| SourceError::Unreadable {
                path: name.to_string(),
                cause,
            })
        }
        None => Err(SourceError::Unknown(name.to_string())),
    }
}

/// Finds a lesson by name.
pub fn find(name: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.name == name)
}

/// The lesson list as printed by `kafka-sandbox lesson` and `lessons()`.
pub fn listing() -> String {
    let mut out =
        String::from("lessons (kafka-sandbox lesson NAME, or lesson(\"NAME\") in the REPL):\n");
    let width = LESSONS.iter().map(|l| l.name.len()).max().unwrap_or(0);
    let mut track = "";
    for l in LESSONS {
        if l.track != track {
            track = l.track;
            out.push_str(&format!("\n{track}\n"));
        }
        out.push_str(&format!("  {:<width$}  {}\n", l.name, l.summary));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls of `function(` in a lesson's code, comments left out.
    fn calls(source: &str, function: &str) -> usize {
        source
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .map(|code| {
                code.match_indices(&format!("{function}("))
                    .filter(|(i, _)| {
                        !code[..*i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                    })
                    .count()
            })
            .sum()
    }

    /// The curriculum's rule: at least one prediction, two review questions and one check.
    /// The tutorial's lessons ask the tutorial's own review questions (one or two each).
    #[test]
    fn every_lesson_predicts_asks_and_checks() {
        for l in LESSONS {
            let declared =
                spec::declared(l.source).unwrap_or_else(|e| panic!("lesson {}: {e}", l.name));
            let least = if l.track == TUTORIAL { 1 } else { 2 };
            assert!(
                declared.len() >= least,
                "{} declares {} questions",
                l.name,
                declared.len()
            );
            assert!(
                calls(l.source, "question") >= least,
                "{} asks too few questions",
                l.name
            );
            assert!(
                calls(l.source, "predict") >= 1,
                "{} has no prediction",
                l.name
            );
            assert!(
                calls(l.source, "check") >= 1,
                "{} checks none of its claims",
                l.name
            );
            assert!(
                l.summary.chars().count() <= 80,
                "{}: summary too long",
                l.name
            );
            needs::ClusterNeeds::declared(l.source)
                .unwrap_or_else(|e| panic!("lesson {}: {e}", l.name));
        }
        assert_eq!(
            calls("x.check(1); // check(2)\nrecheck(3); check(4)", "check"),
            1
        );
    }

    #[test]
    fn the_listing_groups_lessons_under_their_tracks_in_order() {
        let text = listing();
        let mut at = 0;
        for l in LESSONS {
            let found = text[at..]
                .find(&format!("  {} ", l.name))
                .unwrap_or_else(|| panic!("{} missing or out of order in:\n{text}", l.name));
            at += found;
        }
        for l in LESSONS {
            assert!(text.contains(&format!("\n{}\n", l.track)), "{text}");
        }
    }
}
