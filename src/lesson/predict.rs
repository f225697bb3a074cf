//! Predictions: before a fault, the learner says what the cluster will do; afterwards the
//! answer is compared with what this run really did. Answers are numbers, broker ids, yes/no
//! or one of a few choices, read leniently: "3 and 1", "broker 3, then 1", "yes, it works",
//! "it won't fail".

use super::judge::text::{clauses, same_word, stem};

/// What kind of answer a prediction takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One whole number.
    Number,
    /// Yes or no.
    YesNo,
    /// Broker ids (or partition numbers), in order: "3 and 1".
    Ids,
    /// Broker ids (or partition numbers) in any order.
    IdSet,
    /// One of these options.
    Choice(Vec<String>),
}

/// A parsed answer, or an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A number.
    Number(i64),
    /// Yes (true) or no.
    YesNo(bool),
    /// Ids in order.
    Ids(Vec<i64>),
    /// The index of a choice.
    Choice(usize),
}

impl Kind {
    /// Reads a kind as lessons write it: "number", "yes/no", "brokers", "set", or an array of
    /// choices (handled by the caller).
    pub fn parse(name: &str) -> Result<Self, super::AuthoringError> {
        match name {
            "number" | "count" => Ok(Kind::Number),
            "yes/no" | "yesno" | "bool" => Ok(Kind::YesNo),
            "brokers" | "ids" | "partitions" | "list" => Ok(Kind::Ids),
            "set" | "broker set" => Ok(Kind::IdSet),
            other => Err(super::AuthoringError::UnknownKind(other.to_string())),
        }
    }

    /// What to type, for the prompt and for answers that cannot be read.
    pub fn format(&self) -> String {
        match self {
            Kind::Number => "a number".into(),
            Kind::YesNo => "yes or no".into(),
            Kind::Ids => "broker ids in order, e.g. 3 and 1".into(),
            Kind::IdSet => "broker ids, e.g. 1, 3".into(),
            Kind::Choice(options) => {
                let listed: Vec<String> = options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!("{}) {o}", i + 1))
                    .collect();
                format!("one of {}", listed.join("  "))
            }
        }
    }

    /// Reads an answer; `None` if it says nothing of the expected kind.
    pub fn read(&self, answer: &str) -> Option<Value> {
        match self {
            Kind::Number => numbers(answer).first().map(|n| Value::Number(*n)),
            Kind::YesNo => yes_or_no(answer).map(Value::YesNo),
            Kind::Ids | Kind::IdSet => {
                let ids = numbers(answer);
                let none = answer
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| matches!(w, "none" | "nobody" | "nothing" | "neither"));
                (!ids.is_empty() || none).then_some(Value::Ids(ids))
            }
            Kind::Choice(options) => choice(options, answer).map(Value::Choice),
        }
    }

    /// True if `answer` predicted `actual`.
    pub(crate) fn agrees(&self, answer: &Value, actual: &Value) -> bool {
        match (self, answer, actual) {
            (Kind::IdSet, Value::Ids(a), Value::Ids(b)) => {
                let mut a = a.clone();
                let mut b = b.clone();
                a.sort_unstable();
                a.dedup();
                b.sort_unstable();
                b.dedup();
                a == b
            }
            _ => answer == actual,
        }
    }

    /// An outcome in words: "3 and 1", "yes", "the second choice".
    pub fn say(&self, value: &Value) -> String {
        match (self, value) {
            (_, Value::Number(n)) => n.to_string(),
            (_, Value::YesNo(true)) => "yes".into(),
            (_, Value::YesNo(false)) => "no".into(),
            (_, Value::Ids(ids)) => {
                let words: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
                match words.as_slice() {
                    [] => "none".into(),
                    [one] => one.clone(),
                    [init @ .., last] => format!("{} and {last}", init.join(", ")),
                }
            }
            (Kind::Choice(options), Value::Choice(i)) => options
                .get(*i)
                .cloned()
                .unwrap_or_else(|| format!("choice {}", i + 1)),
            (_, Value::Choice(i)) => format!("choice {}", i + 1),
        }
    }
}

const NUMBER_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];

/// Every whole number in the text, in order: digits, or number words up to twelve.
fn numbers(text: &str) -> Vec<i64> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    for word in lower.split(|c: char| !c.is_alphanumeric() && c != '-') {
        if let Ok(n) = word.parse::<i64>() {
            out.push(n);
        } else if let Some(n) = NUMBER_WORDS.iter().position(|w| *w == word) {
            out.push(n as i64);
        } else if let Some(rest) = word.strip_prefix("kafka-") {
            if let Ok(n) = rest.parse::<i64>() {
                out.push(n);
            }
        }
    }
    out
}

const YES: &[&str] = &[
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "true",
    "succeed",
    "success",
    "work",
    "ok",
    "okay",
    "accept",
    "through",
    "fine",
    "correct",
    "definitely",
    "acknowledged",
];
const NO: &[&str] = &[
    "no",
    "n",
    "nope",
    "false",
    "fail",
    "failure",
    "refused",
    "reject",
    "error",
    "nah",
    "timeout",
    "lost",
    "not_enough_replicas",
];

/// Yes or no, from the first word that decides, flipped by any negation governing it: "it
/// will not succeed" is no, "it won't fail" is yes.
fn yes_or_no(text: &str) -> Option<bool> {
    for clause in clauses(text) {
        for w in &clause {
            let s = w.stem.as_str();
            let yes = YES.iter().any(|y| stem(y) == s);
            let no = NO.iter().any(|n| stem(n) == s);
            if yes || no {
                return Some(yes != w.negated);
            }
        }
    }
    // A bare "no" is a negator, not a word: clauses() drops it.
    let trimmed = text.trim().to_lowercase();
    let first = trimmed
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())?;
    match first {
        "no" | "not" | "never" | "nope" => Some(false),
        _ => None,
    }
}

/// The option an answer picks: by number ("2", "option 2", "b"), or by sharing the most
/// words with one option.
fn choice(options: &[String], answer: &str) -> Option<usize> {
    let trimmed = answer.trim().to_lowercase();
    if let Some(n) = numbers(&trimmed).first() {
        if (1..=options.len() as i64).contains(n) && trimmed.len() <= 12 {
            return Some(*n as usize - 1);
        }
    }
    if trimmed.len() == 1 {
        let c = trimmed.chars().next()?;
        if c.is_ascii_lowercase() {
            let i = (c as u8 - b'a') as usize;
            return (i < options.len()).then_some(i);
        }
    }
    let said: Vec<String> = clauses(answer)
        .into_iter()
        .flatten()
        .map(|w| w.stem)
        .collect();
    let score = |option: &String| {
        clauses(option)
            .into_iter()
            .flatten()
            .filter(|w| w.stem.len() > 2 && said.iter().any(|s| same_word(s, &w.stem)))
            .count()
    };
    let scores: Vec<usize> = options.iter().map(score).collect();
    let best = *scores.iter().max()?;
    if best == 0 || scores.iter().filter(|s| **s == best).count() > 1 {
        return None;
    }
    scores.iter().position(|s| *s == best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_in_order_from_loose_phrasing() {
        for answer in [
            "3 and 1",
            "broker 3, then 1",
            "3,1",
            "kafka-3 then kafka-1",
            "three and one",
        ] {
            assert_eq!(
                Kind::Ids.read(answer),
                Some(Value::Ids(vec![3, 1])),
                "{answer}"
            );
        }
        assert_eq!(Kind::Ids.read("none of them"), Some(Value::Ids(vec![])));
        assert_eq!(Kind::Ids.read("no idea"), None);
        assert!(Kind::IdSet.agrees(&Value::Ids(vec![1, 3]), &Value::Ids(vec![3, 1])));
        assert!(!Kind::Ids.agrees(&Value::Ids(vec![1, 3]), &Value::Ids(vec![3, 1])));
    }

    #[test]
    fn yes_and_no_follow_negation() {
        for (answer, want) in [
            ("yes", true),
            ("no", false),
            ("No.", false),
            ("it will succeed", true),
            ("it will not succeed", false),
            ("it won't fail", true),
            ("nope, NOT_ENOUGH_REPLICAS", false),
            ("the send fails", false),
            ("yeah it goes through", true),
        ] {
            assert_eq!(
                Kind::YesNo.read(answer),
                Some(Value::YesNo(want)),
                "{answer}"
            );
        }
        assert_eq!(Kind::YesNo.read("hmm"), None);
    }

    #[test]
    fn numbers_and_choices() {
        assert_eq!(Kind::Number.read("c1 will own 4"), Some(Value::Number(4)));
        assert_eq!(Kind::Number.read("four"), Some(Value::Number(4)));
        let k = Kind::Choice(vec![
            "the send succeeds".into(),
            "the send is refused".into(),
        ]);
        assert_eq!(k.read("2"), Some(Value::Choice(1)));
        assert_eq!(k.read("b"), Some(Value::Choice(1)));
        assert_eq!(k.read("refused"), Some(Value::Choice(1)));
        assert_eq!(k.say(&Value::Choice(0)), "the send succeeds");
        assert_eq!(Kind::Ids.say(&Value::Ids(vec![3, 1, 2])), "3, 1 and 2");
    }
}
