//! Keeping the judge honest: a corpus of answers graded by people, and how often the judge
//! agrees with them.
//!
//! Format (see `tests/data/judge-corpus.txt`): `== lesson/key` starts a question's answers,
//! `+ answer` is graded right, `- answer` wrong, a bare `-` is an empty answer, `#` comments.

use std::collections::BTreeMap;

use super::spec::Question;

/// One graded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graded {
    /// `lesson/key`.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// The grader's verdict.
    pub right: bool,
}

/// Why a corpus file or a bundled lesson's questions cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A line of the corpus is neither a question nor a graded answer.
    #[error("line {line}: expected '+' (a right answer), '-' (a wrong one) or '== lesson/key'")]
    Unexpected {
        /// 1-based line number.
        line: usize,
    },
    /// A graded answer comes before any question.
    #[error("line {line}: an answer before any '== lesson/key' line; name its question first")]
    NoQuestion {
        /// 1-based line number.
        line: usize,
    },
    /// A bundled lesson's questions do not parse.
    #[error("lesson {lesson}: {cause}")]
    Lesson {
        /// The lesson's name.
        lesson: &'static str,
        /// What is wrong with it.
        cause: super::AuthoringError,
    },
}

/// Reads a corpus file.
pub fn parse(text: &str) -> Result<Vec<Graded>, CorpusError> {
    let mut question = None;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(q) = line.strip_prefix("== ") {
            question = Some(q.trim().to_string());
            continue;
        }
        let (right, answer) = match line.split_at(1) {
            ("+", rest) => (true, rest.trim()),
            ("-", rest) => (false, rest.trim()),
            _ => return Err(CorpusError::Unexpected { line: n + 1 }),
        };
        let question = question
            .clone()
            .ok_or(CorpusError::NoQuestion { line: n + 1 })?;
        out.push(Graded {
            question,
            answer: answer.to_string(),
            right,
        });
    }
    Ok(out)
}

/// How the judge did on a corpus.
#[derive(Debug, Default, Clone)]
pub struct Agreement {
    /// Right answers, and how many the judge accepted.
    pub right: (usize, usize),
    /// Wrong answers, and how many the judge rejected.
    pub wrong: (usize, usize),
    /// Answers where the judge and the grader disagree: (question, answer, graded right).
    pub disagreements: Vec<(String, String, bool)>,
}

impl Agreement {
    /// Share of right answers accepted, in percent.
    pub fn accepted(&self) -> f64 {
        percent(self.right)
    }

    /// Share of wrong answers rejected, in percent.
    pub fn rejected(&self) -> f64 {
        percent(self.wrong)
    }
}

fn percent((total, agreed): (usize, usize)) -> f64 {
    if total == 0 {
        100.0
    } else {
        agreed as f64 * 100.0 / total as f64
    }
}

/// A corpus question no lesson declares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the corpus grades '{0}', which no lesson declares; correct its '== lesson/key' line or declare the question in the lesson")]
pub struct Undeclared(pub String);

/// Judges every answer of `corpus` with `questions` (keyed `lesson/key`).
pub fn agreement(
    corpus: &[Graded],
    questions: &BTreeMap<String, Question>,
) -> Result<Agreement, Undeclared> {
    let mut a = Agreement::default();
    for g in corpus {
        let q = questions
            .get(&g.question)
            .ok_or_else(|| Undeclared(g.question.clone()))?;
        let accepted = q.rubric.judge(&g.answer).is_right();
        let tally = if g.right { &mut a.right } else { &mut a.wrong };
        tally.0 += 1;
        if accepted == g.right {
            tally.1 += 1;
        } else {
            a.disagreements
                .push((g.question.clone(), g.answer.clone(), g.right));
        }
    }
    Ok(a)
}

/// Every bundled lesson's declared questions, keyed `lesson/key`.
pub fn bundled_questions() -> Result<BTreeMap<String, Question>, CorpusError> {
    let mut all = BTreeMap::new();
    for lesson in super::LESSONS {
        for (key, q) in
            super::spec::declared(lesson.source).map_err(|cause| CorpusError::Lesson {
                lesson: lesson.name,
                cause,
            })?
        {
            all.insert(format!("{}/{key}", lesson.name), q);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file: &str, floor: f64) {
        let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
        let corpus = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let questions = bundled_questions().unwrap();
        let a = agreement(&corpus, &questions).unwrap();
        let report = format!(
            "{file}: {} answers; right answers accepted {}/{} ({:.1} %), wrong answers rejected {}/{} ({:.1} %)",
            corpus.len(),
            a.right.1,
            a.right.0,
            a.accepted(),
            a.wrong.1,
            a.wrong.0,
            a.rejected()
        );
        println!("{report}");
        let listing: Vec<String> = a
            .disagreements
            .iter()
            .map(|(q, answer, right)| {
                format!(
                    "  {q}: graded {} — {answer:?}\n      {}",
                    if *right { "right" } else { "wrong" },
                    questions[q].rubric.explain(answer)
                )
            })
            .collect();
        println!("{}", listing.join("\n"));
        assert!(corpus.len() >= 150, "{file} is too small to mean much");
        assert!(
            a.accepted() >= floor && a.rejected() >= floor,
            "{report}\ndisagreements:\n{}",
            listing.join("\n")
        );
    }

    #[test]
    fn the_judge_agrees_with_the_graded_corpus() {
        check("judge-corpus.txt", 95.0);
    }

    /// Answers written by a second grader who never saw the judge's patterns nor the first
    /// corpus: the honest measure of how the judge does on phrasings it was not tuned on.
    #[test]
    fn the_judge_agrees_with_answers_it_was_not_tuned_on() {
        check("judge-heldout-2.txt", 93.0);
    }

    #[test]
    fn corpus_files_parse() {
        let parsed = parse("# c\n== a/b\n+ yes\n- no\n-\n").unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[2].answer, "");
        assert!(parse("+ orphan").is_err());
    }
}
