//! The docker backend with the sandbox's own node image, built here with no registry: the
//! broker-failover lesson and the paused-vs-killed experiment run on containers, a killed and a
//! stopped broker are checked through the Docker API, and nothing of the test's run is left
//! afterwards, also when the test fails. Skips (saying why) only when no Docker engine answers.

use std::collections::HashMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;
use kafka_sandbox::backend::docker::containers::Engine;
use kafka_sandbox::backend::docker::image::{build, Tagging};
use kafka_sandbox::backend::docker::ownership::{RUN_ENV, RUN_LABEL};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::util::*;

pub(crate) const SANDBOX: &str = env!("CARGO_BIN_EXE_kafka-sandbox");

/// Removes the test's runs from Docker when the test ends, passed or failed — only those, so
/// other sandboxes on the engine (and other tests) keep theirs.
pub(crate) struct CleanOnDrop(pub Vec<String>);

impl Drop for CleanOnDrop {
    fn drop(&mut self) {
        let mut command = std::process::Command::new(SANDBOX);
        command.args(["docker", "clean"]);
        for run in &self.0 {
            command.args(["--run", run]);
        }
        let _ = command.stdout(Stdio::null()).status();
    }
}

/// A run id no other test or run uses.
pub(crate) fn run_id(what: &str) -> String {
    unique(what).replace(['.', ':'], "-")
}

/// Builds the node image from the sandbox binary under its content tag only (a user's
/// `:latest` is not moved) and returns that tag.
pub(crate) async fn node_image(engine: &Engine) -> String {
    let built = build(
        engine.docker(),
        std::path::Path::new(SANDBOX),
        Tagging::ContentOnly,
        &mut |_| {},
    )
    .await
    .expect("the node image builds");
    built.tags[0].clone()
}

/// Runs the sandbox as run `run`; it must succeed within `within`.
async fn sandbox(run: &str, args: &[&str], within: Duration) -> Output {
    let child = Command::new(SANDBOX)
        .args(args)
        .env(RUN_ENV, run)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(within, child)
        .await
        .expect("finishes in time")
        .expect("runs");
    assert!(
        out.status.success(),
        "kafka-sandbox {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Whether container `name` runs, and its exit code.
pub(crate) async fn container_state(engine: &Engine, name: &str) -> (bool, i64) {
    let inspect = engine
        .docker()
        .inspect_container(
            name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("container exists");
    let state = inspect.state.expect("state");
    (
        state.running.unwrap_or(false),
        state.exit_code.unwrap_or(-1),
    )
}

/// How many containers run `run` has, running or not.
pub(crate) async fn run_containers(engine: &Engine, run: &str) -> usize {
    let filters = HashMap::from([("label".to_string(), vec![format!("{RUN_LABEL}={run}")])]);
    engine
        .docker()
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .expect("list")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lessons_and_experiments_run_on_sandbox_node_containers() {
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    let run = run_id("docker-lessons");
    let _clean = CleanOnDrop(vec![run.clone()]);
    let run = run.as_str();
    tokio::time::timeout(Duration::from_secs(600), async {
        let image = node_image(&engine).await;
        let docker = ["--cluster", "docker", "--image", image.as_str(), "--no-web"];

        let mut args = vec!["lesson", "broker-failover", "--auto"];
        args.extend(docker);
        let out = sandbox(run, &args, Duration::from_secs(90)).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("── summary of broker-failover ──"), "{stdout}");
        assert!(stdout.contains("✓ broker 2 is in no ISR"), "{stdout}");
        assert_eq!(run_containers(&engine, run).await, 0, "the lesson cleaned up");

        // Curriculum lessons whose faults the containers can play: pause (idempotence), six
        // brokers in racks, the stale replica of an unclean election, and a transaction
        // coordinator's container killed mid-transaction.
        for lesson in ["idempotence", "racks", "unclean-election", "exactly-once"] {
            let mut args = vec!["lesson", lesson, "--auto"];
            args.extend(docker);
            let out = sandbox(run, &args, Duration::from_secs(90)).await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains(&format!("── summary of {lesson} ──")),
                "{lesson} on docker:\n{}\n{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(run_containers(&engine, run).await, 0, "the lessons cleaned up");

        // Every experiment's claims hold on containers too: the brokers keep their logs in
        // the container, and isolation leaves them reachable by clients.
        for name in crate::experiments::EXPERIMENTS {
            let out = crate::experiments::experiment_on(name, &docker).await;
            if name == "unclean-election" {
                assert!(out.contains("lost 10"), "{out}");
            }
        }

        let dir = std::env::temp_dir().join(unique("docker-script"));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("kill-and-stop.rhai");
        std::fs::write(
            &script,
            "cluster.kill(2);\nprint(\"killed\");\nsleep(1500);\ncluster.stop(3);\nprint(\"stopped\");\nsleep(1500);\n",
        )
        .unwrap();
        let mut args: Vec<&str> = vec!["run", script.to_str().unwrap()];
        args.extend(docker);
        let mut child = Command::new(SANDBOX)
            .args(&args)
            .env(RUN_ENV, run)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        read_until(&mut lines, "killed", &mut seen).await;
        let (running, code) = container_state(&engine, &format!("ksb-{run}-kafka-2")).await;
        assert!(!running && code == 137, "kafka-2 was SIGKILLed: running {running}, exit {code}");
        assert!(container_state(&engine, &format!("ksb-{run}-kafka-1")).await.0, "kafka-1 still runs");
        read_until(&mut lines, "stopped", &mut seen).await;
        let (running, code) = container_state(&engine, &format!("ksb-{run}-kafka-3")).await;
        assert!(!running && code == 0, "kafka-3 shut down cleanly: running {running}, exit {code}");
        while lines.next_line().await.ok().flatten().is_some() {}
        assert!(child.wait().await.expect("exit").success(), "{seen:?}");
        assert_eq!(run_containers(&engine, run).await, 0, "everything removed");
        let _ = std::fs::remove_dir_all(dir);
    })
    .await
    .expect("the docker test finishes in time");
}

async fn fails_with(args: &[&str], env: Option<(&str, &str)>) -> String {
    let mut command = Command::new(SANDBOX);
    command.args(args).kill_on_drop(true);
    if let Some((k, v)) = env {
        command.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("answers quickly")
        .expect("runs");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one error line among the progress lines (`docker: …` while it works).
fn error_line(stderr: &str) -> &str {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("kafka-sandbox:") || l.starts_with("Error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    errors[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_engine_or_image_gets_one_line_saying_what_to_do() {
    let stderr = fails_with(
        &["lesson", "pub-sub", "--auto", "--cluster", "docker"],
        Some(("DOCKER_HOST", "unix:///nonexistent/docker.sock")),
    )
    .await;
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("no Docker engine is reachable") && stderr.contains("--cluster embedded"),
        "{stderr}"
    );
    if Engine::connect().await.is_err() {
        println!("skipped the missing-image case: no Docker engine");
        return;
    }
    // The sandbox's own image is never pulled: it is built here.
    let stderr = fails_with(
        &[
            "lesson",
            "pub-sub",
            "--auto",
            "--cluster",
            "docker",
            "--image",
            "kafka-sandbox-node:absent",
        ],
        None,
    )
    .await;
    let line = error_line(&stderr);
    assert!(
        line.contains("image kafka-sandbox-node:absent is not on this machine")
            && line.contains("kafka-sandbox image build"),
        "{stderr}"
    );
    // Another image is pulled; with no registry reachable (as here) that says so.
    let stderr = fails_with(
        &[
            "lesson",
            "pub-sub",
            "--auto",
            "--cluster",
            "docker",
            "--image",
            "kafka-sandbox-absent:0",
        ],
        None,
    )
    .await;
    let line = error_line(&stderr);
    assert!(
        stderr.contains("pulling it")
            && (line.contains("cannot be pulled") || line.contains("is not on this machine"))
            && line.contains("kafka-sandbox image build"),
        "{stderr}"
    );
}
