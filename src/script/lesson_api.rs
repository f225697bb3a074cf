//! Functions lessons are written with — `step`, `observe`, `check`, `fresh_topic`, `words` —
//! plus `lesson(name[, opts])` and `lessons()` to run and list them. Questions and
//! predictions are in [`super::review_api`].

use std::cell::RefCell;
use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, Map, NativeCallContext, Scope};

use super::cluster_api::Cluster;
use super::input::Line;
use super::{echo, error_message, fail, RhaiResult, Session};
use crate::lesson::{self, run::LessonRun, run::Mode};
use crate::view::timeline::Happening;

/// Lesson state kept on the session: the running lesson, and the last one that finished.
#[derive(Default)]
pub(crate) struct LessonSlot {
    /// The lesson running now.
    pub current: RefCell<Option<LessonRun>>,
    /// The last lesson that ended, for `--report`.
    pub finished: RefCell<Option<LessonRun>>,
}

/// Reads one line through the session's line editor. Ctrl-C ends the lesson (`Err`); end of
/// input gives `None` and stops further pauses.
pub(crate) fn read_line(s: &Session, prompt: &str) -> RhaiResult<Option<String>> {
    s.out.flush();
    let line = s.input.borrow_mut().read_line(prompt);
    match line {
        Line::Text(text) => Ok(Some(text.trim().to_string())),
        Line::Eof => {
            if let Some(run) = s.lesson.current.borrow_mut().as_mut() {
                run.input_ended = true;
            }
            Ok(None)
        }
        Line::Interrupted => {
            if let Some(run) = s.lesson.current.borrow_mut().as_mut() {
                run.quit = true;
            }
            fail("lesson ended (Ctrl-C)")
        }
    }
}

/// Wraps `text` at about 88 columns; the first line starts with `indent`, the rest line up
/// under its text.
pub(crate) fn wrap(text: &str, indent: &str) -> String {
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

/// How the running lesson takes answers (auto when no lesson runs).
pub fn mode(s: &Session) -> Mode {
    s.lesson
        .current
        .borrow()
        .as_ref()
        .map_or(Mode::Auto, |l| l.mode)
}

fn pauses(s: &Session) -> bool {
    s.lesson
        .current
        .borrow()
        .as_ref()
        .is_some_and(LessonRun::pauses)
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
            Ok(v) => s.out.print(&echo(&v)),
            Err(e) => s.out.error(&error_message(&e)),
        }
    }
    Ok(())
}

/// The mode a lesson's options ask for: `answers: true` (set by `--answers`), `auto: true`,
/// or interactive.
fn mode_of(opts: &Map) -> Mode {
    let flag = |k: &str| opts.get(k).and_then(|v| v.as_bool().ok()).unwrap_or(false);
    if flag("answers") {
        Mode::Answers
    } else if flag("auto") {
        Mode::Auto
    } else {
        Mode::Interactive
    }
}

/// Runs a lesson (bundled, or a `.rhai` file) in this session.
fn run_lesson(ctx: NativeCallContext, s: &Session, name: &str, opts: Map) -> RhaiResult<()> {
    let (name, summary, source) = match lesson::find(name) {
        Some(l) => (
            l.name.to_string(),
            l.summary.to_string(),
            l.source.to_string(),
        ),
        None if name.ends_with(".rhai") => match std::fs::read_to_string(name) {
            Ok(source) => (name.to_string(), "your own lesson".to_string(), source),
            Err(e) => return fail(format!("cannot read lesson file {name}: {e}")),
        },
        None => {
            let names: Vec<&str> = lesson::LESSONS.iter().map(|l| l.name).collect();
            return fail(format!(
                "there is no lesson '{name}'; lessons are {} (or give a .rhai file)",
                names.join(", ")
            ));
        }
    };
    if s.lesson.current.borrow().is_some() {
        return fail("a lesson is already running");
    }
    let needs = lesson::needs::ClusterNeeds::declared(&source).or_else(|e| fail(e.to_string()))?;
    if needs != lesson::needs::ClusterNeeds::default() {
        let racks: Vec<(i32, Option<String>)> = s
            .block_on(s.admin.racks())?
            .or_else(|e| fail(e.to_string()))?
            .into_iter()
            .collect();
        if let Some(missing) = needs.unmet(s.cluster.brokers().len(), &racks, s.view.settings()) {
            return fail(format!(
                "lesson {name} needs a cluster with {missing}; run `kafka-sandbox lesson {name}`, which starts one"
            ));
        }
    }
    if lesson::needs::controls_brokers(&source) {
        if let Some(why) = s.cluster.uncontrolled() {
            return fail(format!(
                "lesson {name} stops, pauses or isolates brokers, but this cluster can be observed and not controlled: {why}"
            ));
        }
    }
    *s.lesson.current.borrow_mut() = Some(LessonRun::new(&name, mode_of(&opts)));
    s.view.set_lesson(Some(&name));
    s.view.timeline.record(Happening::LessonStarted {
        lesson: name.clone(),
    });
    // Everything the lesson starts ends with it, however it ends.
    let mark = s.consumer_mark();
    s.out.print(&format!("══ lesson {name}: {summary} ══"));
    let mut scope = Scope::new();
    scope.push("cluster", Cluster);
    scope.push("options", opts);
    let result = ctx
        .engine()
        .compile(&source)
        .map_err(|e| e.to_string())
        .and_then(|ast| {
            ctx.engine()
                .run_ast_with_scope(&mut scope, &ast)
                .map_err(|e| error_message(&e))
        });
    drop(scope);
    s.close_started_since(mark);
    let finished = s.lesson.current.borrow_mut().take().unwrap_or_default();
    s.view.set_lesson(None);
    s.view.timeline.record(Happening::LessonEnded {
        lesson: name.clone(),
        completed: result.is_ok(),
    });
    s.printed.set(true);
    let outcome = match &result {
        Ok(()) => {
            s.out.print(&finished.summary());
            Ok(())
        }
        Err(_) if finished.quit || s.cancelled() => {
            s.out.print(&format!("── lesson {name} ended (Ctrl-C) ──"));
            Ok(())
        }
        Err(e) => fail(format!("lesson {name} stopped: {e}")),
    };
    *s.lesson.finished.borrow_mut() = Some(finished);
    outcome
}

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn("lessons", move || -> Array {
        s.out.print(&lesson::listing());
        s.printed.set(true);
        lesson::LESSONS
            .iter()
            .map(|l| Dynamic::from(l.name.to_string()))
            .collect()
    });
    let s = session.clone();
    engine.register_fn(
        "lesson",
        move |ctx: NativeCallContext, name: &str| -> RhaiResult<()> {
            run_lesson(ctx, &s, name, Map::new())
        },
    );
    let s = session.clone();
    engine.register_fn(
        "lesson",
        move |ctx: NativeCallContext, name: &str, opts: Map| -> RhaiResult<()> {
            run_lesson(ctx, &s, name, opts)
        },
    );
    let s = session.clone();
    engine.register_fn(
        "step",
        move |ctx: NativeCallContext, title: &str, text: &str| -> RhaiResult<()> {
            s.view.timeline.record(Happening::Step {
                title: title.to_string(),
            });
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
            if let Some(run) = s.lesson.current.borrow_mut().as_mut() {
                run.checks += 1;
            }
            Ok(())
        },
    );
    let s = session.clone();
    engine.register_fn(
        "fresh_topic",
        move |name: &str, partitions: i64, replication: i64| -> RhaiResult<()> {
            fresh_topic(&s, name, partitions, replication, Map::new())
        },
    );
    let s = session.clone();
    engine.register_fn(
        "fresh_topic",
        move |name: &str, partitions: i64, replication: i64, configs: Map| -> RhaiResult<()> {
            fresh_topic(&s, name, partitions, replication, configs)
        },
    );
    engine.register_fn("words", |list: Array| -> String { words(&list) });
}

/// Deletes `name` if it exists and creates it anew, so a lesson starts from a known topic.
fn fresh_topic(
    s: &Session,
    name: &str,
    partitions: i64,
    replication: i64,
    configs: Map,
) -> RhaiResult<()> {
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
    super::topic_api::create(s, name, partitions, replication, configs)
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
