//! # kafka-sandbox
//!
//! Learn how Kafka behaves under failure: a cluster that speaks the real Kafka wire protocol,
//! runs in-process in milliseconds, and can be broken on purpose.
//!
//! # Layout
//!
//! - [`config`] — cluster settings and failover timings (sandbox defaults and Kafka's own),
//!   checked once by [`config::ClusterConfig::validate`].
//! - [`protocol`] — the wire: framing ([`protocol::frame`]), request decoding and response
//!   encoding ([`protocol::codec`]), the table of supported API versions
//!   ([`protocol::versions`]), record-batch headers ([`protocol::records`]), the
//!   per-connection server loop ([`protocol::server`]) and the client nodes use to call each
//!   other ([`protocol::client`]).
//! - [`cluster`] — the nodes and their logic:
//!   - [`cluster::controller`] — broker liveness, leader election, ISR changes, topic admin,
//!     with pure transitions in [`cluster::controller::state`] (membership, topics,
//!     partitions);
//!   - [`cluster::broker`] — the broker node: request handlers per API family in
//!     [`cluster::broker::api`]; [`cluster::broker::partition::Partition`], the one owner of
//!     the replication rules (high watermark, ISR changes, acks=all completion); follower
//!     replication ([`cluster::broker::fetcher`]), incremental fetch sessions
//!     ([`cluster::broker::fetch_session`]), ISR upkeep ([`cluster::broker::isr`]),
//!     metadata following ([`cluster::broker::metadata_sync`]), registration and heartbeats
//!     ([`cluster::broker::lifecycle`]) over [`cluster::broker::link::PeerLink`]s;
//!   - [`cluster::group`] — consumer groups: the classic rebalance protocol as pure transitions
//!     that return their replies ([`cluster::group::types`], [`cluster::group::classic`],
//!     [`cluster::group::join`], [`cluster::group::sync`]), the `__consumer_offsets` records
//!     and replay ([`cluster::group::record`]), one write lane per offsets partition
//!     ([`cluster::group::writes`]), and the per-broker [`cluster::group::coordinator`];
//!   - [`cluster::txn`] — transactions: the states and pure transitions
//!     ([`cluster::txn::state`]), the `__transaction_state` records and replay
//!     ([`cluster::txn::record`]), marker sending to partition leaders
//!     ([`cluster::txn::markers`]), and the per-broker [`cluster::txn::coordinator`];
//!   - [`cluster::log`] — a partition replica's log, epoch cache and producer state;
//!   - [`cluster::assignment`] — Kafka-style replica placement;
//!   - [`cluster::image`] / [`cluster::metadata_log`] — the metadata the controller publishes;
//!   - [`cluster::node`] — kill, pause and isolation switches of one node.
//! - [`backend`] — cluster control surfaces behind [`backend::ClusterControl`]:
//!   [`backend::embedded`] runs everything in-process; [`backend::remote`] watches a cluster
//!   over the wire ([`backend::observer`]) and controls it through child processes
//!   ([`backend::processes`]), containers ([`backend::docker`]) or someone else's containers,
//!   put back as found at exit ([`backend::attach`]; without Docker, not at all). Every driver keeps its brokers in a [`backend::book::BrokerBook`];
//!   [`backend::drive`] holds what they do alike. [`backend::snapshot`] is the one view of a
//!   cluster every output reads, [`backend::events`] the changes between two metadata images.
//! - [`child`] — child processes in their own process group that die with the sandbox.
//! - [`node_process`] — `kafka-sandbox node`: one node in its own process or container.
//! - [`client`] — the session's clients: the librdkafka producer ([`client::producer`]),
//!   consumers as child processes ([`client::consumer`]), admin calls over the protocol
//!   ([`client::admin`], through the rotating broker pool of [`client::wire`]), and the
//!   delivery ledger ([`client::ledger`]).
//! - [`control`] — the cluster commands (stop, kill, pause, create, …), defined once for
//!   `serve`'s control lines and the script bindings.
//! - [`script`] — the Rhai engine and one binding module per concept; [`repl`] the line
//!   editor around it; [`runner`] the REPL, `run FILE`, `lesson NAME` and `serve` entry points.
//! - [`lesson`] — the bundled lessons, the judge of free-text answers ([`lesson::judge`]),
//!   predictions ([`lesson::predict`]), question declarations ([`lesson::spec`]), a lesson run
//!   and its summary ([`lesson::run`]), the cluster a lesson declares it needs ([`lesson::needs`]),
//!   and the graded corpus ([`lesson::corpus`]).
//! - [`view`] — what a session shows: its timeline, clients, groups and Kafka's operator
//!   metrics ([`view::metrics`]), served live by [`view::web`] (page, JSON API, `/metrics`) and
//!   written as a timeline [`view::report`].
//! - [`serve`] — `kafka-sandbox serve`: a cluster in the foreground, driven from stdin.
//! - [`signals`] — Ctrl-C, SIGTERM and SIGHUP turned into an orderly end of the session.
//! - [`alloc_guard`] — the global allocator that keeps hostile length fields from aborting
//!   the process.

pub mod alloc_guard;
pub mod backend;
pub mod child;
pub mod client;
pub mod cluster;
pub mod config;
pub mod control;
pub mod lesson;
pub mod node_process;
pub mod protocol;
pub mod repl;
pub mod runner;
pub mod script;
pub mod serve;
pub mod signals;
pub mod view;

/// See [`alloc_guard`]: hostile array lengths must not abort every node in the process.
#[global_allocator]
static GLOBAL: alloc_guard::ReservingAllocator = alloc_guard::ReservingAllocator;
