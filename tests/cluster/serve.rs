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
        let bootstrap = line
            .split(':')
            .skip(1)
            .collect::<Vec<_>>()
            .join(":")
            .trim()
            .to_string();
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
        let status = read_until(&mut lines, "  2  ", &mut seen).await;
        assert!(
            status.contains("down") && status.contains("fenced"),
            "status row: {status}"
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
