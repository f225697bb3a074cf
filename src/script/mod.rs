//! The Rhai scripting layer shared by the REPL, `kafka-sandbox run` and lessons: a session
//! (the cluster, real Kafka clients, the printer, the consumers started) and one binding
//! module per concept. Rhai functions are synchronous; they reach the async world through the
//! session's runtime handle, and every wait can be interrupted with Ctrl-C.

mod cluster_api;
mod consumer_api;
mod ledger_api;
mod lesson_api;
pub mod output;
mod producer_api;
pub mod registry;
mod topic_api;
mod util_api;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope, AST};
use tokio::runtime::Handle;

use crate::backend::ClusterControl;
use crate::client::admin::Admin;
use crate::client::consumer::ConsumerHandle;
use crate::client::{ClientError, LiveEvent};
use output::Output;

/// Result type of script functions.
pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// A script-level error with a message (shown without Rhai's wrapping).
pub fn fail<T>(message: impl Into<String>) -> RhaiResult<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        Position::NONE,
    )))
}

/// What a script session holds.
pub struct Session {
    /// Runtime for async calls.
    pub rt: Handle,
    /// The cluster under control.
    pub cluster: Arc<dyn ClusterControl>,
    /// Admin client.
    pub admin: Admin,
    /// Printer.
    pub out: Output,
    /// Live events sink (consumers, cluster).
    pub live: Sender<LiveEvent>,
    /// Set by Ctrl-C; checked by every wait.
    pub cancel: Arc<AtomicBool>,
    /// Set by functions that print their own result, so the REPL does not echo it again.
    pub printed: Cell<bool>,
    /// The binary to run consumer processes with.
    pub exe: PathBuf,
    consumers: RefCell<Vec<Arc<ConsumerHandle>>>,
    lesson: lesson_api::LessonSlot,
    sends: RefCell<std::collections::BTreeMap<String, Vec<crate::client::ledger::Sent>>>,
    group_sizes: RefCell<std::collections::BTreeMap<String, usize>>,
    solo_count: Cell<usize>,
}

impl Session {
    /// A session on `cluster`, printing through `out`.
    pub fn new(
        rt: Handle,
        cluster: Arc<dyn ClusterControl>,
        out: Output,
        cancel: Arc<AtomicBool>,
    ) -> Result<Rc<Self>, ClientError> {
        let admin = Admin::new(&cluster.bootstrap())?;
        let live = out.live_sender();
        let mut events = {
            let _guard = rt.enter();
            cluster.events()
        };
        let forward = live.clone();
        rt.spawn(async move {
            while let Some(e) = events.recv().await {
                if forward.send(LiveEvent::Cluster(e)).is_err() {
                    return;
                }
            }
        });
        let exe = std::env::current_exe().map_err(|e| {
            ClientError::Spawn(format!("cannot find the kafka-sandbox binary: {e}"))
        })?;
        Ok(Rc::new(Self {
            rt,
            cluster,
            admin,
            out,
            live,
            cancel,
            printed: Cell::new(false),
            exe,
            consumers: RefCell::new(Vec::new()),
            lesson: RefCell::new(None),
            sends: RefCell::new(Default::default()),
            group_sizes: RefCell::new(Default::default()),
            solo_count: Cell::new(0),
        }))
    }

    /// Runs a future to completion unless Ctrl-C interrupts it.
    pub fn block_on<T>(&self, f: impl Future<Output = T>) -> RhaiResult<T> {
        let cancel = self.cancel.clone();
        let outcome = self.rt.block_on(async move {
            tokio::select! {
                v = f => Some(v),
                _ = async {
                    while !cancel.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                } => None,
            }
        });
        match outcome {
            Some(v) => Ok(v),
            None => fail("interrupted (Ctrl-C)"),
        }
    }

    /// True once Ctrl-C was pressed during the current command.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Group names used in this session (for completion).
    pub fn groups(&self) -> BTreeSet<String> {
        self.group_sizes.borrow().keys().cloned().collect()
    }

    fn next_name(&self, group: Option<&str>) -> String {
        match group {
            Some(g) => {
                let mut sizes = self.group_sizes.borrow_mut();
                let n = sizes.entry(g.to_string()).or_insert(0);
                *n += 1;
                format!("{g}/c{n}")
            }
            None => {
                self.solo_count.set(self.solo_count.get() + 1);
                format!("c{}", self.solo_count.get())
            }
        }
    }

    /// Records a send for the delivery ledger.
    pub fn record_send(&self, topic: &str, sent: crate::client::ledger::Sent) {
        self.sends
            .borrow_mut()
            .entry(topic.to_string())
            .or_default()
            .push(sent);
    }

    fn track(&self, consumer: Arc<ConsumerHandle>) {
        self.consumers.borrow_mut().push(consumer);
    }

    /// Values received by this session's consumers of `topic`, as (consumer group or label, value).
    pub fn consumed(&self, topic: &str) -> Vec<(String, String)> {
        self.consumers
            .borrow()
            .iter()
            .filter(|c| c.spec.topic == topic)
            .flat_map(|c| {
                let who = c.spec.group.clone().unwrap_or_else(|| c.name.clone());
                c.received()
                    .into_iter()
                    .map(move |r| (who.clone(), r.value))
            })
            .collect()
    }

    /// Closes every consumer (they leave their groups), in parallel.
    pub fn close_consumers(&self) {
        let consumers: Vec<Arc<ConsumerHandle>> = self.consumers.borrow_mut().drain(..).collect();
        let threads: Vec<_> = consumers
            .into_iter()
            .map(|c| std::thread::spawn(move || c.close(Duration::from_secs(5))))
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Builds an engine with the whole script API bound to `session`.
pub fn engine(session: &Rc<Session>) -> Engine {
    let mut engine = Engine::new();
    let out = session.out.clone();
    engine.on_print(move |s| out.print(s));
    let out = session.out.clone();
    engine.on_debug(move |s, _, pos| out.print(&format!("[debug {pos}] {s}")));
    let cancel = session.cancel.clone();
    engine.on_progress(move |_| {
        if cancel.load(Ordering::SeqCst) {
            Some(Dynamic::from("interrupted (Ctrl-C)"))
        } else {
            None
        }
    });
    cluster_api::register(&mut engine, session);
    topic_api::register(&mut engine, session);
    producer_api::register(&mut engine, session);
    consumer_api::register(&mut engine, session);
    util_api::register(&mut engine, session);
    lesson_api::register(&mut engine, session);
    ledger_api::register(&mut engine, session);
    engine
}

/// A fresh scope holding the `cluster` global.
pub fn scope() -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push("cluster", cluster_api::Cluster);
    scope
}

/// The message of an error, without Rhai's "Runtime error:" wrapping and position.
pub fn error_message(err: &EvalAltResult) -> String {
    match err {
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        EvalAltResult::ErrorTerminated(value, _) => value.to_string(),
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) => {
            let inner = error_message(inner);
            if name.is_empty() || name.starts_with('|') {
                inner
            } else {
                format!("in {name}: {inner}")
            }
        }
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            let name = sig
                .split(' ')
                .next()
                .unwrap_or(sig)
                .split('(')
                .next()
                .unwrap_or(sig);
            match registry::find(name) {
                Some(f) => format!(
                    "{name} was called with the wrong arguments; use {}",
                    f.signature
                ),
                None => format!("there is no function {sig}; type help() for the list"),
            }
        }
        EvalAltResult::ErrorVariableNotFound(name, _) => format!("'{name}' is not defined"),
        other => {
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// (line, column) of an error, if Rhai knows it.
pub fn error_position(err: &EvalAltResult) -> Option<(usize, usize)> {
    let mut err = err;
    // The innermost position is the line in the user's script that failed.
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, pos) = err {
        if inner.position().is_none() {
            return pos.line().map(|l| (l, pos.position().unwrap_or(1)));
        }
        err = inner;
    }
    let pos = err.position();
    pos.line().map(|l| (l, pos.position().unwrap_or(1)))
}

/// Compiles and runs a whole script. Errors carry their position.
pub fn run_script(
    engine: &Engine,
    scope: &mut Scope,
    source: &str,
) -> Result<(), (String, Option<(usize, usize)>)> {
    let ast: AST = engine.compile(source).map_err(|e| {
        (
            e.to_string()
                .split(" (line")
                .next()
                .unwrap_or_default()
                .to_string(),
            e.position()
                .line()
                .map(|l| (l, e.position().position().unwrap_or(1))),
        )
    })?;
    engine
        .run_ast_with_scope(scope, &ast)
        .map_err(|e| (error_message(&e), error_position(&e)))
}
