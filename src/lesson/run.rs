//! A lesson in progress: how it takes answers, what it checked, and every question and
//! prediction with the learner's answer, the verdict and the model answer from this run —
//! read back at the end as a summary, or saved as Markdown.

/// How a lesson takes answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// Pauses at each step; two tries per question, with the hint after the first.
    #[default]
    Interactive,
    /// No pauses, no answers: model answers are shown (for reading, and CI).
    Auto,
    /// No pauses; each question and prediction takes the next line of an answers file, one
    /// try each (a teacher grading a class, CI testing a lesson).
    Answers,
}

/// How one question or prediction went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Right at the first try.
    Right,
    /// Right at the second try, after the hint.
    RightAfterHint,
    /// Not right; the feedback says what was missing or wrong.
    Wrong(String),
    /// No answer was given (end of input).
    Unanswered,
    /// Auto mode: the model answer was shown.
    Shown,
}

impl Outcome {
    /// True if the answer counts as correct.
    pub fn correct(&self) -> bool {
        matches!(self, Outcome::Right | Outcome::RightAfterHint)
    }

    pub(crate) fn verdict(&self) -> &'static str {
        match self {
            Outcome::Right => "correct",
            Outcome::RightAfterHint => "correct after the hint",
            Outcome::Wrong(_) => "incorrect",
            Outcome::Unanswered => "not answered",
            Outcome::Shown => "model answer shown (auto)",
        }
    }
}

/// One question or prediction, as asked and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Asked {
    /// True for a prediction.
    pub prediction: bool,
    /// The question.
    pub text: String,
    /// What the learner typed, each try.
    pub answers: Vec<String>,
    /// How it went.
    pub outcome: Outcome,
    /// The model answer (for a prediction: what this run did).
    pub model: String,
}

/// A lesson in progress.
#[derive(Debug, Default)]
pub(crate) struct LessonRun {
    /// The lesson's name.
    pub name: String,
    /// How it takes answers.
    pub mode: Mode,
    /// Input ended (Ctrl-D, or the end of piped answers): no more pauses.
    pub input_ended: bool,
    /// The learner ended the lesson (Ctrl-C).
    pub quit: bool,
    /// Claims checked, all held.
    pub checks: usize,
    /// Questions and predictions, in order.
    pub asked: Vec<Asked>,
}

impl LessonRun {
    /// A run of `name` in `mode`.
    pub fn new(name: &str, mode: Mode) -> Self {
        Self {
            name: name.to_string(),
            mode,
            ..Self::default()
        }
    }

    /// True when steps pause for the learner.
    pub fn pauses(&self) -> bool {
        self.mode == Mode::Interactive && !self.input_ended
    }

    /// The line `--answers` prints as each question is judged: `Q2: correct — <question>`.
    pub(crate) fn verdict_line(&self, index: usize) -> String {
        let a = &self.asked[index];
        let verdict = if a.outcome.correct() {
            "correct"
        } else {
            "incorrect"
        };
        format!("Q{}: {verdict} — {}", index + 1, a.text)
    }

    /// The summary printed at the end.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "── summary of {} ──\n  {} claims checked against this run, all held\n",
            self.name, self.checks
        );
        if !self.asked.is_empty() {
            let correct = self.asked.iter().filter(|a| a.outcome.correct()).count();
            if self.mode != Mode::Auto {
                out.push_str(&format!(
                    "  {correct} of {} answered correctly\n",
                    self.asked.len()
                ));
            }
        }
        for (i, a) in self.asked.iter().enumerate() {
            let kind = if a.prediction { " (prediction)" } else { "" };
            out.push_str(&format!(
                "  Q{}{kind}: {} — {}\n",
                i + 1,
                a.outcome.verdict(),
                a.text
            ));
            for answer in &a.answers {
                out.push_str(&format!("      you said: {answer}\n"));
            }
            if let Outcome::Wrong(feedback) = &a.outcome {
                out.push_str(&format!("      {feedback}\n"));
            }
            let label = if a.prediction {
                "this run"
            } else {
                "model answer"
            };
            out.push_str(&format!("      {label}: {}\n", a.model));
        }
        out
    }

    /// The summary as a Markdown document, for `--report FILE.md`.
    pub(crate) fn markdown(&self) -> String {
        let mut out = format!("# Lesson {}\n\n", self.name);
        out.push_str(&format!(
            "{} claims checked against this run, all held.\n\n",
            self.checks
        ));
        if self.mode != Mode::Auto && !self.asked.is_empty() {
            let correct = self.asked.iter().filter(|a| a.outcome.correct()).count();
            out.push_str(&format!(
                "**{correct} of {} answered correctly.**\n\n",
                self.asked.len()
            ));
        }
        for (i, a) in self.asked.iter().enumerate() {
            let kind = if a.prediction {
                "prediction"
            } else {
                "question"
            };
            out.push_str(&format!("## Q{} ({kind}): {}\n\n", i + 1, a.text));
            if a.answers.is_empty() {
                out.push_str("- Answer: _none_\n");
            }
            for answer in &a.answers {
                out.push_str(&format!("- Answer: {}\n", answer.replace('\n', " ")));
            }
            out.push_str(&format!("- Verdict: **{}**\n", a.outcome.verdict()));
            if let Outcome::Wrong(feedback) = &a.outcome {
                out.push_str(&format!("- Feedback: {feedback}\n"));
            }
            let label = if a.prediction {
                "What this run did"
            } else {
                "Model answer"
            };
            out.push_str(&format!("- {label}: {}\n\n", a.model));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_back_every_answer_with_its_verdict_and_model() {
        let mut run = LessonRun::new("broker-failover", Mode::Answers);
        run.checks = 4;
        run.asked.push(Asked {
            prediction: true,
            text: "Which brokers will lead partitions 2 and 5?".into(),
            answers: vec!["3 and 1".into()],
            outcome: Outcome::Right,
            model: "3 and 1".into(),
        });
        run.asked.push(Asked {
            prediction: false,
            text: "How did we show failover for producers?".into(),
            answers: vec!["the producer failed".into()],
            outcome: Outcome::Wrong("not quite: the producer kept working".into()),
            model: "We stopped broker 2 …".into(),
        });
        assert_eq!(
            run.verdict_line(1),
            "Q2: incorrect — How did we show failover for producers?"
        );
        let summary = run.summary();
        assert!(summary.contains("1 of 2 answered correctly"), "{summary}");
        assert!(summary.contains("Q1 (prediction): correct — Which brokers"));
        assert!(summary.contains("      this run: 3 and 1"));
        assert!(summary.contains("      you said: the producer failed"));
        assert!(summary.contains("      model answer: We stopped broker 2"));
        let md = run.markdown();
        assert!(md.starts_with("# Lesson broker-failover\n"));
        assert!(md.contains("## Q2 (question): How did we show failover for producers?"));
        assert!(md.contains("- Verdict: **incorrect**"));
    }
}
