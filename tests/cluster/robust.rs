//! Everyday moves that used to break the session quietly: a paused or cut-off broker, a
//! group that already has members, a consumer that cannot start, a stopped broker under
//! running consumers, mistyped arguments, and a `run` that is killed.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::util::*;

/// Pids of consumer processes whose command line mentions `needle`.
fn consumer_processes(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            (cmd.contains(" consume ") && cmd.contains(needle)).then_some(pid)
        })
        .collect()
}

const PAUSED_AND_ISOLATED: &str = r#"
create_topic("t", 3, 3);
let c = consumer("t", #{group: "g"});
for how in ["pause", "isolate"] {
    for b in cluster.brokers() {
        if how == "pause" { cluster.pause(b); } else { cluster.isolate(b); }
        sleep(3000);
        for what in ["describe", "partitions", "topics", "describe_group"] {
            let t0 = now_ms();
            try {
                switch what {
                    "describe" => describe("t"),
                    "partitions" => partitions("t"),
                    "topics" => topics(),
                    _ => describe_group("g"),
                }
            } catch (e) {
                print(`ERROR ${how} ${b} ${what}: ${e}`);
            }
            print(`TIMING ${how} ${b} ${what} ${now_ms() - t0}`);
        }
        let t0 = now_ms();
        wait_until(|| partitions("t").len() == 99, 1000);
        print(`WAIT ${how} ${b} ${now_ms() - t0}`);
        if how == "pause" { cluster.resume(b); } else { cluster.heal(b); }
        wait_until(|| partitions("t").all(|p| p.isr.len() == 3 && p.leader > 0), 20000);
    }
}
let t0 = now_ms();
wait_until(|| { sleep(5000); false }, 1000);
print(`WAIT sleeping ${now_ms() - t0}`);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_calls_answer_quickly_whichever_broker_is_paused_or_isolated() {
    bounded(async {
        let out = run("paused.rhai", PAUSED_AND_ISOLATED).await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(!stdout.contains("ERROR"), "every call answered:\n{stdout}");
        let timings: Vec<(String, u64)> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("TIMING "))
            .map(|l| {
                let (what, ms) = l.rsplit_once(' ').unwrap();
                (what.to_string(), ms.parse().unwrap())
            })
            .collect();
        assert_eq!(timings.len(), 2 * 3 * 4, "{stdout}");
        for (what, ms) in &timings {
            assert!(*ms < 3000, "{what} took {ms} ms:\n{stdout}");
        }
        for l in stdout.lines().filter_map(|l| l.strip_prefix("WAIT ")) {
            let (what, ms) = l.rsplit_once(' ').unwrap();
            let ms: u64 = ms.parse().unwrap();
            assert!(
                (1000..1600).contains(&ms),
                "wait_until(…, 1000) {what} returned after {ms} ms"
            );
        }
        assert!(
            stdout.contains("did not answer"),
            "describe names the broker that stayed silent:\n{stdout}"
        );
    })
    .await;
}

const OWNERS: &str = r#"
create_topic("t", 4, 3);
let a = group("g", "t", 2);
let b = group("g", "t", 2);
// The earlier members learn their new share in the same rebalance, a moment apart.
wait_until(|| (a + b).all(|c| c.assignment().len() == 1), 10000);
print(`SHARES ${(a + b).map(|c| c.assignment().len())}`);
print(`LISTED ${consumers().len()}`);
try {
    consumer("t", #{group: "bad", config: #{"no.such.setting": "1"}});
} catch (e) {
    print(`DIED ${e}`);
}
print(`AFTER ${consumers().len()}`);
lesson("pub-sub", #{auto: true});
print(`AFTER_LESSON ${consumers().len()}`);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consumer_has_an_owner_and_consumers_lists_them() {
    bounded(async {
        let out = run("owners.rhai", OWNERS).await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("group g already has 2 members"), "{stdout}");
        assert!(stdout.contains("SHARES [1, 1, 1, 1]"), "{stdout}");
        assert!(stdout.contains("LISTED 4"), "{stdout}");
        let died = stdout
            .lines()
            .find(|l| l.starts_with("DIED "))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            died.contains("exited with status 1") && died.contains("no.such.setting"),
            "the reason a consumer died is given: {died}"
        );
        assert!(stdout.contains("AFTER 4"), "{stdout}");
        assert!(
            stdout.contains("AFTER_LESSON 4"),
            "the lesson closed its own consumers:\n{stdout}"
        );
    })
    .await;
}

// A crash, not a controlled shutdown: a stopped broker hands its leaderships over first, so
// its consumers may move away before the connection drops and have nothing to report; a
// killed leader breaks a fetch in flight.
const STOPPED_UNDER_CONSUMERS: &str = r#"
create_topic("t", 4, 3);
let g = group("g", "t", 2);
cluster.kill(2);
let p = producer();
for i in 1..=4 { p.send("t", `k${i}`, `v${i}`); }
wait_until(|| g.reduce(|n, c| n + c.values().len(), 0) >= 4, 10000);
sleep(1500);
print(`GOT ${g.reduce(|n, c| n + c.values().len(), 0)}`);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_broker_is_explained_in_plain_words_not_as_a_consumer_error() {
    bounded(async {
        let out = run("stopped.rhai", STOPPED_UNDER_CONSUMERS).await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("GOT 4"), "{stdout}");
        assert!(
            !stdout.contains("consumer error"),
            "lost connections are not errors:\n{stdout}"
        );
        let lost: Vec<&str> = stdout
            .lines()
            .filter(|l| l.contains("lost its connection to broker 2"))
            .collect();
        assert!(
            !lost.is_empty(),
            "the lost connection is explained:\n{stdout}"
        );
        for who in ["[g/c1]", "[g/c2]"] {
            assert!(
                lost.iter().filter(|l| l.starts_with(who)).count() <= 1,
                "{who} says it once:\n{stdout}"
            );
        }
    })
    .await;
}

const MISTAKES: &str = r#"
try { cluster.logs(1); } catch (e) { print(`LOGS ${e}`); }
try { cluster.kill(9999999999); } catch (e) { print(`KILL ${e}`); }
try { create_topic("big", 20000, 1); } catch (e) { print(`CAP ${e}`); }
try { create_topic("huge", 3000000000, 1); } catch (e) { print(`HUGE ${e}`); }
create_topic("one", 1, 1);
cluster.stop(2);
try { create_topic("t2", 3, 3); } catch (e) { print(`RF ${e}`); }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_get_errors_that_say_what_is_wrong() {
    bounded(async {
        let out = run("mistakes.rhai", MISTAKES).await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let said = |tag: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{tag} ")))
                .unwrap_or_else(|| panic!("no {tag} line:\n{stdout}"))
                .to_string()
        };
        let logs = said("LOGS");
        assert!(
            logs.contains("KAFKA_SANDBOX_LOG=info") && !logs.contains("invalid cluster settings"),
            "{logs}"
        );
        assert_eq!(
            said("KILL"),
            "broker 9999999999 does not exist; brokers are 1, 2, 3"
        );
        assert!(
            said("CAP").contains("20000 partitions is more than the sandbox allows (at most 10000)"),
            "{stdout}"
        );
        assert!(said("HUGE").contains("3000000000 partitions"), "{stdout}");
        assert!(
            stdout.contains("created topic one (1 partition, replication factor 1)"),
            "{stdout}"
        );
        assert_eq!(
            said("RF"),
            "cannot create topic 't2': replication factor 3 needs 3 live brokers; 2 are up (broker 2 is down)"
        );

        let out = run("caret.rhai", "let a = 1;\nlet b = 2;\nlet c = a + nope;\n").await;
        let (_, stderr) = text(&out);
        assert!(!out.status.success());
        assert!(
            stderr.contains("caret.rhai:3:13: 'nope' is not defined"),
            "{stderr}"
        );
        assert!(
            stderr.contains("  let c = a + nope;\n              ^"),
            "the line and a caret under the spot:\n{stderr}"
        );
    })
    .await;
}

const LONG_RUN: &str = r#"
create_topic("t", 2, 1);
let g = group("g", "t", 2);
print("READY");
sleep(60000);
"#;

/// Starts `run` on a script that keeps two consumers busy; returns the child, the bootstrap
/// address and the consumer pids.
async fn long_run(name: &str) -> (tokio::process::Child, String, Vec<u32>) {
    let path = script_file(name, LONG_RUN);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .arg("run")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let banner = read_until(&mut lines, "bootstrap servers:", &mut seen).await;
    let server = banner
        .split("bootstrap servers: ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    read_until(&mut lines, "READY", &mut seen).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let consumers = consumer_processes(&server);
    assert_eq!(consumers.len(), 2, "two consumers run");
    (child, server, consumers)
}

/// Waits at most a second for every consumer process of `server` to be gone.
async fn consumers_gone_within_a_second(server: &str, what: &str) {
    wait_for(
        what,
        Duration::from_secs(1),
        || consumer_processes(server),
        |left| left.is_empty(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_die_with_a_killed_run_and_leave_with_a_terminated_one() {
    bounded(async {
        let (mut child, server, _) = long_run("killed.rhai").await;
        child.start_kill().unwrap();
        let _ = child.wait().await;
        consumers_gone_within_a_second(&server, "the consumers to die with the SIGKILLed run")
            .await;

        let (mut child, server, _) = long_run("terminated.rhai").await;
        let pid = child.id().unwrap() as i32;
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .expect("a terminated run exits promptly")
            .unwrap();
        assert!(!status.success(), "an interrupted script is not a success");
        consumers_gone_within_a_second(&server, "the consumers to leave with the SIGTERMed run")
            .await;
    })
    .await;
}

/// Opens a protocol connection to `addr` and asks for its API versions.
async fn api_versions(addr: std::net::SocketAddr) -> Result<(), String> {
    use kafka_protocol::messages::ApiVersionsRequest;
    let mut conn = kafka_sandbox::protocol::client::Connection::connect(
        &addr.to_string(),
        "flood-test",
        Duration::from_secs(2),
    )
    .await
    .map_err(|e| e.to_string())?;
    conn.call(&ApiVersionsRequest::default(), 0, Duration::from_secs(2))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A flood of idle connections to one broker, past its cap: that broker turns new clients
/// away cleanly, the other brokers accept as before, and a restarted broker still replicates
/// from it (peers are served beyond the cap).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_flood_on_one_broker_starves_neither_the_others_nor_replication() {
    bounded(async {
        let mut config = test_config(3);
        config.connections.max_per_broker = Some(40);
        let cluster = TestCluster::start_with(config).await;
        let topic = unique("flood");
        create_topic(&cluster, &topic, 6, 3, &[]).await;
        let target = cluster.broker_addr(1).unwrap();
        let mut flood = Vec::new();
        for _ in 0..70 {
            flood.push(tokio::net::TcpStream::connect(target).await.unwrap());
        }
        let refused = api_versions(target).await;
        assert!(refused.is_err(), "a client past the cap is turned away");
        api_versions(cluster.broker_addr(2).unwrap())
            .await
            .expect("another broker still serves clients");
        // Broker 3 comes back and must fetch from broker 1 through a new connection.
        cluster.kill_broker(3).await.unwrap();
        cluster.start_broker(3).await.unwrap();
        wait_for(
            "every ISR whole again",
            Duration::from_secs(20),
            || cluster.snapshot(),
            |s| fully_in_sync(s, &topic),
        )
        .await;
        drop(flood);
        let _ = wait_for_async(
            "broker 1 serves clients again once the flood is gone",
            Duration::from_secs(10),
            || api_versions(target),
            |r| r.is_ok(),
        )
        .await;
    })
    .await;
}

/// A connection that sends nothing for `connections.max.idle.ms` is closed; one in use is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_connections_max_idle() {
    use tokio::io::AsyncReadExt;
    bounded(async {
        let mut config = test_config(1);
        config.connections.max_idle = Duration::from_millis(1000);
        let cluster = TestCluster::start_with(config).await;
        let addr = cluster.broker_addr(1).unwrap();
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut busy = broker_connection(&cluster, 1, "busy").await;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(2500) {
            busy.call(
                &kafka_protocol::messages::ApiVersionsRequest::default(),
                0,
                Duration::from_secs(2),
            )
            .await
            .expect("a connection in use stays open");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buf))
            .await
            .expect("the idle connection is closed in time");
        assert_eq!(read.unwrap(), 0, "closed by the broker");
    })
    .await;
}
