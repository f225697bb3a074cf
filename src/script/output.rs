//! Everything scripts and the REPL print goes through one printer thread, so lines from
//! consumers, cluster events and commands never interleave mid-line, and in the REPL they
//! appear above the prompt.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use crate::client::consumer::Report;
use crate::client::LiveEvent;

/// Where finished lines go (stdout, or the line editor's external printer).
pub(crate) type Sink = Box<dyn FnMut(String) + Send>;

enum Msg {
    Line(String),
    Barrier(Sender<()>),
}

/// A cloneable handle for printing lines and live events.
#[derive(Clone)]
pub struct Output {
    lines: Sender<Msg>,
    quiet: Arc<AtomicBool>,
    colour: bool,
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn list(ps: &[i32]) -> String {
    let mut ps = ps.to_vec();
    ps.sort();
    ps.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

impl Output {
    /// Starts the printer thread writing to `sink`. Colour is used when stdout is a terminal.
    pub fn start(mut sink: Sink) -> Self {
        let (tx, rx): (Sender<Msg>, Receiver<Msg>) = channel();
        std::thread::spawn(move || {
            for msg in rx {
                match msg {
                    Msg::Line(line) => sink(line),
                    Msg::Barrier(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Self {
            lines: tx,
            quiet: Arc::new(AtomicBool::new(false)),
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Plain stdout.
    pub fn stdout() -> Self {
        Self::start(Box::new(|line| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }))
    }

    /// Prints text (one or more lines).
    pub fn print(&self, text: &str) {
        for line in text.trim_end_matches('\n').split('\n') {
            let _ = self.lines.send(Msg::Line(line.to_string()));
        }
    }

    /// Waits until everything sent so far has been printed.
    pub fn flush(&self) {
        let (tx, rx) = channel();
        if self.lines.send(Msg::Barrier(tx)).is_ok() {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(2));
        }
    }

    /// Prints an error line.
    pub fn error(&self, text: &str) {
        let _ = self.lines.send(Msg::Line(paint(
            self.colour,
            "31",
            &format!("error: {text}"),
        )));
    }

    /// Silences (true) or restores (false) live consumer and cluster output.
    pub(crate) fn set_quiet(&self, quiet: bool) {
        self.quiet.store(quiet, Ordering::SeqCst);
    }

    /// Formats and prints one live event, unless quiet.
    pub fn live(&self, event: &LiveEvent) {
        if self.quiet.load(Ordering::SeqCst) {
            return;
        }
        for line in format_live(event, self.colour) {
            let _ = self.lines.send(Msg::Line(line));
        }
    }
}

/// The lines printed for a live event; internal topics are summed up in one line.
pub(crate) fn format_live(event: &LiveEvent, colour: bool) -> Vec<String> {
    match event {
        LiveEvent::Consumer { name, report } => {
            let label = paint(colour, "36", &format!("[{name}]"));
            let text = match report {
                Report::Message {
                    partition,
                    offset,
                    value,
                    ..
                } => format!("{value}  (p{partition}@{offset})"),
                Report::Assigned { partitions } => {
                    format!("assigned {}", partitions_phrase(partitions))
                }
                Report::Revoked { partitions } => {
                    format!("revoked {}", partitions_phrase(partitions))
                }
                Report::Error { message } => {
                    paint(colour, "31", &format!("consumer error: {message}"))
                }
                Report::Disconnected { broker } => {
                    let which = broker.map_or("a broker".to_string(), |b| format!("broker {b}"));
                    format!("lost its connection to {which}; it reconnects and follows the new leaders by itself")
                }
                Report::Closed => "left the group".to_string(),
                Report::Exited { reason } => {
                    paint(colour, "31", &format!("consumer process exited: {reason}"))
                }
            };
            vec![format!("{label} {text}")]
        }
        LiveEvent::Cluster(batch) => crate::backend::events::lines(batch)
            .into_iter()
            .map(|text| format!("{} {text}", paint(colour, "33", "[cluster]")))
            .collect(),
    }
}

/// "partition 3", "partitions 0,1,2", "no partitions".
fn partitions_phrase(ps: &[i32]) -> String {
    match ps {
        [] => "no partitions".to_string(),
        [one] => format!("partition {one}"),
        _ => format!("partitions {}", list(ps)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_lines_are_labelled_like_terminal_windows() {
        let msg = LiveEvent::Consumer {
            name: "test-group/c2".into(),
            report: Report::Message {
                partition: 5,
                offset: 12,
                key: None,
                value: "message 3".into(),
            },
        };
        assert_eq!(
            format_live(&msg, false),
            vec!["[test-group/c2] message 3  (p5@12)"]
        );
        let assigned = LiveEvent::Consumer {
            name: "g/c1".into(),
            report: Report::Assigned {
                partitions: vec![2, 0, 1],
            },
        };
        assert_eq!(
            format_live(&assigned, false),
            vec!["[g/c1] assigned partitions 0,1,2"]
        );
        let lost = LiveEvent::Consumer {
            name: "g/c1".into(),
            report: Report::Disconnected { broker: Some(2) },
        };
        assert_eq!(
            format_live(&lost, false),
            vec!["[g/c1] lost its connection to broker 2; it reconnects and follows the new leaders by itself"]
        );
    }
}
