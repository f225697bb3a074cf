//! The bundled failure experiments run for real; each asserts its own ledger relations
//! (acks=all loses nothing acknowledged, unclean election loses exactly what only the old
//! leader had, …) and prints a conclusion computed from its ledger.

use std::time::Duration;

use crate::util::*;

/// Every bundled experiment, by name.
pub(crate) const EXPERIMENTS: [&str; 5] = [
    "acks-vs-leader-loss",
    "consumer-crash-vs-close",
    "min-insync-replicas",
    "paused-vs-killed-broker",
    "unclean-election",
];

async fn experiment(name: &str) -> String {
    experiment_on(name, &[]).await
}

/// Runs experiment `name` with `backend` arguments (e.g. `--cluster processes`); it must pass
/// its own checks and print its ledger and conclusion.
pub(crate) async fn experiment_on(name: &str, backend: &[&str]) -> String {
    let path = format!(
        "{}/scripts/experiments/{name}.rhai",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = tokio::time::timeout(
        Duration::from_secs(85),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
            .args(["run", &path])
            .args(backend)
            .args((!backend.contains(&"--no-web")).then_some("--no-web"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the experiment finishes")
    .expect("binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {backend:?} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ledger of ") || name == "consumer-crash-vs-close",
        "{stdout}"
    );
    assert!(stdout.contains("Conclusion:"), "{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_1_loses_acknowledged_writes_and_acks_all_does_not() {
    bounded(async {
        let out = experiment("acks-vs-leader-loss").await;
        assert!(
            out.contains("ledger of acks-all:") && out.contains("lost 0"),
            "{out}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_insync_replicas_refuses_writes_when_the_isr_is_too_small() {
    bounded(async {
        let out = experiment("min-insync-replicas").await;
        assert!(out.contains("NotEnoughReplicas"), "{out}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_election_loses_acknowledged_messages() {
    bounded(async {
        let out = experiment("unclean-election").await;
        assert!(out.contains("lost 10"), "{out}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_consumer_is_noticed_later_than_a_closed_one() {
    bounded(async {
        experiment("consumer-crash-vs-close").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_and_killed_brokers_both_lose_leadership_without_losing_writes() {
    bounded(async {
        let out = experiment("paused-vs-killed-broker").await;
        assert!(out.contains("lost 0"), "{out}");
    })
    .await;
}

/// Node processes keep their logs on disk, so a killed broker comes back with what it had:
/// each experiment's claims (exactly the leader-only writes lost in an unclean election, none
/// with acks=all, …) hold as on the embedded cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_experiment_holds_on_node_processes() {
    tokio::time::timeout(Duration::from_secs(400), async {
        for name in EXPERIMENTS {
            let out = experiment_on(name, &["--cluster", "processes"]).await;
            if name == "unclean-election" {
                assert!(out.contains("lost 10"), "{out}");
            }
        }
    })
    .await
    .expect("the experiments finish in time");
}
