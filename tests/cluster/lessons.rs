//! The bundled lessons run for real: each passes in auto mode, a broken premise is reported,
//! and an interactive run judges answers, gives the hint and shows the model answer.

use std::time::Duration;

use crate::util::*;

async fn passes_auto(name: &str) -> String {
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
    assert!(
        stdout.contains("bootstrap servers: 127.0.0.1:"),
        "the lesson says where the cluster is: {stdout}"
    );
    // Observations and model answers read as sentences, not as Rhai arrays.
    for line in stdout
        .lines()
        .filter(|l| l.contains('»') || l.contains("model answer"))
    {
        let raw_array = line.char_indices().any(|(i, c)| {
            c == '['
                && line[i + 1..].starts_with(|d: char| d.is_ascii_digit() || d == '[' || d == '"')
        });
        assert!(!raw_array, "a raw array in: {line}");
        assert!(!line.contains(" ; "), "an empty list item in: {line}");
    }
    stdout.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_sub_passes_in_auto_mode() {
    bounded(async {
        passes_auto("pub-sub").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_sharing_passes_in_auto_mode() {
    bounded(async {
        passes_auto("load-sharing").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_failover_passes_in_auto_mode() {
    bounded(async {
        passes_auto("consumer-failover").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_failover_passes_in_auto_mode() {
    bounded(async {
        let stdout = passes_auto("broker-failover").await;
        // The lesson cites the operator metrics, and they moved with the fault.
        let line = stdout
            .lines()
            .find(|l| l.contains("UnderReplicatedPartitions went"))
            .unwrap_or_else(|| panic!("no metrics observation in:\n{stdout}"));
        let went: Vec<u64> = line
            .split("UnderReplicatedPartitions went ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .map(|pair| {
                pair.split(" → ")
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        // 8 partitions of the lesson's topic, plus __consumer_offsets' own.
        assert!(went.len() == 2 && went[0] == 0 && went[1] >= 8, "{line}");
    })
    .await;
}

/// One test per lesson of the curriculum beyond the tutorial, so they run side by side.
macro_rules! passes_in_auto_mode {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            bounded(async {
                passes_auto($name).await;
            })
            .await;
        }
    )*};
}

passes_in_auto_mode! {
    keys_and_ordering_passes_in_auto_mode => "keys-and-ordering",
    durability_boundary_passes_in_auto_mode => "durability-boundary",
    high_watermark_passes_in_auto_mode => "high-watermark",
    unclean_election_passes_in_auto_mode => "unclean-election",
    idempotence_passes_in_auto_mode => "idempotence",
    exactly_once_passes_in_auto_mode => "exactly-once",
    delivery_semantics_passes_in_auto_mode => "delivery-semantics",
    slow_consumers_passes_in_auto_mode => "slow-consumers",
    rebalance_protocols_passes_in_auto_mode => "rebalance-protocols",
    preferred_leaders_passes_in_auto_mode => "preferred-leaders",
    network_partition_passes_in_auto_mode => "network-partition",
    racks_passes_in_auto_mode => "racks",
    controller_passes_in_auto_mode => "controller",
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

/// Runs the pub-sub lesson interactively in a pty: the bootstrap servers first, a command at
/// a pause, history recalled with the up arrow, Enter at pauses, a wrong answer, then a right
/// one after the hint.
const ANSWERING: &str = r#"
banner = expect("bootstrap servers:")
expect("lesson> ")
line("cluster.brokers()")
expect("[1, 2, 3]")
expect("lesson> ")
send("\x1b[A")
time.sleep(0.3)
line("")
expect("[1, 2, 3]")
expect("lesson> ")
line("")
expect("lesson> ")
line("")
expect("lesson> ")
line("")
expect("prediction> ")
line("all three of them")
expect("you predicted it: 3")
expect("answer> ")
line("because of the network")
expect("does not say which consumer group each consumer was in")
expect("hint:")
expect("answer> ")
line("they were each in a diferent group")
expect("yes")
expect("model answer:")
expect("Q2: correct after the hint")
ok("EXIT", finish())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_lesson_judges_answers_with_a_hint_and_a_model_answer() {
    bounded(async {
        let out = crate::pty::drive(
            &["lesson", "pub-sub"],
            &unique("lesson-answers"),
            ANSWERING,
            Duration::from_secs(80),
        )
        .await;
        crate::pty::reported(&out, "EXIT", "0");
    })
    .await;
}

/// Ctrl-C at a lesson's pause ends the lesson at once, cleanly, with its consumers closed.
const QUITTING: &str = r#"
banner = expect("bootstrap servers:")
expect("lesson> ")
line("")
expect("lesson> ")
line("")
expect("lesson> ")
head = log.decode(errors="replace")
server = head.split("bootstrap servers: ")[1].split(",")[0]
running = len(consumers_of(server))
ok("RUNNING", running)
started = time.time()
ctrl_c()
expect("lesson pub-sub ended (Ctrl-C)", 10)
status = finish(15)
ok("EXIT", status)
ok("QUICK", time.time() - started < 8)
ok("LEFT", len(consumers_of(server)))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_at_a_pause_ends_the_lesson_at_once_and_closes_its_consumers() {
    bounded(async {
        let out = crate::pty::drive(
            &["lesson", "pub-sub"],
            &unique("lesson-quit"),
            QUITTING,
            Duration::from_secs(80),
        )
        .await;
        crate::pty::reported(&out, "RUNNING", "3");
        crate::pty::reported(&out, "EXIT", "0");
        crate::pty::reported(&out, "QUICK", "True");
        crate::pty::reported(&out, "LEFT", "0");
    })
    .await;
}

/// Each bundled lesson graded from an answers file, as a teacher grades a class.
async fn graded(name: &str, answers: &[&str]) -> String {
    let file = script_file(&format!("{name}.answers"), &answers.join("\n"));
    let report = std::env::temp_dir().join(format!(
        "kafka-sandbox-report-{}-{name}.md",
        std::process::id()
    ));
    let out = sandbox(&[
        "lesson",
        name,
        "--answers",
        file.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let md = std::fs::read_to_string(&report).expect("the report is written");
    let _ = std::fs::remove_file(&report);
    assert!(md.starts_with(&format!("# Lesson {name}")), "{md}");
    for (i, _) in answers.iter().enumerate() {
        assert!(md.contains(&format!("## Q{}", i + 1)), "{md}");
    }
    stdout
}

fn verdicts(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with('Q') && l.contains(" — "))
        .map(|l| l.split(" — ").next().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_lesson_can_be_graded_from_an_answers_file() {
    bounded(async {
        let out = graded(
            "pub-sub",
            &["3", "they were each in a different consumer group"],
        )
        .await;
        assert_eq!(verdicts(&out), ["Q1: correct", "Q2: correct"], "{out}");

        let out = graded(
            "load-sharing",
            &["1", "whoever is assigned the partition the key hashes to"],
        )
        .await;
        assert_eq!(verdicts(&out), ["Q1: incorrect", "Q2: correct"], "{out}");
        assert!(out.contains("1 of 2 answered correctly"), "{out}");

        let out = graded(
            "consumer-failover",
            &["4", "we stopped a broker and the consumers kept reading"],
        )
        .await;
        assert_eq!(verdicts(&out), ["Q1: correct", "Q2: incorrect"], "{out}");
        assert!(
            out.contains("stopping a broker is broker failover"),
            "the feedback says what is wrong: {out}"
        );

        let out = graded(
            "broker-failover",
            &[
                "0, 0 and 0",
                "we killed kafka-2 and the producer's sends were still acknowledged",
                "kcat -L",
            ],
        )
        .await;
        assert_eq!(
            verdicts(&out),
            ["Q1: incorrect", "Q2: correct", "Q3: correct"],
            "{out}"
        );

        // Two predictions, then the two questions judged by meaning.
        let out = graded(
            "exactly-once",
            &[
                "no",
                "yes",
                "the broker deleted the duplicate receipt",
                "the restart got a higher epoch for the same transactional id so the coordinator fenced the old one",
            ],
        )
        .await;
        assert_eq!(
            verdicts(&out),
            ["Q1: correct", "Q2: incorrect", "Q3: incorrect", "Q4: correct"],
            "{out}"
        );
        assert!(
            out.contains("nothing was deleted"),
            "the misconception gets its feedback: {out}"
        );
    })
    .await;
}

/// The sandbox's default initial rebalance delay is 0 (as Kafka's own shipped
/// server.properties sets it); a lesson must pass with Kafka's built-in 3000 ms as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lessons_pass_with_kafkas_initial_rebalance_delay() {
    bounded(async {
        let out = sandbox(&[
            "lesson",
            "load-sharing",
            "--auto",
            "--group-initial-rebalance-delay-ms",
            "3000",
        ])
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("3, 3 and 2"), "{stdout}");
    })
    .await;
}
