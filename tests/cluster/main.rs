//! Integration tests: real Kafka clients (rdkafka, kcat, kafka-python) against a real embedded
//! cluster, asserting outcomes — message sets, leaders, ISRs, offsets.

mod api_docs;
mod attach_docker;
mod backends;
mod basics;
mod chrome;
mod configs;
mod docker;
mod docker_runs;
mod exactly_once;
mod experiments;
mod failover;
mod fetch_sessions;
mod groups;
mod learner;
mod lessons;
mod malformed;
mod members;
mod operating;
mod predictions;
mod pty;
mod repl;
mod report;
mod robust;
mod scripts;
mod serve;
mod transactions;
mod txn_log;
mod util;
mod view;
