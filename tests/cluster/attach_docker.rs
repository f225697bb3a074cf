//! The attach backend against the shipped compose cluster (`scripts/compose/docker-compose.yml`)
//! run by a node image built here under a tag of this test's own: a script that fails with one
//! broker paused, one isolated and one killed leaves every container running, unpaused and on
//! its network with its address and aliases; so does the broker-failover lesson, run on it
//! afterwards; `--leave-as-is` leaves a paused broker paused. The compose project, its
//! subnet, container names and image tag are this run's, and are removed when the test ends,
//! passed or failed. Skips (saying why) only when no Docker engine or no docker-compose answers.

use std::collections::BTreeMap;
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use kafka_sandbox::backend::docker::containers::Engine;
use tokio::process::Command;

use crate::util::*;

const SANDBOX: &str = env!("CARGO_BIN_EXE_kafka-sandbox");
const COMPOSE_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scripts/compose/docker-compose.yml"
);
const BROKERS: [i32; 3] = [1, 2, 3];

/// One compose cluster of this test's, and the image it runs; both removed on drop.
struct Compose {
    project: String,
    prefix: String,
    net: String,
    image: String,
}

impl Compose {
    fn command(&self, args: &[&str]) -> StdCommand {
        let mut c = StdCommand::new("docker-compose");
        c.args(["-f", COMPOSE_FILE, "-p", &self.project])
            .args(args)
            .env("KAFKA_SANDBOX_IMAGE", &self.image)
            .env("KAFKA_SANDBOX_NET", &self.net)
            .env("KAFKA_SANDBOX_PREFIX", &self.prefix);
        c
    }

    fn down(&self) {
        let _ = self
            .command(&["down", "-v", "--timeout", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn container(&self, id: i32) -> String {
        format!("{}kafka-{id}", self.prefix)
    }

    fn ip(&self, id: i32) -> String {
        format!("{}.{}", self.net, 10 + id)
    }

    fn attach(&self) -> String {
        format!("attach={}:9092", self.ip(1))
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        // The image stays: its content tag is shared with the other docker tests.
        self.down();
    }
}

/// Starts the compose cluster on a /24 no other network uses: another run's subnet makes
/// `up` fail with "overlaps", and the next one is tried.
fn up(compose: &mut Compose) {
    let start = std::process::id() % 200;
    for n in 0..40 {
        compose.net = format!("10.93.{}", (start + n) % 250 + 1);
        let out = compose
            .command(&["up", "-d"])
            .output()
            .expect("docker-compose runs");
        if out.status.success() {
            return;
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        compose.down();
        assert!(
            stderr.contains("overlap"),
            "docker-compose up failed:\n{stderr}"
        );
    }
    panic!("no free 10.93.x.0/24 subnet for the compose cluster");
}

/// A container's state as the test checks it: running, paused, and each network with its
/// address and aliases.
type Shape = (bool, bool, BTreeMap<String, (String, Vec<String>)>);

async fn shape(engine: &Engine, name: &str) -> Shape {
    let inspect = engine
        .docker()
        .inspect_container(
            name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("container exists");
    let state = inspect.state.expect("state");
    let networks = inspect
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .map(|(net, e)| {
            let mut aliases = e.aliases.unwrap_or_default();
            aliases.sort();
            (net, (e.ip_address.unwrap_or_default(), aliases))
        })
        .collect();
    (
        state.running.unwrap_or(false),
        state.paused.unwrap_or(false),
        networks,
    )
}

async fn shapes(engine: &Engine, compose: &Compose) -> Vec<Shape> {
    let mut all = Vec::new();
    for id in BROKERS {
        all.push(shape(engine, &compose.container(id)).await);
    }
    all
}

/// Waits (30 s at most) until every broker accepts connections at its address.
async fn listening(compose: &Compose) {
    let addrs: Vec<String> = BROKERS
        .iter()
        .map(|id| format!("{}:9092", compose.ip(*id)))
        .collect();
    wait_for_async(
        "every broker to accept connections",
        Duration::from_secs(30),
        || async {
            let mut down = Vec::new();
            for a in &addrs {
                if tokio::net::TcpStream::connect(a).await.is_err() {
                    down.push(a.clone());
                }
            }
            down
        },
        |down: &Vec<String>| down.is_empty(),
    )
    .await;
}

async fn sandbox_within(args: &[&str], within: Duration) -> std::process::Output {
    let child = Command::new(SANDBOX).args(args).kill_on_drop(true).output();
    tokio::time::timeout(within, child)
        .await
        .expect("finishes in time")
        .expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_puts_the_compose_cluster_back_as_it_found_it() {
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    if StdCommand::new("docker-compose")
        .arg("version")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        println!("skipped: docker-compose is not installed");
        return;
    }
    let run = unique("attach");
    let mut compose = Compose {
        project: run.clone(),
        prefix: format!("{run}-"),
        net: String::new(),
        image: String::new(),
    };
    tokio::time::timeout(Duration::from_secs(420), async {
        compose.image = crate::docker::node_image(&engine).await;
        up(&mut compose);
        listening(&compose).await;
        let found = shapes(&engine, &compose).await;
        for (id, (running, paused, networks)) in BROKERS.iter().zip(&found) {
            assert!(*running && !*paused, "broker {id} runs: {found:?}");
            assert!(
                networks.values().any(|(ip, _)| *ip == compose.ip(*id)),
                "broker {id} has its fixed address: {networks:?}"
            );
        }

        // A script that fails with a broker paused, one cut off and one killed.
        let dir = std::env::temp_dir().join(unique("attach-docker"));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("fails.rhai");
        std::fs::write(
            &script,
            "cluster.pause(1);\ncluster.isolate(2);\ncluster.kill(3);\nprint(\"faulted\");\nthrow \"fails mid-way\";\n",
        )
        .unwrap();
        let attach = compose.attach();
        let out = sandbox_within(
            &["run", script.to_str().unwrap(), "--cluster", &attach, "--no-web"],
            Duration::from_secs(60),
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(
            !out.status.success() && stdout.contains("faulted") && stderr.contains("fails mid-way"),
            "the script faulted, then failed:\n{stdout}\n{stderr}"
        );
        for (id, what) in [(1, "unpaused"), (2, "reconnected"), (3, "started")] {
            assert!(
                stderr.contains(&format!("put {} back: {what}", compose.container(id))),
                "broker {id} {what}:\n{stderr}"
            );
        }
        assert_eq!(shapes(&engine, &compose).await, found, "as it was found");

        // The lesson runs on the cluster put back, and leaves it as it found it too.
        listening(&compose).await;
        let out = sandbox_within(
            &[
                "lesson",
                "broker-failover",
                "--auto",
                "--cluster",
                &attach,
                "--no-web",
            ],
            Duration::from_secs(150),
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success() && stdout.contains("── summary of broker-failover ──"),
            "broker-failover on attach:\n{stdout}\n{stderr}"
        );
        assert!(stderr.contains("brokers run in containers 1="), "{stderr}");
        assert_eq!(shapes(&engine, &compose).await, found, "as it was found");

        // --leave-as-is leaves the paused broker paused; the test thaws it itself.
        std::fs::write(&script, "cluster.pause(1);\n").unwrap();
        let out = sandbox_within(
            &[
                "run",
                script.to_str().unwrap(),
                "--cluster",
                &attach,
                "--no-web",
                "--leave-as-is",
            ],
            Duration::from_secs(60),
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let kafka_1 = compose.container(1);
        assert!(shape(&engine, &kafka_1).await.1, "kafka-1 left paused");
        engine
            .docker()
            .unpause_container(&kafka_1)
            .await
            .expect("unpause");
        let _ = std::fs::remove_dir_all(dir);
    })
    .await
    .expect("the attach test finishes in time");
}
