//! Sandboxes sharing a Docker engine with each other and with a user's own containers: two
//! runs at once; `docker clean` leaving runs still in use and a foreign container made from the
//! node image untouched, and removing a run whose sandbox was SIGKILLed; SIGTERM, SIGHUP and a
//! signal during the start each removing what the run created, promptly. Skips (saying why)
//! only when no Docker engine answers.

use std::process::Stdio;
use std::time::Duration;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use kafka_sandbox::backend::docker::containers::Engine;
use kafka_sandbox::backend::docker::ownership::RUN_ENV;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::docker::{container_state, node_image, run_containers, run_id, CleanOnDrop, SANDBOX};
use crate::util::*;

/// Removes the test's foreign container when the test ends.
struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A sandbox run `run` on the node image whose script prints READY once the cluster is up
/// and then waits; its stderr is collected in the background.
async fn waiting_run(image: &str, run: &str) -> Child {
    let script = script_file(
        &format!("{run}.rhai"),
        "print(\"READY\");\nsleep(120000);\n",
    );
    let mut child = Command::new(SANDBOX)
        .args(["run", script.to_str().unwrap(), "--no-web"])
        .args(["--cluster", "docker", "--image", image])
        .env(RUN_ENV, run)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    read_until_within(&mut lines, "READY", &mut seen, Duration::from_secs(90)).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

fn signal(child: &Child, signal: i32) {
    let pid = child.id().expect("still running") as i32;
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Waits (bounded) for `child` to exit after a signal; returns its exit code.
async fn exits_promptly(child: &mut Child, what: &str) -> Option<i32> {
    tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what}: the sandbox did not exit within 40 s"))
        .expect("wait")
        .code()
}

async fn docker_clean(args: &[&str]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(SANDBOX)
            .args(["docker", "clean"])
            .args(args)
            .output(),
    )
    .await
    .expect("docker clean finishes")
    .expect("runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_share_an_engine_and_signals_and_clean_remove_only_their_own() {
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    let (a, b, c, d) = (
        run_id("runs-a"),
        run_id("runs-b"),
        run_id("runs-c"),
        run_id("runs-d"),
    );
    let _clean = CleanOnDrop(vec![a.clone(), b.clone(), c.clone(), d.clone()]);
    let foreign = run_id("foreign");
    let _foreign = RemoveOnDrop(foreign.clone());
    tokio::time::timeout(Duration::from_secs(420), async {
        let image = node_image(&engine).await;
        // A user's container made from the node image: it inherits the image's labels.
        engine
            .docker()
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&foreign)
                        .build(),
                ),
                ContainerCreateBody {
                    image: Some(image.clone()),
                    ..Default::default()
                },
            )
            .await
            .expect("a foreign container is created");

        // Two sandboxes at once on one engine.
        let (mut first, mut second) =
            tokio::join!(waiting_run(&image, &a), waiting_run(&image, &b));
        assert_eq!(
            run_containers(&engine, &a).await,
            4,
            "run a: controller and 3 brokers"
        );
        assert_eq!(
            run_containers(&engine, &b).await,
            4,
            "run b: controller and 3 brokers"
        );
        assert!(
            container_state(&engine, &format!("ksb-{a}-kafka-1"))
                .await
                .0
        );

        // `docker clean` keeps both live runs and the foreign container.
        let out = docker_clean(&[]).await;
        assert!(
            out.contains(&format!("kept run {a}: its sandbox (pid")),
            "{out}"
        );
        assert_eq!(run_containers(&engine, &a).await, 4, "{out}");
        assert_eq!(run_containers(&engine, &b).await, 4, "{out}");

        // SIGTERM ends one run and removes its containers; the other keeps running.
        signal(&first, libc::SIGTERM);
        exits_promptly(&mut first, "SIGTERM").await;
        assert_eq!(
            run_containers(&engine, &a).await,
            0,
            "SIGTERM removed run a"
        );
        assert_eq!(run_containers(&engine, &b).await, 4, "run b untouched");
        // SIGHUP (the terminal closed) does the same.
        signal(&second, libc::SIGHUP);
        exits_promptly(&mut second, "SIGHUP").await;
        assert_eq!(run_containers(&engine, &b).await, 0, "SIGHUP removed run b");

        // A SIGKILLed sandbox cannot clean up; `docker clean` removes its orphaned run.
        let mut killed = waiting_run(&image, &c).await;
        killed.start_kill().unwrap();
        let _ = killed.wait().await;
        assert_eq!(run_containers(&engine, &c).await, 4, "SIGKILL left run c");
        let out = docker_clean(&[]).await;
        assert!(
            out.contains(&format!("removed container ksb-{c}-kafka-1")),
            "{out}"
        );
        assert!(
            out.contains(&format!("removed network kafka-sandbox-{c}")),
            "{out}"
        );
        assert_eq!(run_containers(&engine, &c).await, 0, "{out}");

        // A signal while the containers start ends the start at once and removes them.
        let script = script_file(&format!("{d}.rhai"), "print(\"READY\");\n");
        let mut starting = Command::new(SANDBOX)
            .args(["run", script.to_str().unwrap(), "--no-web"])
            .args(["--cluster", "docker", "--image", &image])
            .env(RUN_ENV, &d)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("runs");
        let mut lines = BufReader::new(starting.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        read_until_within(
            &mut lines,
            "docker: starting",
            &mut seen,
            Duration::from_secs(30),
        )
        .await;
        signal(&starting, libc::SIGINT);
        let code = exits_promptly(&mut starting, "Ctrl-C while starting").await;
        assert_ne!(code, Some(0), "an interrupted start is a failure");
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line);
        }
        assert!(
            seen.iter()
                .any(|l| l.contains("while the cluster was starting")),
            "{seen:?}"
        );
        assert_eq!(run_containers(&engine, &d).await, 0, "{seen:?}");

        // The user's container was never touched.
        let foreign_left = engine
            .docker()
            .inspect_container(
                &foreign,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await;
        assert!(foreign_left.is_ok(), "the foreign container is still there");
    })
    .await
    .expect("the docker runs test finishes in time");
    let _ = engine
        .docker()
        .remove_container(
            &foreign,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
}
