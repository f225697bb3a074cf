//! `kafka-sandbox serve`: a cluster in the foreground for outside clients (kcat, librdkafka,
//! kafka-python, the Kafka CLI), steered by the control lines of [`crate::control`] on stdin
//! while cluster events print as they happen.
//!
//! It ends on `quit`, Ctrl-C, SIGTERM or SIGHUP, and at the end of its input — unless
//! `--stdin-ignore` says the input is not meant for it (a service started with `< /dev/null`),
//! in which case only a signal ends it.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::signal::unix::{signal, SignalKind};

use crate::backend::{events, ClusterControl};
use crate::client::admin::Admin;
use crate::control::{self, Control};

/// How `serve` treats its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Keep running when stdin ends.
    pub stdin_ignore: bool,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Serves control lines from `input` against `cluster` until `quit`, the end of input (see
/// [`ServeOptions`]) or a signal. The caller shuts the cluster down afterwards.
pub async fn run<R: AsyncBufRead + Unpin>(
    cluster: Arc<dyn ClusterControl>,
    input: R,
    options: ServeOptions,
) {
    let admin = Admin::new(&cluster.bootstrap());
    say("type 'help' for commands, 'quit' to stop");
    let mut events = Some(cluster.events());
    let mut lines = Some(input.lines());
    let (Ok(mut term), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        say("error: cannot watch for signals");
        return;
    };
    loop {
        let next_batch = async {
            match events.as_mut() {
                Some(e) => events::next_batch(e).await,
                None => std::future::pending().await,
            }
        };
        let next_line = async {
            match lines.as_mut() {
                Some(l) => l.next_line().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            batch = next_batch => match batch {
                Some(batch) => {
                    for line in events::lines(&batch) {
                        say(&format!("[cluster] {line}"));
                    }
                }
                None => events = None,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hangup.recv() => break,
            line = next_line => {
                let line = match line {
                    Ok(Some(line)) => line,
                    Ok(None) if options.stdin_ignore => {
                        say("stdin closed; serving until Ctrl-C or SIGTERM (--stdin-ignore)");
                        lines = None;
                        continue;
                    }
                    Ok(None) => {
                        if std::io::stdin().is_terminal() {
                            say("end of input: stopping");
                        } else {
                            say("stdin closed: stopping; use --stdin-ignore to keep running in the background");
                        }
                        break;
                    }
                    Err(e) => {
                        say(&format!("error: cannot read commands: {e}"));
                        break;
                    }
                };
                match control::parse(&line) {
                    Ok(None) => {}
                    Ok(Some(Control::Quit)) => break,
                    Ok(Some(command)) => match command.execute(cluster.as_ref(), &admin).await {
                        Ok(text) => say(&text),
                        Err(e) => say(&format!("error: {e}")),
                    },
                    Err(e) => say(&format!("error: {e}")),
                }
            }
        }
    }
}
