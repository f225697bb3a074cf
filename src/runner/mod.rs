//! Entry points: the REPL, `kafka-sandbox run FILE`, `lesson NAME` and `serve`. Each starts
//! the cluster, the view of it (and its page, unless `--no-web`), and always cleans up after.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

mod session;

use session::{start_session, Started};

use crate::backend::{Backend, ClusterError};
use crate::config::ClusterConfig;
use crate::script::input::{LineInput, StdinLines};
use crate::script::output::Output;
use crate::script::{self, Session};
use crate::view::report::WriteError;
use crate::view::web;

/// Why a session could not start, or the REPL not run. Each wrapping variant's message is its
/// inner error's, which already says why; it is not chained as a source, so that `main`'s `{:#}`
/// prints the cause once.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The cluster did not start.
    #[error("{0}")]
    Cluster(ClusterError),
    /// A signal (named) while the cluster was starting; what it started has been removed.
    #[error("{0} while the cluster was starting; what it started has been removed")]
    Interrupted(&'static str),
    /// The page could not be served.
    #[error("{0}")]
    Web(web::WebError),
    /// The REPL could not run.
    #[error("{0}")]
    Repl(crate::repl::ReplError),
}

/// A `--report` file name that asks for no report the command writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ReportNameError {
    /// `lesson --report` takes `.md` or `.html`.
    #[error("--report writes FILE.md (the lesson summary) or FILE.html (the timeline report); {} is neither", .0.display())]
    NotMarkdownOrHtml(std::path::PathBuf),
    /// `run --report` takes `.html`.
    #[error("--report writes the timeline report as HTML; give a file name ending in .html (not {})", .0.display())]
    NotHtml(std::path::PathBuf),
}

/// What every entry point starts besides the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewOptions {
    /// Serve the page on 127.0.0.1 at this port (0: any free port); `None`: no page.
    pub web: Option<u16>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        Self { web: Some(0) }
    }
}

/// Starts a cluster and runs the REPL on it.
pub fn repl(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    options: ViewOptions,
) -> Result<(), RunError> {
    let Started {
        cluster,
        view,
        web,
        banner,
    } = start_session(rt, backend, config, options)?;
    session::end_on_signals(rt, cluster, session::OnSignal::Repl);
    let banner = format!(
        "{banner}\ntype help() for the script API, Tab to complete, exit or Ctrl-D to quit"
    );
    let outcome = crate::repl::run(rt, view, &banner);
    drop(web);
    outcome.map_err(RunError::Repl)
}

/// Starts a cluster and serves control lines from stdin (`kafka-sandbox serve`).
pub fn serve(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    options: crate::serve::ServeOptions,
    view_options: ViewOptions,
) -> ExitCode {
    let Started {
        cluster,
        view,
        web,
        banner,
    } = match start_session(rt, backend, config, view_options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{banner}");
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    rt.block_on(async {
        crate::serve::run(view.control(), stdin, options).await;
        drop(web);
        cluster.shutdown().await;
    });
    println!("cluster stopped");
    ExitCode::SUCCESS
}

/// How `kafka-sandbox lesson` takes answers, and where it writes its summary.
#[derive(Debug, Clone, Default)]
pub struct LessonOptions {
    /// No pauses; model answers shown.
    pub auto: bool,
    /// Answers, one per question or prediction, in order (`--answers FILE`).
    pub answers: Option<Vec<String>>,
    /// Write the summary (`--report FILE.md`) or the timeline report (`FILE.html`) here.
    pub report: Option<std::path::PathBuf>,
    /// The view and its page.
    pub view: ViewOptions,
}

/// What a `--report` file name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportKind {
    /// The lesson summary as Markdown.
    Markdown,
    /// The self-contained timeline report.
    Html,
}

fn report_kind(path: &Path, markdown_allowed: bool) -> Result<ReportKind, ReportNameError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => Ok(ReportKind::Html),
        Some("md") if markdown_allowed => Ok(ReportKind::Markdown),
        _ if markdown_allowed => Err(ReportNameError::NotMarkdownOrHtml(path.to_path_buf())),
        _ => Err(ReportNameError::NotHtml(path.to_path_buf())),
    }
}

/// Writes the timeline report of `session` to `path`.
fn write_html_report(
    session: &Session,
    path: &Path,
    title: &str,
    lesson: Option<crate::lesson::run::LessonRun>,
) -> Result<(), WriteError> {
    let report = session.rt.block_on(session.view.report(title, lesson));
    crate::view::report::write(path, &report)?;
    session
        .out
        .print(&format!("report written to {}", path.display()));
    Ok(())
}

/// `--answers` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read answers {from}: {cause}; give a readable file with one answer per line, or - for standard input")]
pub struct AnswersError {
    /// "from standard input" or "file PATH".
    from: String,
    /// The I/O error.
    cause: std::io::Error,
}

/// Reads `--answers FILE` (`-` for standard input): one answer per line.
pub fn read_answers(path: &str) -> Result<Vec<String>, AnswersError> {
    let text = if path == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|cause| {
            AnswersError {
                from: "from standard input".into(),
                cause,
            }
        })?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|cause| AnswersError {
            from: format!("file {path}"),
            cause,
        })?
    };
    Ok(text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect())
}

/// Runs a lesson — bundled, or a `.rhai` file of one's own — on a fresh cluster.
pub fn run_lesson(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    name: &str,
    options: LessonOptions,
) -> ExitCode {
    let own_file = name.ends_with(".rhai");
    if crate::lesson::find(name).is_none() && !own_file {
        eprintln!(
            "kafka-sandbox: there is no lesson '{name}' (give a .rhai file for your own)\n{}",
            crate::lesson::listing()
        );
        return ExitCode::FAILURE;
    }
    if own_file && !Path::new(name).is_file() {
        eprintln!("kafka-sandbox: there is no lesson file {name}");
        return ExitCode::FAILURE;
    }
    // The cluster the lesson declares it needs (racks, more brokers, …) is the one started.
    let mut config = config;
    let needs = crate::lesson::source(name)
        .map_err(|e| e.to_string())
        .and_then(|source| {
            crate::lesson::needs::ClusterNeeds::declared(&source).map_err(|e| e.to_string())
        });
    match needs {
        Ok(needs) => needs.apply(&mut config),
        Err(e) => {
            eprintln!("kafka-sandbox: lesson {name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = config.validate() {
        eprintln!("kafka-sandbox: lesson {name}: {e}");
        return ExitCode::FAILURE;
    }
    let report_kind = match options.report.as_deref().map(|p| report_kind(p, true)) {
        None => None,
        Some(Ok(kind)) => Some(kind),
        Some(Err(e)) => {
            eprintln!("kafka-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mode = if options.answers.is_some() {
        "answers: true"
    } else if options.auto {
        "auto: true"
    } else {
        "auto: false"
    };
    let source = format!("lesson({name:?}, #{{{mode}}});");
    let (input, out): (Box<dyn LineInput>, Output) = match (&options.answers, options.auto) {
        (Some(lines), _) => (
            Box::new(crate::script::input::Scripted::new(lines.clone())),
            Output::stdout(),
        ),
        (None, true) => (Box::new(StdinLines), Output::stdout()),
        // Interactive lessons read through the same line editor as the REPL.
        (None, false) => {
            let known = Arc::new(std::sync::Mutex::new(crate::repl::helper::Known::default()));
            match crate::repl::console::Console::open(known) {
                Ok((console, out)) => (Box::new(console), out),
                Err(e) => {
                    eprintln!("kafka-sandbox: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let report = options.report.clone();
    let title = format!("lesson {name}");
    run_source(
        rt,
        backend,
        config,
        options.view,
        Path::new("lesson"),
        &source,
        input,
        out,
        move |session| {
            let Some(path) = report else {
                return Ok(());
            };
            let finished = session.finished_lesson();
            if report_kind == Some(ReportKind::Html) {
                return write_html_report(session, &path, &title, finished);
            }
            let Some(finished) = finished else {
                return Ok(());
            };
            crate::view::report::write_text(&path, &finished.markdown())?;
            session
                .out
                .print(&format!("report written to {}", path.display()));
            Ok(())
        },
    )
}

/// Runs a script file on a fresh cluster. Errors print as `FILE:LINE:COLUMN: message`. With
/// `report`, the timeline report is written at the end, even when the script failed.
pub fn run_file(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    file: &Path,
    report: Option<&Path>,
    view: ViewOptions,
) -> ExitCode {
    if let Some(Err(e)) = report.map(|p| report_kind(p, false)) {
        eprintln!("kafka-sandbox: {e}");
        return ExitCode::FAILURE;
    }
    // The file's name, not where it happened to be run from: the report is shared.
    let shown = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let title = format!("run {shown}");
    match std::fs::read_to_string(file) {
        Ok(source) => run_source(
            rt,
            backend,
            config,
            view,
            file,
            &source,
            Box::new(StdinLines),
            Output::stdout(),
            |session| match report {
                Some(path) => write_html_report(session, path, &title, session.finished_lesson()),
                None => Ok(()),
            },
        ),
        Err(e) => {
            eprintln!("kafka-sandbox: cannot read {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

/// Starts a cluster, runs `source` on it, calls `after` with the session (for reports), and
/// cleans up whatever happened.
#[allow(clippy::too_many_arguments)]
fn run_source(
    rt: &tokio::runtime::Runtime,
    backend: &Backend,
    config: ClusterConfig,
    view_options: ViewOptions,
    file: &Path,
    source: &str,
    input: Box<dyn LineInput>,
    out: Output,
    after: impl FnOnce(&Session) -> Result<(), WriteError>,
) -> ExitCode {
    let Started {
        cluster,
        view,
        web,
        banner,
    } = match start_session(rt, backend, config, view_options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    out.print(&banner);
    let cancel = Arc::new(AtomicBool::new(false));
    session::end_on_signals(
        rt,
        cluster.clone(),
        session::OnSignal::Script(cancel.clone()),
    );
    let session = Session::new(rt.handle().clone(), view, out.clone(), cancel, input);
    let code = match session {
        Ok(session) => {
            let engine = script::engine(&session);
            let mut scope = script::scope();
            let result = script::run_script(&engine, &mut scope, source);
            out.flush();
            session.close_consumers();
            let reported = after(&session);
            out.flush();
            if let Err(e) = &reported {
                eprintln!("kafka-sandbox: {e}");
            }
            match result {
                Ok(()) if reported.is_ok() => ExitCode::SUCCESS,
                Ok(()) => ExitCode::FAILURE,
                Err((message, position)) => {
                    let (line, column) = position.unwrap_or((1, 1));
                    eprintln!("{}:{line}:{column}: {message}", file.display());
                    let pointer = script::caret(source, position);
                    if !pointer.is_empty() {
                        eprintln!("{pointer}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("kafka-sandbox: {e}");
            ExitCode::FAILURE
        }
    };
    out.flush();
    drop(web);
    rt.block_on(cluster.shutdown());
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_answers_say_what_to_give_instead() {
        let missing = std::env::temp_dir().join("kafka-sandbox-no-such-answers-file");
        let err = read_answers(&missing.display().to_string()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot read answers file "), "{text}");
        assert!(
            text.contains("one answer per line, or - for standard input"),
            "{text}"
        );
        assert!(!text.contains('\n'), "one line: {text}");
    }
}
