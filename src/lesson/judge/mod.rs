//! Judging a learner's free-text answer by what it claims, deterministically and offline.
//!
//! A question declares the **ideas** a right answer must state and the **misconceptions**
//! that make an answer wrong. Each is a list of patterns; an answer states an idea when one of
//! its patterns matches inside one clause of the answer ([`text`]). A pattern is a few terms
//! that must all appear in the clause, in any order:
//!
//! - `@stop` — any phrase of a word class of the [`lexicon`] ("killed", "pressed Ctrl-C", …);
//! - `consumer` — a word, forgiving inflections and small typos;
//! - `'took over'` — words that must follow each other.
//!
//! A pattern matches only where no negation governs its words; prefixed with `not:` it
//! matches only where one does, so `not: @same @group` reads "they did not share a group".
//! Prefixed with `sentence:` its terms may sit in different clauses of one sentence
//! ("kafka-topics, option --describe"); `not:` comes first when both are used.
//!
//! An answer is right when it states every idea and no misconception: stating a right idea
//! together with a contradicting one is wrong. The verdict names the misconception found, or
//! the ideas missing, so feedback can say what is wrong rather than repeat a hint.

pub mod lexicon;
pub mod text;

use super::AuthoringError;
use text::{same_word, stems, Clause};

/// One way of matching: terms that must all appear in one clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    negated: bool,
    /// Terms may be spread over the clauses of one sentence.
    sentence: bool,
    /// Each term: alternative phrases, each a sequence of stems.
    terms: Vec<Vec<Vec<String>>>,
}

impl Pattern {
    /// Parses `[not:] term term …`.
    pub fn parse(source: &str) -> Result<Self, AuthoringError> {
        let (negated, body) = match source.trim().strip_prefix("not:") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, source.trim()),
        };
        let (sentence, body) = match body.strip_prefix("sentence:") {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let mut terms = Vec::new();
        let mut rest = body.trim();
        while !rest.is_empty() {
            let (term, after) = if let Some(quoted) = rest.strip_prefix('\'') {
                let end = quoted
                    .find('\'')
                    .ok_or_else(|| AuthoringError::UnclosedQuote(source.to_string()))?;
                (vec![stems(&quoted[..end])], &quoted[end + 1..])
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let word = &rest[..end];
                let term = match word.strip_prefix('@') {
                    Some(name) => lexicon::class(name)
                        .ok_or_else(|| AuthoringError::UnknownClass {
                            pattern: source.to_string(),
                            class: name.to_string(),
                        })?
                        .iter()
                        .map(|p| stems(p))
                        .collect(),
                    None => vec![stems(word)],
                };
                (term, &rest[end..])
            };
            let term: Vec<Vec<String>> = term.into_iter().filter(|p| !p.is_empty()).collect();
            if term.is_empty() {
                return Err(AuthoringError::EmptyTerm(source.to_string()));
            }
            terms.push(term);
            rest = after.trim_start();
        }
        if terms.is_empty() {
            return Err(AuthoringError::EmptyPattern(source.to_string()));
        }
        Ok(Self {
            source: source.to_string(),
            negated,
            sentence,
            terms,
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True if the pattern matches somewhere in `clause`.
    fn matches(&self, clause: &Clause) -> bool {
        // For each term, the (start, length, negated) of every place it appears.
        let places: Vec<Vec<(usize, usize, bool)>> = self
            .terms
            .iter()
            .map(|alternatives| {
                alternatives
                    .iter()
                    .flat_map(|phrase| occurrences(clause, phrase))
                    .collect()
            })
            .collect();
        if places.iter().any(Vec::is_empty) {
            return false;
        }
        let mut used = Vec::new();
        assign(&places, 0, &mut used, self.negated)
    }
}

/// Where `phrase` appears in `clause`: (start, length, negated at its first word).
fn occurrences(clause: &Clause, phrase: &[String]) -> Vec<(usize, usize, bool)> {
    if phrase.is_empty() || clause.len() < phrase.len() {
        return Vec::new();
    }
    (0..=clause.len() - phrase.len())
        .filter(|&i| {
            phrase
                .iter()
                .enumerate()
                .all(|(k, p)| same_word(&clause[i + k].stem, p))
        })
        .map(|i| (i, phrase.len(), clause[i].negated))
        .collect()
}

/// Picks one place per term, without overlaps; positive patterns need every place outside a
/// negation, negated patterns at least one place inside one.
fn assign(
    places: &[Vec<(usize, usize, bool)>],
    term: usize,
    used: &mut Vec<(usize, usize, bool)>,
    negated: bool,
) -> bool {
    if term == places.len() {
        return if negated {
            used.iter().any(|p| p.2)
        } else {
            used.iter().all(|p| !p.2)
        };
    }
    for &(start, len, neg) in &places[term] {
        if !negated && neg {
            continue;
        }
        let overlaps = used
            .iter()
            .any(|&(s, l, _)| start < s + l && s < start + len);
        if overlaps {
            continue;
        }
        used.push((start, len, neg));
        if assign(places, term + 1, used, negated) {
            return true;
        }
        used.pop();
    }
    false
}

/// The clauses of each sentence joined, for patterns whose terms may sit in different clauses.
fn sentences(clauses: &[Clause]) -> Vec<Clause> {
    let mut out: Vec<Clause> = Vec::new();
    for clause in clauses {
        match (out.last_mut(), clause.first()) {
            (Some(last), Some(first))
                if last.last().is_some_and(|w| w.sentence == first.sentence) =>
            {
                last.extend(clause.iter().cloned())
            }
            _ => out.push(clause.clone()),
        }
    }
    out
}

/// Something an answer can say: an idea it needs, or a misconception that sinks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The claim in plain words ("a consumer was stopped").
    pub says: String,
    /// Ways of saying it.
    pub patterns: Vec<Pattern>,
    /// What to tell a learner who said (for misconceptions) or missed (for ideas) it.
    pub feedback: String,
}

impl Claim {
    /// A claim from its plain words, patterns and feedback.
    pub fn new(says: &str, patterns: &[&str], feedback: &str) -> Result<Self, AuthoringError> {
        Ok(Self {
            says: says.to_string(),
            patterns: patterns
                .iter()
                .map(|p| Pattern::parse(p))
                .collect::<Result<_, _>>()?,
            feedback: feedback.to_string(),
        })
    }

    /// True if some clause (or sentence, for sentence patterns) of the answer says it.
    pub(crate) fn said_in(&self, clauses: &[Clause]) -> bool {
        self.matching(clauses).is_some()
    }

    /// The first pattern that matches the answer.
    fn matching(&self, clauses: &[Clause]) -> Option<&Pattern> {
        let sentences = sentences(clauses);
        self.patterns.iter().find(|p| {
            let scopes = if p.sentence { &sentences } else { clauses };
            scopes.iter().any(|c| p.matches(c))
        })
    }
}

/// A review question as the judge sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rubric {
    /// Ideas a right answer states, all of them.
    pub ideas: Vec<Claim>,
    /// Claims that make an answer wrong, whatever else it says.
    pub misconceptions: Vec<Claim>,
}

/// How an answer was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict<'a> {
    /// Every idea, no misconception.
    Right,
    /// It states something wrong.
    Wrong(&'a Claim),
    /// It leaves out these ideas.
    Missing(Vec<&'a Claim>),
}

impl Verdict<'_> {
    /// True for [`Verdict::Right`].
    pub(crate) fn is_right(&self) -> bool {
        matches!(self, Verdict::Right)
    }

    /// What to tell the learner: the misconception's correction, or what is missing.
    pub fn feedback(&self) -> String {
        match self {
            Verdict::Right => "yes".into(),
            Verdict::Wrong(claim) if claim.feedback.is_empty() => {
                format!(
                    "not quite: your answer says {}, which is not what happened",
                    claim.says
                )
            }
            Verdict::Wrong(claim) => format!("not quite: {}", claim.feedback),
            Verdict::Missing(ideas) => {
                let said: Vec<String> = ideas
                    .iter()
                    .map(|i| {
                        if i.feedback.is_empty() {
                            i.says.clone()
                        } else {
                            i.feedback.clone()
                        }
                    })
                    .collect();
                format!(
                    "not quite: your answer does not say {}",
                    said.join("; nor ")
                )
            }
        }
    }
}

impl Rubric {
    /// Why an answer is judged as it is: its clauses, and which pattern matched each claim.
    /// For lesson authors tuning their patterns.
    pub fn explain(&self, answer: &str) -> String {
        let clauses = text::clauses(answer);
        let shown: Vec<String> = clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|w| {
                        if w.negated {
                            format!("!{}", w.stem)
                        } else {
                            w.stem.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let mut out = format!("clauses: [{}]", shown.join(" | "));
        for (kind, list) in [("idea", &self.ideas), ("wrong", &self.misconceptions)] {
            for claim in list.iter() {
                let hit = claim.matching(&clauses);
                if let Some(p) = hit {
                    out.push_str(&format!("; {kind} \"{}\" by '{}'", claim.says, p.source()));
                } else if kind == "idea" {
                    out.push_str(&format!("; missing idea \"{}\"", claim.says));
                }
            }
        }
        out
    }

    /// Judges one answer.
    pub(crate) fn judge(&self, answer: &str) -> Verdict<'_> {
        let clauses = text::clauses(answer);
        if let Some(wrong) = self.misconceptions.iter().find(|m| m.said_in(&clauses)) {
            return Verdict::Wrong(wrong);
        }
        let missing: Vec<&Claim> = self.ideas.iter().filter(|i| !i.said_in(&clauses)).collect();
        if missing.is_empty() {
            Verdict::Right
        } else {
            Verdict::Missing(missing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rubric() -> Rubric {
        Rubric {
            ideas: vec![Claim::new(
                "each consumer had a group of its own",
                &["@different @group", "not: @same @group"],
                "which group each consumer was in",
            )
            .unwrap()],
            misconceptions: vec![Claim::new(
                "they were in the same group",
                &["@same @group", "not: @different @group"],
                "consumers of one group share the messages",
            )
            .unwrap()],
        }
    }

    #[test]
    fn negation_and_its_scope_decide() {
        let r = rubric();
        assert!(r.judge("they were in different groups").is_right());
        assert!(r.judge("they didn't share a group id").is_right());
        assert!(!r
            .judge("because they were not in different groups")
            .is_right());
        assert!(!r.judge("they were never not in the same group").is_right());
        assert!(r
            .judge("it is not true that they shared a group")
            .is_right());
    }

    #[test]
    fn a_right_idea_with_a_contradicting_one_is_wrong() {
        let r = rubric();
        let v = r.judge("they were in different groups, well, the same group really");
        assert_eq!(
            v.feedback(),
            "not quite: consumers of one group share the messages"
        );
        assert_eq!(
            r.judge("because of the network").feedback(),
            "not quite: your answer does not say which group each consumer was in"
        );
    }

    #[test]
    fn patterns_refuse_unknown_classes_and_empty_terms() {
        assert!(Pattern::parse("@nope consumer")
            .unwrap_err()
            .to_string()
            .contains("no word class @nope"));
        assert!(Pattern::parse("'unclosed").is_err());
        assert!(Pattern::parse("   ").is_err());
        let p = Pattern::parse("'took over' @consumer").unwrap();
        assert!(p.matches(&text::clauses("the other consumers took over")[0]));
        assert!(!p.matches(&text::clauses("the other consumers took it over")[0]));
    }
}
