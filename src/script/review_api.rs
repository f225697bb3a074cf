//! Review questions and predictions: `question(spec, model)` judges a free-text answer by the
//! ideas and misconceptions the lesson declares ([`crate::lesson::judge`]);
//! `predict(text, kind, action)` asks what the cluster will do, runs `action` (the fault) and
//! judges the answer against what really happened in this run ([`crate::lesson::predict`]).
//!
//! Interactive lessons give a question two tries, with feedback and the hint after the first;
//! `--answers` takes one line per question and prints `Q<i>: correct — <question>`; auto mode
//! shows model answers.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, FnPtr, Map, NativeCallContext};

use super::lesson_api::{mode, read_line, wrap};
use super::{fail, RhaiResult, Session};
use crate::lesson::judge::{Claim, Rubric};
use crate::lesson::predict::{Kind, Value};
use crate::lesson::run::{Asked, Mode, Outcome};
use crate::lesson::spec::{self, Question};
use crate::lesson::AuthoringError;

/// Records a finished question and, with `--answers`, prints its verdict line.
fn record(s: &Session, asked: Asked) {
    s.view
        .timeline
        .record(crate::view::timeline::Happening::Answered {
            prediction: asked.prediction,
            question: asked.text.clone(),
            answer: asked.answers.last().cloned().unwrap_or_default(),
            verdict: asked.outcome.verdict().to_string(),
            correct: asked.outcome.correct(),
            model: asked.model.clone(),
        });
    let mut current = s.lesson.current.borrow_mut();
    let Some(run) = current.as_mut() else {
        return;
    };
    run.asked.push(asked);
    if run.mode == Mode::Answers {
        s.out.print(&run.verdict_line(run.asked.len() - 1));
    }
}

fn ask(s: &Session, q: &Question, model: &str) -> RhaiResult<bool> {
    s.out.print(&wrap(&q.text, "\n?? "));
    let mut asked = Asked {
        prediction: false,
        text: q.text.clone(),
        answers: Vec::new(),
        outcome: Outcome::Shown,
        model: model.to_string(),
    };
    let tries = match mode(s) {
        Mode::Auto => 0,
        Mode::Answers => 1,
        Mode::Interactive => 2,
    };
    if tries > 0 {
        asked.outcome = Outcome::Unanswered;
    }
    for attempt in 0..tries {
        let Some(answer) = read_line(s, "answer> ")? else {
            break;
        };
        asked.answers.push(answer.clone());
        let verdict = q.rubric.judge(&answer);
        if verdict.is_right() {
            s.out.print("  ✓ yes");
            asked.outcome = if attempt == 0 {
                Outcome::Right
            } else {
                Outcome::RightAfterHint
            };
            break;
        }
        let feedback = verdict.feedback();
        asked.outcome = Outcome::Wrong(feedback.clone());
        if attempt + 1 < tries && !q.hint.is_empty() {
            s.out
                .print(&wrap(&format!("{feedback}. hint: {}", q.hint), "  "));
        } else {
            s.out.print(&wrap(&feedback, "  "));
        }
    }
    s.out.print(&wrap(&format!("model answer: {model}"), "  "));
    let correct = asked.outcome.correct() || asked.outcome == Outcome::Shown;
    record(s, asked);
    Ok(correct)
}

/// The question an older lesson declares as arrays of accepted phrasings: each array is one
/// idea, each phrasing one way of saying it (its words in any order, in one clause).
fn from_concepts(text: &str, concepts: Array, hint: &str) -> Result<Question, AuthoringError> {
    let ideas = concepts
        .into_iter()
        .map(|c| {
            let phrasings: Vec<String> = match c.clone().try_cast::<Array>() {
                Some(list) => list.into_iter().map(|p| p.to_string()).collect(),
                None => vec![c.to_string()],
            };
            let patterns: Vec<String> = phrasings
                .iter()
                .map(|p| {
                    p.split_whitespace()
                        .map(|w| format!("'{}'", w.replace('\'', "")))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let says = format!("\"{}\"", phrasings.join("\" or \""));
            Claim::new(&says, &refs, "")
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Question {
        text: text.to_string(),
        rubric: Rubric {
            ideas,
            misconceptions: Vec::new(),
        },
        hint: hint.to_string(),
    })
}

/// The kind a prediction takes: a name, or an array of choices.
fn kind_of(kind: &Dynamic) -> RhaiResult<Kind> {
    if let Some(options) = kind.clone().try_cast::<Array>() {
        let options: Vec<String> = options.into_iter().map(|o| o.to_string()).collect();
        if options.len() < 2 {
            return fail(AuthoringError::FewChoices.to_string());
        }
        return Ok(Kind::Choice(options));
    }
    Kind::parse(&kind.to_string()).or_else(|e| fail(e.to_string()))
}

/// What `action` returned, as a value of `kind`.
fn actual_of(kind: &Kind, value: &Dynamic) -> RhaiResult<Value> {
    let wrong = || {
        fail(format!(
            "predict: the action returned {} ({}), which is not {}",
            value,
            value.type_name(),
            kind.format()
        ))
    };
    match kind {
        Kind::Number => value.as_int().map(Value::Number).or_else(|_| wrong()),
        Kind::YesNo => value.as_bool().map(Value::YesNo).or_else(|_| wrong()),
        Kind::Ids | Kind::IdSet => {
            if let Ok(n) = value.as_int() {
                return Ok(Value::Ids(vec![n]));
            }
            let Some(list) = value.clone().try_cast::<Array>() else {
                return wrong();
            };
            list.into_iter()
                .map(|v| v.as_int().ok())
                .collect::<Option<Vec<i64>>>()
                .map(Value::Ids)
                .map_or_else(wrong, Ok)
        }
        Kind::Choice(options) => {
            if let Ok(i) = value.as_int() {
                if (0..options.len() as i64).contains(&i) {
                    return Ok(Value::Choice(i as usize));
                }
            }
            let text = value.to_string();
            match options.iter().position(|o| *o == text) {
                Some(i) => Ok(Value::Choice(i)),
                None => wrong(),
            }
        }
    }
}

fn predict(
    ctx: &NativeCallContext,
    s: &Session,
    text: &str,
    kind: Kind,
    action: FnPtr,
) -> RhaiResult<Dynamic> {
    s.out.print(&wrap(
        &format!("{text} ({})", kind.format()),
        "\n?? predict: ",
    ));
    let mut answer = None;
    let mut typed = Vec::new();
    let tries = match mode(s) {
        Mode::Auto => 0,
        Mode::Answers => 1,
        Mode::Interactive => 3,
    };
    for _ in 0..tries {
        let Some(line) = read_line(s, "prediction> ")? else {
            break;
        };
        typed.push(line.clone());
        match kind.read(&line) {
            Some(v) => {
                answer = Some(v);
                break;
            }
            None if mode(s) == Mode::Interactive => s
                .out
                .print(&format!("  please answer with {}", kind.format())),
            None => {}
        }
    }
    let result: Dynamic = action.call_within_context(ctx, ())?;
    let actual = actual_of(&kind, &result)?;
    let happened = kind.say(&actual);
    let outcome = match (&answer, tries) {
        (_, 0) => {
            s.out.print(&format!("  this run: {happened}"));
            Outcome::Shown
        }
        (Some(a), _) if kind.agrees(a, &actual) => {
            s.out.print(&format!("  ✓ you predicted it: {happened}"));
            Outcome::Right
        }
        (Some(a), _) => {
            let feedback = format!(
                "you predicted {}; in this run it was {happened}",
                kind.say(a)
            );
            s.out.print(&format!("  ✗ {feedback}"));
            Outcome::Wrong(feedback)
        }
        (None, _) if typed.is_empty() => {
            s.out.print(&format!("  this run: {happened}"));
            Outcome::Unanswered
        }
        (None, _) => {
            let feedback = format!(
                "\"{}\" is not {}; in this run it was {happened}",
                typed.last().cloned().unwrap_or_default(),
                kind.format()
            );
            s.out.print(&format!("  ✗ {feedback}"));
            Outcome::Wrong(feedback)
        }
    };
    record(
        s,
        Asked {
            prediction: true,
            text: text.to_string(),
            answers: typed,
            outcome,
            model: happened,
        },
    );
    Ok(result)
}

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn(
        "question",
        move |spec: Map, model: &str| -> RhaiResult<bool> {
            let q = spec::question(&spec).or_else(|e| fail(e.to_string()))?;
            ask(&s, &q, model)
        },
    );
    let s = session.clone();
    engine.register_fn(
        "question",
        move |text: &str, concepts: Array, hint: &str, model: &str| -> RhaiResult<bool> {
            let q = from_concepts(text, concepts, hint).or_else(|e| fail(e.to_string()))?;
            ask(&s, &q, model)
        },
    );
    let s = session.clone();
    engine.register_fn(
        "predict",
        move |ctx: NativeCallContext, text: &str, kind: Dynamic, action: FnPtr| {
            let kind = kind_of(&kind)?;
            predict(&ctx, &s, text, kind, action)
        },
    );
}
