//! Consumers as separate processes, so that "kill" is a real crash.
//!
//! Each consumer the REPL starts is a child `kafka-sandbox consume …` ([`child`]) running an
//! ordinary librdkafka consumer. It reports what happens as JSON lines on stdout (assigned,
//! revoked, message, lost connection, error, closed) and obeys one command on stdin: `close`
//! leaves the group cleanly, like Ctrl-C on kcat. `kill()` sends SIGKILL: no LeaveGroup, no
//! last heartbeat, so the coordinator only finds out when the session times out — exactly the
//! tutorial's crash.
//!
//! The parent side ([`ConsumerHandle`]) knows how each consumer ended: closed, killed, or
//! exited on its own — the last is reported once, as it happens, with the exit status and
//! the last line the process wrote on stderr.

pub mod child;
mod spec;

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use child::run_child;
pub use spec::{CommitPolicy, ConsumerSpec, StartFrom};

use super::{ClientError, LiveEvent};

/// One line a consumer process reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Report {
    /// Partitions assigned in a rebalance.
    Assigned {
        /// Partitions.
        partitions: Vec<i32>,
    },
    /// Partitions revoked in a rebalance.
    Revoked {
        /// Partitions.
        partitions: Vec<i32>,
    },
    /// A message.
    Message {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// Key, if any.
        key: Option<String>,
        /// Value.
        value: String,
    },
    /// A consumer error.
    Error {
        /// What librdkafka said.
        message: String,
    },
    /// Lost the connection to a broker; librdkafka reconnects (and finds new leaders) by
    /// itself, so this is news, not a failure. Reported once per outage.
    Disconnected {
        /// The broker, when librdkafka named it.
        broker: Option<i32>,
    },
    /// Closed cleanly: committed and left the group.
    Closed,
    /// The process ended without being asked to (written by the parent, never the child).
    Exited {
        /// Exit status or signal, and the last thing it printed on stderr.
        reason: String,
    },
}

/// A message as a consumer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<String>,
    /// Value.
    pub value: String,
}

/// How a consumer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// Closed on request (it committed and left its group, or was killed after not doing so
    /// in time).
    Closed,
    /// Killed on request (SIGKILL).
    Killed,
    /// Exited without being asked to.
    Died(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Closed => f.write_str("closed"),
            End::Killed => f.write_str("killed"),
            End::Died(reason) => write!(f, "its process exited: {reason}"),
        }
    }
}

/// What `close` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseOutcome {
    /// Committed and left its group, then exited.
    Left,
    /// It did not exit in time and was killed instead.
    Forced,
    /// It had already ended; nothing was closed.
    AlreadyEnded(End),
}

#[derive(Debug, Default)]
struct Shared {
    received: Vec<Received>,
    assignment: BTreeSet<i32>,
    rebalances: usize,
    /// The child reported a clean close.
    left_group: bool,
    /// Its output has been read to the end.
    output_done: bool,
    end: Option<End>,
}

/// The last lines a child wrote on stderr.
type StderrTail = Arc<Mutex<VecDeque<String>>>;

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    format!("signal {signal} ({name})")
}

/// "killed by signal 2 (SIGINT)", "exited with status 1: <last stderr line>".
fn describe_exit(status: Option<ExitStatus>, stderr: &StderrTail) -> String {
    let how = match status {
        Some(s) => match (s.code(), s.signal()) {
            (_, Some(signal)) => format!("killed by {}", signal_name(signal)),
            (Some(0), _) => "exited".to_string(),
            (Some(code), _) => format!("exited with status {code}"),
            (None, None) => "ended".to_string(),
        },
        None => "stopped reporting".to_string(),
    };
    let tail = stderr.lock().unwrap_or_else(|e| e.into_inner());
    match tail.back() {
        Some(last) => format!("{how}: {last}"),
        None => how,
    }
}

/// The parent side of a consumer process.
pub(crate) struct ConsumerHandle {
    /// Label used in live output, e.g. `test-group/c2`.
    pub name: String,
    /// What it was started with.
    pub spec: ConsumerSpec,
    child: Arc<Mutex<Option<Child>>>,
    stdin: Mutex<Option<ChildStdin>>,
    shared: Arc<Mutex<Shared>>,
    muted: Arc<AtomicBool>,
    /// Set before a requested close or kill, so its end is not reported as a surprise.
    stopping: Arc<AtomicBool>,
}

impl ConsumerHandle {
    /// Starts a consumer process running `exe consume`, forwarding its reports as live events.
    /// Call it from a thread that lives as long as the session (see [`crate::child`]).
    pub fn spawn(
        exe: &Path,
        name: &str,
        spec: ConsumerSpec,
        live: Sender<LiveEvent>,
    ) -> Result<Self, ClientError> {
        let spec_json = serde_json::to_string(&spec).expect("specs serialize");
        let mut command = Command::new(exe);
        command
            .args(["consume", "--spec", &spec_json])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        crate::child::own_std(&mut command);
        let mut child = command.spawn().map_err(|cause| ClientError::Spawn {
            program: format!("a consumer process ({})", exe.display()),
            cause,
        })?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let stdin = child.stdin.take();
        let tail: StderrTail = Arc::default();
        let keep = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut tail = keep.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == 5 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let handle = Self {
            name: name.to_string(),
            spec,
            child: Arc::new(Mutex::new(Some(child))),
            stdin: Mutex::new(stdin),
            shared: Arc::default(),
            muted: Arc::default(),
            stopping: Arc::default(),
        };
        let reader = Reader {
            label: name.to_string(),
            shared: handle.shared.clone(),
            muted: handle.muted.clone(),
            stopping: handle.stopping.clone(),
            child: handle.child.clone(),
            stderr: tail,
            live,
        };
        std::thread::spawn(move || reader.run(stdout));
        Ok(handle)
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared().received.clone()
    }

    /// How many messages arrived, and the values of the last `n`, oldest first.
    pub(crate) fn tally(&self, n: usize) -> (usize, Vec<String>) {
        let shared = self.shared();
        let count = shared.received.len();
        let last = shared.received[count.saturating_sub(n)..]
            .iter()
            .map(|r| r.value.clone())
            .collect();
        (count, last)
    }

    /// Partitions currently owned.
    pub fn assignment(&self) -> BTreeSet<i32> {
        self.shared().assignment.clone()
    }

    /// Number of assign/revoke callbacks seen.
    pub fn rebalances(&self) -> usize {
        self.shared().rebalances
    }

    /// How it ended, or `None` while it runs.
    pub fn end(&self) -> Option<End> {
        self.shared().end.clone()
    }

    /// True once the process has ended, for whatever reason.
    pub fn ended(&self) -> bool {
        self.end().is_some()
    }

    /// Stops (true) or resumes (false) printing this consumer's live output.
    pub(crate) fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::SeqCst);
    }

    /// Clean close: the consumer commits, leaves its group and exits. Falls back to a kill
    /// if it has not exited within `timeout`.
    pub fn close(&self, timeout: Duration) -> CloseOutcome {
        if let Some(end) = self.end() {
            return CloseOutcome::AlreadyEnded(end);
        }
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(mut stdin) = self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = stdin.write_all(b"close\n");
        }
        let taken = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut outcome = CloseOutcome::Left;
        if let Some(mut child) = taken {
            let deadline = Instant::now() + timeout;
            let exited = loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break true;
                }
                if Instant::now() >= deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
                outcome = CloseOutcome::Forced;
            }
        }
        // The "closed" report may still be in the pipe when the process has exited.
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.shared().output_done && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut shared = self.shared();
        if !shared.left_group {
            outcome = CloseOutcome::Forced;
        }
        shared.end.get_or_insert(End::Closed);
        shared.assignment.clear();
        outcome
    }

    /// Crash: SIGKILL, no goodbye to the group. Returns how it had ended if it already had.
    pub fn kill(&self) -> Option<End> {
        if let Some(end) = self.end() {
            return Some(end);
        }
        self.stopping.store(true, Ordering::SeqCst);
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut shared = self.shared();
        shared.end.get_or_insert(End::Killed);
        shared.assignment.clear();
        None
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        self.close(Duration::from_secs(5));
    }
}

/// Reads a consumer's reports, keeps its state, forwards live events, and notices its end.
struct Reader {
    label: String,
    shared: Arc<Mutex<Shared>>,
    muted: Arc<AtomicBool>,
    stopping: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
    stderr: StderrTail,
    live: Sender<LiveEvent>,
}

impl Reader {
    fn run(self, stdout: std::process::ChildStdout) {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(report) = serde_json::from_str::<Report>(&line) else {
                continue;
            };
            self.apply(&report);
            if !self.muted.load(Ordering::SeqCst) {
                let _ = self.live.send(LiveEvent::Consumer {
                    name: self.label.clone(),
                    report,
                });
            }
        }
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .output_done = true;
        self.ended();
    }

    fn apply(&self, report: &Report) {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match report {
            Report::Assigned { partitions } => {
                s.assignment.extend(partitions.iter().copied());
                s.rebalances += 1;
            }
            Report::Revoked { partitions } => {
                for p in partitions {
                    s.assignment.remove(p);
                }
                s.rebalances += 1;
            }
            Report::Message {
                partition,
                offset,
                key,
                value,
            } => s.received.push(Received {
                partition: *partition,
                offset: *offset,
                key: key.clone(),
                value: value.clone(),
            }),
            Report::Closed => s.left_group = true,
            Report::Error { .. } | Report::Disconnected { .. } | Report::Exited { .. } => {}
        }
    }

    /// The child's output ended: it exited. Unless a close or kill was asked for, that is a
    /// surprise, reported once, whether or not the consumer is muted.
    fn ended(self) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            match child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => {
                    child.take();
                    break Some(status);
                }
                // Taken by a close or kill that started meanwhile.
                None => return,
                _ if Instant::now() >= deadline => break None,
                _ => {}
            }
            drop(child);
            std::thread::sleep(Duration::from_millis(10));
        };
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        // Give the stderr reader a moment to take the last line.
        std::thread::sleep(Duration::from_millis(20));
        let reason = describe_exit(status, &self.stderr);
        {
            let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            s.end = Some(End::Died(reason.clone()));
            s.assignment.clear();
        }
        let _ = self.live.send(LiveEvent::Consumer {
            name: self.label,
            report: Report::Exited { reason },
        });
    }
}
