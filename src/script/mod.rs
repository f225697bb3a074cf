//! The Rhai scripting layer shared by the REPL, `kafka-sandbox run` and lessons: a session
//! (the cluster, real Kafka clients, the printer, the consumers started) and one binding
//! module per concept. Rhai functions are synchronous; they reach the async world through the
//! session's runtime handle, and every wait can be interrupted with Ctrl-C.

mod cluster_api;
mod consumer_api;
mod errors;
pub mod input;
mod ledger_api;
mod lesson_api;
pub mod output;
mod producer_api;
pub mod registry;
mod review_api;
mod topic_api;
mod util_api;
mod view_api;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope, AST};
use tokio::runtime::Handle;

use crate::backend::ClusterControl;
use crate::client::admin::Admin;
use crate::client::consumer::{ConsumerHandle, Report};
use crate::client::{ClientError, LiveEvent};
use crate::view::timeline::Happening;
use output::Output;

pub use errors::caret;
pub(crate) use errors::{
    echo, error_message, error_position, parse_message, parse_position, scrub_internal_names,
};

/// Result type of script functions.
pub(crate) type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

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
    /// The cluster under control (every fault recorded on the view's timeline).
    pub cluster: Arc<dyn ClusterControl>,
    /// What the page, `/metrics` and the report show of this session.
    pub view: Arc<crate::view::View>,
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
    /// Where lessons read the learner's lines from.
    pub input: RefCell<Box<dyn input::LineInput>>,
    /// While `wait_until` runs: when its time is up. Every wait inside it ends by then.
    deadline: Cell<Option<Instant>>,
    /// Set when a wait ended because that time was up.
    deadline_hit: Cell<bool>,
    /// Every consumer started in this session, in start order (ended ones included).
    consumers: RefCell<Vec<Arc<ConsumerHandle>>>,
    lesson: lesson_api::LessonSlot,
    /// The open transaction of each transactional id, by its number.
    open_transactions: RefCell<std::collections::HashMap<String, u64>>,
    sends: RefCell<std::collections::BTreeMap<String, Vec<crate::client::ledger::Sent>>>,
    group_sizes: RefCell<std::collections::BTreeMap<String, usize>>,
    solo_count: Cell<usize>,
}

impl Session {
    /// A session on the cluster `view` watches, printing through `out`.
    pub fn new(
        rt: Handle,
        view: Arc<crate::view::View>,
        out: Output,
        cancel: Arc<AtomicBool>,
        input: Box<dyn input::LineInput>,
    ) -> Result<Rc<Self>, ClientError> {
        let cluster = view.control();
        let admin = Admin::new(&cluster.bootstrap());
        let live = live_sender(&out, &view);
        let mut events = {
            let _guard = rt.enter();
            cluster.events()
        };
        let forward = live.clone();
        rt.spawn(async move {
            while let Some(batch) = crate::backend::events::next_batch(&mut events).await {
                if forward.send(LiveEvent::Cluster(batch)).is_err() {
                    return;
                }
            }
        });
        let exe = std::env::current_exe().map_err(|cause| ClientError::Spawn {
            program: "consumers: the kafka-sandbox binary cannot be found".into(),
            cause,
        })?;
        Ok(Rc::new(Self {
            rt,
            cluster,
            view,
            admin,
            out,
            live,
            cancel,
            printed: Cell::new(false),
            exe,
            input: RefCell::new(input),
            deadline: Cell::new(None),
            deadline_hit: Cell::new(false),
            consumers: RefCell::new(Vec::new()),
            lesson: Default::default(),
            sends: RefCell::new(Default::default()),
            open_transactions: RefCell::new(Default::default()),
            group_sizes: RefCell::new(Default::default()),
            solo_count: Cell::new(0),
        }))
    }

    /// Runs a future to completion unless Ctrl-C interrupts it, or the time of an enclosing
    /// `wait_until` runs out.
    pub fn block_on<T>(&self, f: impl Future<Output = T>) -> RhaiResult<T> {
        let cancel = self.cancel.clone();
        let deadline = self.deadline.get().map(tokio::time::Instant::from_std);
        let outcome = self.rt.block_on(async move {
            let out_of_time = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                v = f => Ok(v),
                _ = async {
                    while !cancel.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                } => Err("interrupted (Ctrl-C)"),
                _ = out_of_time => Err("the wait_until time ran out"),
            }
        });
        if outcome.is_err() && !self.cancelled() {
            self.deadline_hit.set(true);
        }
        outcome.or_else(|why| fail(why))
    }

    /// True if a wait ended because the enclosing `wait_until` ran out of time; clears it.
    pub(crate) fn take_deadline_hit(&self) -> bool {
        self.deadline_hit.replace(false)
    }

    /// Runs `f` with every wait inside it bounded by `deadline` (nested deadlines keep the
    /// earlier one).
    pub fn within<T>(&self, deadline: Instant, f: impl FnOnce() -> T) -> T {
        let outer = self.deadline.get();
        self.deadline
            .set(Some(outer.map_or(deadline, |o| o.min(deadline))));
        let result = f();
        self.deadline.set(outer);
        result
    }

    /// Sleeps for `d` unless Ctrl-C or an enclosing deadline cuts it short.
    pub(crate) fn pause_for(&self, d: Duration) -> RhaiResult<()> {
        // The timer must be made inside the runtime, so build it in an async block.
        self.block_on(async move { tokio::time::sleep(d).await })
    }

    /// True once Ctrl-C was pressed during the current command.
    pub(crate) fn cancelled(&self) -> bool {
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
    pub(crate) fn record_send(&self, topic: &str, sent: crate::client::ledger::Sent) {
        self.sends
            .borrow_mut()
            .entry(topic.to_string())
            .or_default()
            .push(sent);
    }

    /// A producer registered transactional id `id`: the transaction an earlier producer with
    /// that id left open is aborted by the coordinator (and that producer fenced), as
    /// `init_transactions` does in Kafka; its sends count as aborted.
    pub(crate) fn transactional_id_registered(&self, id: &str) {
        let left_open = self.open_transactions.borrow_mut().remove(id);
        if let Some(txn) = left_open {
            self.end_transaction(txn, crate::client::ledger::TxnState::Aborted);
        }
    }

    /// Transaction `txn` of transactional id `id` began.
    pub(crate) fn transaction_began(&self, id: &str, txn: u64) {
        self.open_transactions
            .borrow_mut()
            .insert(id.to_string(), txn);
    }

    /// Transaction `txn` ended: its sends count as committed or aborted in the ledger.
    pub(crate) fn end_transaction(&self, txn: u64, state: crate::client::ledger::TxnState) {
        self.open_transactions
            .borrow_mut()
            .retain(|_, open| *open != txn);
        for sent in self.sends.borrow_mut().values_mut().flatten() {
            if sent.txn == Some(crate::client::ledger::TxnState::Open(txn)) {
                sent.txn = Some(state);
            }
        }
    }

    fn track(&self, consumer: Arc<ConsumerHandle>) {
        self.view.timeline.record(Happening::ConsumerStarted {
            consumer: consumer.name.clone(),
            group: consumer.spec.group.clone(),
            topic: consumer.spec.topic.clone(),
        });
        self.view.clients.consumer_started(&consumer);
        self.consumers.borrow_mut().push(consumer);
    }

    /// A mark for [`Session::close_started_since`] and [`Session::close_unreferenced_since`].
    pub(crate) fn consumer_mark(&self) -> usize {
        self.consumers.borrow().len()
    }

    /// Every consumer of the session still running.
    pub(crate) fn live_consumers(&self) -> Vec<Arc<ConsumerHandle>> {
        self.consumers
            .borrow()
            .iter()
            .filter(|c| !c.ended())
            .cloned()
            .collect()
    }

    /// The last lesson that ended in this session: its questions, answers and verdicts.
    pub(crate) fn finished_lesson(&self) -> Option<crate::lesson::run::LessonRun> {
        self.lesson.finished.borrow_mut().take()
    }

    /// Closes every consumer started since `mark` (a lesson's own consumers, when it ends).
    pub(crate) fn close_started_since(&self, mark: usize) {
        let started: Vec<_> = self.consumers.borrow().iter().skip(mark).cloned().collect();
        close_all(started);
    }

    /// Closes the consumers started since `mark` that no script value refers to any more: those
    /// of a statement that failed before it could hand them over.
    pub(crate) fn close_unreferenced_since(&self, mark: usize) {
        let orphans: Vec<_> = self
            .consumers
            .borrow()
            .iter()
            .skip(mark)
            .filter(|c| Arc::strong_count(c) == 1 && !c.ended())
            .cloned()
            .collect();
        close_all(orphans);
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
    pub(crate) fn close_consumers(&self) {
        close_all(self.consumers.borrow_mut().drain(..).collect());
    }
}

/// A sender for live events that prints them and puts the consumers' rebalances and ends on
/// the view's timeline (cluster changes reach the timeline on their own).
fn live_sender(out: &Output, view: &Arc<crate::view::View>) -> Sender<LiveEvent> {
    let (tx, rx) = std::sync::mpsc::channel::<LiveEvent>();
    let out = out.clone();
    let view = view.clone();
    std::thread::spawn(move || {
        for event in rx {
            if let LiveEvent::Consumer { name, report } = &event {
                if let Some(happening) = consumer_happening(name, report) {
                    view.timeline.record(happening);
                }
            }
            out.live(&event);
        }
    });
    tx
}

/// The timeline entry for a consumer's report; messages are counted, not listed.
fn consumer_happening(name: &str, report: &Report) -> Option<Happening> {
    let consumer = name.to_string();
    Some(match report {
        Report::Assigned { partitions } => Happening::Assigned {
            consumer,
            partitions: partitions.clone(),
        },
        Report::Revoked { partitions } => Happening::Revoked {
            consumer,
            partitions: partitions.clone(),
        },
        Report::Closed => Happening::ConsumerEnded {
            consumer,
            how: "left the group".into(),
        },
        Report::Exited { reason } => Happening::ConsumerEnded {
            consumer,
            how: format!("exited: {reason}"),
        },
        Report::Error { message } => Happening::ConsumerError {
            consumer,
            message: message.clone(),
        },
        Report::Message { .. } | Report::Disconnected { .. } => return None,
    })
}

/// Closes consumers in parallel; ended ones are left alone.
fn close_all(consumers: Vec<Arc<ConsumerHandle>>) {
    let threads: Vec<_> = consumers
        .into_iter()
        .filter(|c| !c.ended())
        .map(|c| std::thread::spawn(move || c.close(Duration::from_secs(5))))
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Builds an engine with the whole script API bound to `session`.
pub fn engine(session: &Rc<Session>) -> Engine {
    let mut engine = crate::lesson::spec::engine();
    let out = session.out.clone();
    engine.on_print(move |s| out.print(&scrub_internal_names(s)));
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
    review_api::register(&mut engine, session);
    ledger_api::register(&mut engine, session);
    view_api::register(&mut engine, session);
    engine
}

/// A fresh scope holding the `cluster` global.
pub fn scope() -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push("cluster", cluster_api::Cluster);
    scope
}

/// Compiles and runs a whole script. Errors carry their position.
pub fn run_script(
    engine: &Engine,
    scope: &mut Scope,
    source: &str,
) -> Result<(), (String, Option<(usize, usize)>)> {
    let ast: AST = engine
        .compile(source)
        .map_err(|e| (parse_message(&e), parse_position(&e)))?;
    engine
        .run_ast_with_scope(scope, &ast)
        .map_err(|e| (error_message(&e), error_position(&e)))
}
