//! The bundled lessons run for real: each passes in auto mode, a broken premise is reported,
//! and an interactive run judges answers, gives the hint and shows the model answer.

use std::process::Output;
use std::time::Duration;

use crate::util::*;

async fn sandbox(args: &[&str]) -> Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-sandbox"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(80), child)
        .await
        .expect("finishes")
        .expect("runs")
}

async fn passes_auto(name: &str) {
    let out = sandbox(&["lesson", name, "--auto"]).await;
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
    assert!(stdout.contains("model answer:"), "{stdout}");
    assert!(stdout.contains("✓ "), "claims are checked: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_passes_in_auto_mode() {
    bounded(passes_auto("pub-sub")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_sharing_passes_in_auto_mode() {
    bounded(passes_auto("load-sharing")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_failover_passes_in_auto_mode() {
    bounded(passes_auto("consumer-failover")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_failover_passes_in_auto_mode() {
    bounded(async {
        passes_auto("broker-failover").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_premise_is_reported_not_glossed_over() {
    bounded(async {
        let dir = std::env::temp_dir().join(format!("kafka-sandbox-lesson-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("premise.rhai");
        std::fs::write(&script, "lesson(\"pub-sub\", #{auto: true, one_group: true});\n").unwrap();
        let out = sandbox(&["run", script.to_str().unwrap()]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "the lesson must fail when its premise is broken");
        assert!(
            stderr.contains("the cluster did not behave as the lesson expects: each of the three consumers received all three messages"),
            "{stderr}"
        );
    })
    .await;
}

/// Runs the pub-sub lesson interactively in a pty: Enter at pauses, one command at a pause,
/// a wrong answer, then a right one.
const DRIVER: &str = r#"
import os, pty, sys, time, select
exe = sys.argv[1]
os.environ["NO_COLOR"] = "1"
pid, fd = pty.fork()
if pid == 0:
    os.execv(exe, [exe, "lesson", "pub-sub"])
seen = b""
log = b""
def expect(p, timeout=30):
    global seen, log
    end = time.time() + timeout
    while p.encode() not in seen:
        if time.time() > end:
            sys.stdout.write("TIMEOUT %r\n%s" % (p, log.decode(errors="replace")))
            sys.exit(3)
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            seen += chunk
            log += chunk
    seen = seen[seen.index(p.encode()) + len(p):]
expect("[Enter] to go on")
os.write(fd, b"cluster.brokers()\r")
expect("[1, 2, 3]")
expect("[Enter] to go on")
os.write(fd, b"\r")
expect("[Enter] to go on")
os.write(fd, b"\r")
expect("[Enter] to go on")
os.write(fd, b"\r")
expect("your answer:")
os.write(fd, b"because of the network\r")
expect("not quite. hint:")
expect("your answer:")
os.write(fd, b"they were each in a diferent group\r")
expect("yes")
expect("model answer:")
expect("right after the hint")
_, status = os.waitpid(pid, 0)
print("EXIT", os.WEXITSTATUS(status))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_lesson_judges_answers_with_a_hint_and_a_model_answer() {
    bounded(async {
        let out = tokio::time::timeout(
            Duration::from_secs(80),
            tokio::process::Command::new("/usr/bin/python3")
                .args(["-c", DRIVER, env!("CARGO_BIN_EXE_kafka-sandbox")])
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("finishes")
        .expect("python runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("EXIT 0"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
    .await;
}
