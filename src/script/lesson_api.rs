//! Functions lessons are written with: `step`, `observe`, `check`, `question`, plus
//! `lesson(name[, opts])` and `lessons()` to run and list the bundled lessons.

use std::cell::RefCell;
use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map, NativeCallContext, Scope};

use super::cluster_api::Cluster;
use super::input::Line;
use super::{error_message, fail, RhaiResult, Session};
use crate::lesson::{self, judge};

/// How one review question went.
#[derive(Debug, Clone)]
pub struct Answered {
    /// The question.
    pub question: String,
    /// What the learner typed (empty in auto mode).
    pub answers: Vec<String>,
    /// Judged correct (always true in auto mode, where the model answer is shown).
    pub correct: bool,
}

/// A lesson in progress.
#[derive(Debug, Default)]
pub struct LessonRun {
    /// No pauses, model answers.
    pub auto: bool,
    /// Input ended (Ctrl-D, or the end of piped answers): no more pauses.
    pub input_ended: bool,
    /// The learner ended the lesson (Ctrl-C).
    pub quit: bool,
    /// Claims checked and held.
    pub checks: usize,
    /// Questions asked.
    pub answered: Vec<Answered>,
}

/// Reads one line through the session's line editor. Ctrl-C ends the lesson (`Err`); end of
/// input gives `None` and stops further pauses.
fn read_line(s: &Session, prompt: &str) -> RhaiResult<Option<String>> {
    s.out.flush();
    let line = s.input.borrow_mut().read_line(prompt);
    match line {
        Line::Text(text) => Ok(Some(text.trim().to_string())),
        Line::Eof => {
            if let Some(run) = s.lesson.borrow_mut().as_mut() {
                run.input_ended = true;
            }
            Ok(None)
        }
        Line::Interrupted => {
            if let Some(run) = s.lesson.borrow_mut().as_mut() {
                run.quit = true;
            }
            fail("lesson ended (Ctrl-C)")
        }
    }
}

/// Wraps `text` at about 88 columns; the first line starts with `indent`, the rest line up
/// under its text.
fn wrap(text: &str, indent: &str) -> String {
    let rest = " ".repeat(indent.chars().count());
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() + word.len() > 88 && !line.trim().is_empty() {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.clone();
        }
        line.push_str(word);
        line.push(' ');
    }
    out.push_str(line.trim_end());
    out
}

fn concepts(list: Array) -> RhaiResult<Vec<judge::Concept>> {
    list.into_iter()
        .map(|c| {
            if c.is_array() {
                Ok(c.cast::<Array>()
                    .into_iter()
                    .map(|p| p.to_string())
                    .collect())
            } else {
                Ok(vec![c.to_string()])
            }
        })
        .collect()
}

fn auto_mode(s: &Session) -> bool {
    s.lesson.borrow().as_ref().is_none_or(|l| l.auto)
}

fn pauses(s: &Session) -> bool {
    s.lesson
        .borrow()
        .as_ref()
        .is_some_and(|l| !l.auto && !l.input_ended)
}

/// Runs commands the learner types at a pause, until an empty line.
fn pause(ctx: &NativeCallContext, s: &Session) -> RhaiResult<()> {
    s.out.print(
        "  [Enter] to go on, or type a command to try something first (Ctrl-C ends the lesson)",
    );
    while let Some(line) = read_line(s, "lesson> ")? {
        if line.is_empty() {
            return Ok(());
        }
        let mut scope = Scope::new();
        scope.push("cluster", Cluster);
        s.printed.set(false);
        match ctx.engine().eval_with_scope::<Dynamic>(&mut scope, &line) {
            Ok(v) if v.is_unit() || s.printed.get() => {}
            Ok(v) => s.out.print(&v.to_string()),
            Err(e) => s.out.error(&error_message(&e)),
        }
    }
    Ok(())
}

fn summary(name: &str, run: &LessonRun) -> String {
    let mut out = format!(
        "── summary of {name} ──\n  {} claims checked against this run, all held\n",
        run.checks
    );
    for (i, a) in run.answered.iter().enumerate() {
        let verdict = if run.auto {
            "model answer shown (auto)".to_string()
        } else if a.correct && a.answers.len() == 1 {
            "right first time".to_string()
        } else if a.correct {
            "right after the hint".to_string()
        } else {
            "missed; see the model answer".to_string()
        };
        out.push_str(&format!("  Q{}: {verdict} — {}\n", i + 1, a.question));
        for answer in &a.answers {
            out.push_str(&format!("      you said: {answer}\n"));
        }
    }
    out
}

pub fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn("lessons", move || -> Array {
        s.out.print(&lesson::listing());
        s.printed.set(true);
        lesson::LESSONS
            .iter()
            .map(|l| Dynamic::from(l.name.to_string()))
            .collect()
    });
    let run = {
        let s = session.clone();
        move |ctx: NativeCallContext, name: &str, opts: Map| -> RhaiResult<()> {
            let Some(l) = lesson::find(name) else {
                let names: Vec<&str> = lesson::LESSONS.iter().map(|l| l.name).collect();
                return fail(format!(
                    "there is no lesson '{name}'; lessons are {}",
                    names.join(", ")
                ));
            };
            if s.lesson.borrow().is_some() {
                return fail("a lesson is already running");
            }
            let auto = opts
                .get("auto")
                .and_then(|v| v.as_bool().ok())
                .unwrap_or(false);
            *s.lesson.borrow_mut() = Some(LessonRun {
                auto,
                ..Default::default()
            });
            // Everything the lesson starts ends with it, however it ends.
            let mark = s.consumer_mark();
            s.out
                .print(&format!("══ lesson {}: {} ══", l.name, l.summary));
            let mut scope = Scope::new();
            scope.push("cluster", Cluster);
            scope.push("options", opts);
            let result = ctx
                .engine()
                .compile(l.source)
                .map_err(|e| e.to_string())
                .and_then(|ast| {
                    ctx.engine()
                        .run_ast_with_scope(&mut scope, &ast)
                        .map_err(|e| error_message(&e))
                });
            drop(scope);
            s.close_started_since(mark);
            let finished = s.lesson.borrow_mut().take().unwrap_or_default();
            s.printed.set(true);
            match result {
                Ok(()) => {
                    s.out.print(&summary(l.name, &finished));
                    Ok(())
                }
                Err(_) if finished.quit || s.cancelled() => {
                    s.out
                        .print(&format!("── lesson {} ended (Ctrl-C) ──", l.name));
                    Ok(())
                }
                Err(e) => fail(format!("lesson {} stopped: {e}", l.name)),
            }
        }
    };
    let run2 = run.clone();
    engine.register_fn("lesson", move |ctx: NativeCallContext, name: &str| {
        run2(ctx, name, Map::new())
    });
    engine.register_fn("lesson", run);
    let s = session.clone();
    engine.register_fn(
        "step",
        move |ctx: NativeCallContext, title: &str, text: &str| -> RhaiResult<()> {
            s.out
                .print(&format!("\n── {title} ──\n{}", wrap(text, "  ")));
            if pauses(&s) {
                pause(&ctx, &s)?;
            }
            Ok(())
        },
    );
    let s = session.clone();
    engine.register_fn("observe", move |text: &str| {
        s.out.print(&wrap(text, "  » "))
    });
    let s = session.clone();
    engine.register_fn(
        "check",
        move |condition: bool, claim: &str| -> RhaiResult<()> {
            if !condition {
                return fail(format!(
                    "the cluster did not behave as the lesson expects: {claim}"
                ));
            }
            s.out.print(&format!("  ✓ {claim}"));
            if let Some(run) = s.lesson.borrow_mut().as_mut() {
                run.checks += 1;
            }
            Ok(())
        },
    );
    let s: Rc<Session> = session.clone();
    engine.register_fn(
        "question",
        move |q: &str, wanted: Array, hint: &str, model: &str| -> RhaiResult<bool> {
            let wanted = concepts(wanted)?;
            s.out.print(&format!("\n?? {q}"));
            let mut answered = Answered {
                question: q.to_string(),
                answers: Vec::new(),
                correct: true,
            };
            if !auto_mode(&s) {
                answered.correct = false;
                for attempt in 0..2 {
                    let Some(answer) = read_line(&s, "answer> ")? else {
                        break;
                    };
                    answered.answers.push(answer.clone());
                    let missing = judge::missing(&answer, &wanted);
                    if missing.is_empty() {
                        s.out.print("  ✓ yes");
                        answered.correct = true;
                        break;
                    }
                    if attempt == 0 {
                        s.out
                            .print(&wrap(&format!("not quite. hint: {hint}"), "  "));
                    }
                }
            }
            s.out.print(&wrap(&format!("model answer: {model}"), "  "));
            let correct = answered.correct;
            if let Some(run) = s.lesson.borrow_mut().as_mut() {
                run.answered.push(answered);
            }
            Ok(correct)
        },
    );
    let s = session.clone();
    engine.register_fn(
        "fresh_topic",
        move |name: &str, partitions: i64, replication: i64| -> RhaiResult<()> {
            let exists = s
                .block_on(s.admin.topics())?
                .or_else(|e| fail(e.to_string()))?
                .value
                .iter()
                .any(|t| t == name);
            if exists {
                s.block_on(s.admin.delete_topic(name))?
                    .or_else(|e| fail(e.to_string()))?;
            }
            let (Ok(p), Ok(rf)) = (i32::try_from(partitions), i16::try_from(replication)) else {
                return fail(format!(
                    "fresh_topic(\"{name}\", {partitions}, {replication}): numbers out of range"
                ));
            };
            s.block_on(s.admin.create_topic(name, p, rf, &[]))?
                .or_else(|e| fail(e.to_string()))?;
            Ok(())
        },
    );
    engine.register_fn("words", |list: Array| -> String { words(&list) });
}

/// A list for a sentence: `[1, 4, 7]` → "1, 4 and 7"; nested lists → "0, 1 and 2; 3 and 4";
/// an empty list → "none".
pub fn words(list: &Array) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|v| match v.clone().try_cast::<Array>() {
            Some(inner) => words(&inner),
            None => v.to_string(),
        })
        .collect();
    let nested = list.iter().any(|v| v.is_array());
    match items.as_slice() {
        [] => "none".into(),
        [one] => one.clone(),
        _ if nested => items.join("; "),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Lesson state kept on the session.
pub type LessonSlot = RefCell<Option<LessonRun>>;
