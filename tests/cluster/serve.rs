//! `kafka-sandbox serve` as a learner uses it: kcat against the printed bootstrap address,
//! control lines on stdin, cluster events on stdout, a clean exit on `quit`.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::util::*;

async fn kcat(args: Vec<String>, input: &str) -> String {
    let mut child = Command::new("kcat")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kcat is installed (apt-get install kcat)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("kcat finishes")
        .unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_runs_the_tutorial_kcat_commands_and_obeys_control_lines() {
    bounded(async {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
            .args([
                "serve",
                "--port",
                "0",
                "--num-partitions",
                "8",
                "--default-replication-factor",
                "3",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("binary runs");
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let line = read_until(&mut lines, "bootstrap servers:", &mut seen).await;
        let bootstrap = line.split_whitespace().nth(2).unwrap().to_string();
        let topic = unique("failsafe-test-topic");

        let b = |extra: &[&str]| -> Vec<String> {
            let mut v = vec![
                "-b".to_string(),
                bootstrap.clone(),
                "-t".to_string(),
                topic.clone(),
            ];
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        kcat(b(&["-P"]), "Hello World!\nHello Events!\nHello Kafka!\n").await;
        let consumed = kcat(b(&["-C", "-e", "-q"]), "").await;
        let mut got: Vec<&str> = consumed.lines().collect();
        got.sort();
        assert_eq!(got, vec!["Hello Events!", "Hello Kafka!", "Hello World!"]);

        stdin.write_all(b"kill 2\n").await.unwrap();
        read_until(&mut lines, "broker 2 killed", &mut seen).await;
        read_until(&mut lines, "broker 2 left the cluster", &mut seen).await;
        stdin.write_all(b"status\n").await.unwrap();
        let status = read_until(&mut lines, " down ", &mut seen).await;
        assert!(
            status.trim_start().starts_with("2 ") && status.contains("fenced"),
            "broker 2's status row: {status}"
        );
        stdin.write_all(b"kill 9\n").await.unwrap();
        read_until(
            &mut lines,
            "error: broker 9 does not exist; brokers are 1, 2, 3",
            &mut seen,
        )
        .await;

        // Still serving with a broker down.
        kcat(b(&["-P"]), "Hello again!\n").await;
        let consumed = kcat(b(&["-C", "-e", "-q"]), "").await;
        assert!(consumed.contains("Hello again!"), "{consumed}");

        stdin.write_all(b"quit\n").await.unwrap();
        read_until(&mut lines, "cluster stopped", &mut seen).await;
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("exits")
            .unwrap();
        assert!(status.success());
    })
    .await;
}

/// Starts `serve` with `extra` arguments and piped stdin; returns it with its stdout lines.
async fn serve(
    extra: &[&str],
) -> (
    tokio::process::Child,
    tokio::process::ChildStdin,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .args(["serve", "--port", "0"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let stdin = child.stdin.take().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, stdin, lines)
}

fn signal(child: &tokio::process::Child, signal: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(child.id().unwrap() as i32, signal);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_creates_topics_sums_up_internal_topics_and_stops_on_a_signal() {
    bounded(async {
        let (mut child, mut stdin, mut lines) = serve(&[]).await;
        let mut seen = Vec::new();
        let line = read_until(&mut lines, "bootstrap servers:", &mut seen).await;
        let bootstrap = line.split_whitespace().nth(2).unwrap().to_string();
        let topic = unique("failsafe-test-topic");

        // The tutorial's first step without a second client.
        stdin
            .write_all(format!("create {topic} 8 3\n").as_bytes())
            .await
            .unwrap();
        read_until(
            &mut lines,
            &format!("created topic {topic} (8 partitions, replication factor 3)"),
            &mut seen,
        )
        .await;
        let listing = kcat(vec!["-b".into(), bootstrap.clone(), "-L".into()], "").await;
        assert!(
            listing.contains(&format!("topic \"{topic}\" with 8 partitions")),
            "{listing}"
        );

        // A consumer group puts __consumer_offsets on every broker; a broker loss then moves
        // dozens of its partitions, which serve sums up in one line.
        kcat(
            vec![
                "-b".into(),
                bootstrap.clone(),
                "-G".into(),
                "serve-group".into(),
                "-e".into(),
                "-q".into(),
                topic.clone(),
            ],
            "",
        )
        .await;
        stdin.write_all(b"kill 2\n").await.unwrap();
        let summary = read_until(&mut lines, "leaders moved", &mut seen).await;
        assert!(
            summary.starts_with("[cluster] __consumer_offsets (internal): "),
            "{summary}"
        );
        stdin.write_all(b"status\n").await.unwrap();
        read_until(&mut lines, "Brokers:", &mut seen).await;
        assert!(
            !seen
                .iter()
                .any(|l| l.contains("leader of __consumer_offsets-")),
            "internal partitions are not listed one by one:\n{}",
            seen.join("\n")
        );

        // Ctrl-C (SIGINT) ends serve at once, even while it waits for a line on stdin.
        let asked = std::time::Instant::now();
        signal(&child, libc::SIGINT);
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .expect("serve exits promptly on Ctrl-C")
            .unwrap();
        assert!(status.success());
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{:?}",
            asked.elapsed()
        );
        drop(stdin);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_says_why_it_stops_when_stdin_ends_and_can_ignore_it() {
    bounded(async {
        let (mut child, stdin, mut lines) = serve(&[]).await;
        let mut seen = Vec::new();
        read_until(&mut lines, "bootstrap servers:", &mut seen).await;
        drop(stdin);
        read_until(
            &mut lines,
            "stdin closed: stopping; use --stdin-ignore to keep running in the background",
            &mut seen,
        )
        .await;
        read_until(&mut lines, "cluster stopped", &mut seen).await;
        assert!(child.wait().await.unwrap().success());

        let (mut child, stdin, mut lines) = serve(&["--stdin-ignore"]).await;
        let mut seen = Vec::new();
        let line = read_until(&mut lines, "bootstrap servers:", &mut seen).await;
        let bootstrap = line.split_whitespace().nth(2).unwrap().to_string();
        drop(stdin);
        read_until(&mut lines, "serving until Ctrl-C or SIGTERM", &mut seen).await;
        // Still serving after the end of input.
        let listing = kcat(vec!["-b".into(), bootstrap, "-L".into()], "").await;
        assert!(listing.contains("3 brokers"), "{listing}");
        signal(&child, libc::SIGTERM);
        read_until(&mut lines, "cluster stopped", &mut seen).await;
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .expect("exits on SIGTERM")
            .unwrap();
        assert!(status.success());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_help_lists_every_control_line() {
    bounded(async {
        let out = sandbox(&["serve", "--help"]).await;
        let (stdout, _) = text(&out);
        for usage in [
            "status",
            "stop N",
            "kill N",
            "start N",
            "restart N",
            "pause N",
            "resume N",
            "isolate N",
            "heal [N]",
            "elect",
            "create TOPIC PARTITIONS RF",
            "logs N",
            "quit",
        ] {
            assert!(
                stdout.lines().any(|l| l.trim_start().starts_with(usage)),
                "'{usage}' missing from serve --help:\n{stdout}"
            );
        }
    })
    .await;
}

/// Every broker of the embedded cluster shares one file table: the sandbox raises its soft
/// open-file limit to the hard limit, so a low default cannot starve the brokers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_its_open_file_limit_to_the_hard_limit() {
    bounded(async {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"));
        command
            .args(["serve", "--port", "0", "--no-web"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: only async-signal-safe setrlimit between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
                limit.rlim_cur = limit.rlim_max.min(256);
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                Ok(())
            });
        }
        let mut child = command.spawn().expect("binary runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        read_until(&mut lines, "bootstrap servers:", &mut seen).await;
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id().unwrap()))
            .expect("/proc/PID/limits");
        let row = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("an open-files row");
        let numbers: Vec<&str> = row.split_whitespace().skip(3).take(2).collect();
        assert_eq!(
            numbers[0], numbers[1],
            "soft limit raised to the hard one: {row}"
        );
        child.kill().await.unwrap();
    })
    .await;
}
