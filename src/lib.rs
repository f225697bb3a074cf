//! # kafka-sandbox
//!
//! Learn how Kafka behaves under failure: a cluster that speaks the real Kafka wire protocol,
//! runs in-process in milliseconds, and can be broken on purpose.
//!
//! # Layout
//!
//! - [`config`] — cluster settings and failover timings (sandbox defaults and Kafka's own).
//! - [`protocol`] — the wire: framing, request decoding, the table of supported API versions
//!   ([`protocol::versions`]), record-batch headers, the per-connection server loop and the
//!   client nodes use to call each other.
//! - [`cluster`] — the nodes and their logic:
//!   - [`cluster::controller`] — broker liveness, leader election, ISR changes, topic admin,
//!     with pure transitions in [`cluster::controller::state`];
//!   - [`cluster::broker`] — the broker node: request handlers per API family in
//!     `cluster::broker::api`, follower replication, ISR upkeep, metadata following;
//!   - [`cluster::group`] — consumer groups: the classic rebalance protocol as pure transitions
//!     that return their replies ([`cluster::group::types`], [`cluster::group::classic`],
//!     [`cluster::group::join`], [`cluster::group::sync`]), the `__consumer_offsets` records
//!     and replay ([`cluster::group::record`]), one write lane per offsets partition
//!     ([`cluster::group::writes`]), and the per-broker [`cluster::group::coordinator`];
//!   - [`cluster::log`] — a partition replica's log, epoch cache and producer state;
//!   - [`cluster::assignment`] — Kafka-style replica placement;
//!   - [`cluster::image`] / [`cluster::metadata_log`] — the metadata the controller publishes;
//!   - [`cluster::node`] — kill, pause and isolation switches of one node.
//! - [`backend`] — cluster control surfaces: [`backend::embedded`] runs everything in-process;
//!   [`backend::remote`] watches a cluster over the wire ([`backend::observer`]) and controls it
//!   through child processes ([`backend::processes`]), containers ([`backend::docker`]) or not
//!   at all ([`backend::attach`]).
//! - [`child`] — child processes in their own process group that die with the sandbox.
//! - [`node_process`] — `kafka-sandbox node`: one node in its own process or container.
//! - [`client`] — real Kafka clients (librdkafka): producer, consumer processes, admin, the
//!   delivery ledger.
//! - [`script`] — the Rhai engine and one binding module per concept; [`repl`] the line
//!   editor around it; [`runner`] the REPL, `run FILE` and `lesson NAME` entry points.
//! - [`lesson`] — the bundled lessons and the judging of review answers.
//! - [`control`] — the cluster commands (stop, kill, pause, create, …), defined once for
//!   `serve`'s control lines and the script bindings.
//! - [`serve`] — `kafka-sandbox serve`: a cluster in the foreground, driven from stdin.
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

/// See [`alloc_guard`]: hostile array lengths must not abort every node in the process.
#[global_allocator]
static GLOBAL: alloc_guard::ReservingAllocator = alloc_guard::ReservingAllocator;
