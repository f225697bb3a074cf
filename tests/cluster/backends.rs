//! The same lessons on other backends: the nodes as child processes (killed for real with
//! SIGKILL), an existing cluster attached to by its bootstrap servers, and the sandbox's own
//! node image in Docker containers (stopped and killed through the Docker API).

use std::collections::BTreeSet;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::util::*;

const SANDBOX: &str = env!("CARGO_BIN_EXE_kafka-sandbox");

async fn sandbox(args: &[&str], within: Duration) -> Output {
    let child = Command::new(SANDBOX).args(args).kill_on_drop(true).output();
    tokio::time::timeout(within, child)
        .await
        .expect("finishes in time")
        .expect("runs")
}

fn assert_lesson_passed(name: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lesson {name} failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("── summary of {name} ──")),
        "{stdout}"
    );
    assert!(stdout.contains("✓ "), "claims are checked: {stdout}");
}

async fn lesson_on_processes(name: &str) {
    let out = sandbox(
        &["lesson", name, "--auto", "--cluster", "processes"],
        Duration::from_secs(100),
    )
    .await;
    assert_lesson_passed(name, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_and_load_sharing_pass_on_the_processes_backend() {
    bounded(async {
        lesson_on_processes("pub-sub").await;
        lesson_on_processes("load-sharing").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_failover_passes_on_the_processes_backend() {
    bounded(lesson_on_processes("consumer-failover")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_failover_passes_on_the_processes_backend() {
    bounded(lesson_on_processes("broker-failover")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_durability_boundary_passes_on_the_processes_backend() {
    bounded(lesson_on_processes("durability-boundary")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclean_election_passes_on_the_processes_backend() {
    bounded(lesson_on_processes("unclean-election")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotence_passes_on_the_processes_backend() {
    bounded(lesson_on_processes("idempotence")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_passes_on_the_processes_backend() {
    bounded(lesson_on_processes("exactly-once")).await;
}

/// The controller lesson pauses the controller process (SIGSTOP) and the racks lesson starts
/// six broker processes in racks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_and_racks_lessons_pass_on_the_processes_backend() {
    bounded(async {
        lesson_on_processes("controller").await;
        lesson_on_processes("racks").await;
    })
    .await;
}

/// A script that restarts a broker and creates a replicated topic at once: the broker runs but
/// is still registering with the controller, and the creation waits for it instead of being
/// refused with "replication factor 3 needs 3 live brokers; 2 are up".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_right_after_a_restart_waits_for_the_registering_broker() {
    bounded(async {
        let script = script_file(
            "create-after-restart.rhai",
            "cluster.kill(2);\ncluster.start(2);\ncreate_topic(\"after\", 2, 3);\nprint(\"CREATED\");\n",
        );
        let out = sandbox(
            &["run", script.to_str().unwrap(), "--cluster", "processes"],
            Duration::from_secs(60),
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("CREATED"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;
}

/// Pids of this process's children whose command line is `… node ROLE …`, with their args.
fn node_children(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised command name.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        if cmdline.contains(" node ") {
            out.push((pid, cmdline));
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only count processes that still run.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_broker_process_is_really_gone_and_no_node_outlives_the_sandbox() {
    bounded(async {
        let dir = std::env::temp_dir().join(unique("kill-script"));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("kill.rhai");
        std::fs::write(
            &script,
            "print(\"ready\");\nsleep(1500);\ncluster.kill(2);\nprint(\"killed\");\nsleep(2500);\ncluster.status();\n",
        )
        .unwrap();
        let mut child = Command::new(SANDBOX)
            .args(["run", "--cluster", "processes"])
            .arg(&script)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("runs");
        let sandbox_pid = child.id().expect("pid");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        read_until(&mut lines, "ready", &mut seen).await;
        let before = node_children(sandbox_pid);
        let broker2: Vec<u32> = before
            .iter()
            .filter(|(_, cmd)| cmd.contains("node broker --id 2 "))
            .map(|(pid, _)| *pid)
            .collect();
        assert_eq!(before.len(), 4, "a controller and three brokers: {before:?}");
        assert_eq!(broker2.len(), 1, "{before:?}");
        read_until(&mut lines, "killed", &mut seen).await;
        assert!(!alive(broker2[0]), "broker 2's process {} still runs", broker2[0]);
        let after: BTreeSet<u32> = node_children(sandbox_pid).iter().map(|(p, _)| *p).collect();
        assert_eq!(after.len(), 3, "the other nodes still run: {after:?}");
        let status = read_until(&mut lines, " down ", &mut seen).await;
        assert!(status.trim_start().starts_with("2 "), "broker 2's row: {status}");
        let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits")
            .expect("status");
        assert!(exit.success(), "{seen:?}");
        wait_for(
            "every node process to be gone within 300 ms of the sandbox's exit",
            Duration::from_millis(300),
            || {
                before
                    .iter()
                    .filter(|(pid, _)| alive(*pid))
                    .collect::<Vec<_>>()
            },
            |outlived| outlived.is_empty(),
        )
        .await;
        let _ = std::fs::remove_dir_all(dir);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_runs_a_lesson_on_a_cluster_started_separately_and_refuses_control() {
    bounded(async {
        let mut serve = Command::new(SANDBOX)
            .args(["serve", "--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("serve runs");
        let _stdin = serve.stdin.take();
        let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let line = read_until(&mut lines, "bootstrap servers:", &mut seen).await;
        let bootstrap = line
            .split_once(':')
            .map(|(_, rest)| rest.split_whitespace().next().unwrap_or("").to_string())
            .expect("bootstrap line");
        let attach = format!("attach={bootstrap}");
        let out = sandbox(
            &["lesson", "pub-sub", "--auto", "--cluster", &attach],
            Duration::from_secs(100),
        )
        .await;
        assert_lesson_passed("pub-sub", &out);
        // A lesson that stops brokers is refused at its start, with the reason, which attach
        // also printed as soon as it found it could not control the brokers.
        let out = sandbox(
            &["lesson", "broker-failover", "--auto", "--cluster", &attach],
            Duration::from_secs(60),
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(
            !out.status.success()
                && stderr.contains("lesson broker-failover stops, pauses or isolates brokers")
                && stderr.contains("attach: watching only")
                && !stdout.contains("── Who leads what ──"),
            "{stdout}\n{stderr}"
        );

        let dir = std::env::temp_dir().join(unique("attach-script"));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("control.rhai");
        std::fs::write(
            &script,
            "assert(cluster.brokers().len() == 3, \"three brokers seen\");\ntry { cluster.kill(1); print(\"killed\"); } catch (e) { print(`refused: ${e}`); }\n",
        )
        .unwrap();
        let out = sandbox(
            &["run", "--cluster", &attach, script.to_str().unwrap()],
            Duration::from_secs(60),
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("refused:") && stdout.contains("observed but not controlled"),
            "{stdout}"
        );
        let _ = std::fs::remove_dir_all(dir);
        let _ = serve.kill().await;
    })
    .await;
}
