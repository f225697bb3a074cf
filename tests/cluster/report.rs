//! The timeline report as a learner gets it: `run --report`, `lesson --report` and `report()`
//! write one self-contained HTML file that names every fault, draws the lanes, and opens in a
//! browser with no network. With `KAFKA_SANDBOX_SCREENSHOTS=1` the first test also renders
//! the report to `docs/screenshots/report.png`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::*;

/// A broker killed and started again while a group reads and a producer sends, and one
/// refused fault (broker 1 is already running).
const KILL_AND_START: &str = r#"
create_topic("orders", 6, 3);
create_topic("audit.log", 2, 3);
let auditor = consumer("audit.log", #{name: "<auditor> & co"});
let p = producer(#{acks: "all"});
let g = group("billing", "orders", 2);
for i in 0..30 { p.send("orders", `v${i}`); }
sleep(500);
cluster.kill(2);
wait_until(|| metrics().UnderReplicatedPartitions > 0, 15000);
for i in 30..60 { p.send("orders", `v${i}`); }
try { cluster.start(1); } catch (e) { print(`refused: ${e}`); }
cluster.start(2);
wait_until(|| metrics().UnderReplicatedPartitions == 0, 30000);
g[1].close();
ledger("orders");
"#;

fn out_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-sandbox-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The report's text, after checking it refers to nothing outside itself.
fn self_contained(path: &Path) -> String {
    let html = std::fs::read_to_string(path).expect("the report is written");
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..200]);
    for external in ["http://", "https://", "src=", "<link", "<script", "url("] {
        assert!(
            !html.contains(external),
            "the report refers to something outside itself ({external})"
        );
    }
    html
}

/// The DOM chromium builds from the file, with the network off.
async fn dump_dom(path: &Path) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("/usr/bin/chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--proxy-server=127.0.0.1:9",
                "--dump-dom",
                &format!("file://{}", path.display()),
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium finishes within 60 s")
    .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn screenshot(path: &Path) {
    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots/report.png");
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let out = tokio::process::Command::new("/usr/bin/chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--proxy-server=127.0.0.1:9",
            &format!("--screenshot={}", png.display()),
            "--window-size=1366,1200",
            &format!("file://{}", path.display()),
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_report_draws_every_broker_partition_and_fault_and_opens_offline() {
    bounded(async {
        let script = script_file("report-kill-start.rhai", KILL_AND_START);
        let report = out_file("kill-start.html");
        let out = sandbox(&[
            "run",
            script.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--no-web",
        ])
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("report written to"), "{stdout}");
        let html = self_contained(&report);

        // Every fault in the faults table, the refused one with its reason.
        let faults = html
            .split("<section id=\"faults\">")
            .nth(1)
            .and_then(|s| s.split("</section>").next())
            .expect("a faults section");
        for fault in ["kill 2", "start 2", "start 1"] {
            assert!(
                faults.contains(&format!("data-fault=\"{fault}\"")),
                "{fault} is not in the faults table: {faults}"
            );
        }
        assert!(faults.contains("refused:"), "{faults}");
        assert!(
            faults.contains("fenced after"),
            "what followed the kill: {faults}"
        );
        // Strings from the session are escaped.
        assert!(
            html.contains("&lt;auditor&gt; &amp; co"),
            "escaped consumer name"
        );
        assert!(!html.contains("<auditor>"));
        assert!(html.contains("id=\"ledgers\""), "the ledger of orders");

        let dom = dump_dom(&report).await;
        for lane in [
            "broker-1",
            "broker-2",
            "broker-3",
            "partition-orders-0",
            "partition-orders-5",
            "partition-audit.log-1",
            "consumer-billing/c1",
            "consumer-billing/c2",
        ] {
            assert!(
                dom.contains(&format!("data-lane=\"{lane}\"")),
                "lane {lane} missing from the rendered page"
            );
        }
        assert!(
            !dom.contains("partition-__consumer_offsets"),
            "internal topics have no lane"
        );
        assert!(
            dom.contains("<g class=\"fault\" data-fault=\"kill 2\""),
            "kill 2 drawn"
        );
        assert!(
            dom.contains("<g class=\"fault repair\" data-fault=\"start 2\""),
            "start 2 drawn as a repair"
        );
        assert!(dom.contains("<svg"), "the drawing is inline SVG");
        assert!(dom.contains("state-down"), "broker 2 drawn down");

        if std::env::var_os("KAFKA_SANDBOX_SCREENSHOTS").is_some() {
            screenshot(&report).await;
        }
        let _ = std::fs::remove_file(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lesson_report_holds_the_questions_answers_and_steps() {
    bounded(async {
        let report = out_file("pub-sub.html");
        let out = sandbox(&[
            "lesson",
            "pub-sub",
            "--auto",
            "--report",
            report.to_str().unwrap(),
            "--no-web",
        ])
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let html = self_contained(&report);
        assert!(html.contains("<title>lesson pub-sub"), "{}", &html[..300]);
        assert!(html.contains("id=\"lesson\""));
        // Each question the summary printed is in the report, with its model answer.
        let questions: Vec<&str> = stdout
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('Q') && l[1..].starts_with(|c: char| c.is_ascii_digit()))
            .filter_map(|l| l.split_once(" — ").map(|(_, question)| question))
            .collect();
        assert!(!questions.is_empty(), "{stdout}");
        for q in questions {
            let escaped = q
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            let escaped = escaped.replace('"', "&quot;").replace('\'', "&#39;");
            assert!(html.contains(&escaped), "question {q:?} missing");
        }
        assert!(html.contains("data-question=\"1\""));
        assert!(html.contains("Model answer"));
        assert!(html.contains("data-step=\"1\""), "lesson steps are marked");
        let _ = std::fs::remove_file(&report);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_report_refuses_a_file_that_is_not_html() {
    bounded(async {
        let script = script_file("report-txt.rhai", "print(1);\n");
        let report = out_file("out.txt");
        let out = sandbox(&[
            "run",
            script.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--no-web",
        ])
        .await;
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success());
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(".html") && stderr.contains("out.txt"),
            "{stderr}"
        );
        assert!(
            !stdout.contains(" ready in "),
            "refused before starting: {stdout}"
        );
        assert!(!report.exists());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_from_a_script_writes_the_session_so_far() {
    bounded(async {
        let report = out_file("from-script.html");
        let source = format!(
            "create_topic(\"t\", 2, 3);\ncluster.stop(3);\nreport({:?});\n\
             try {{ report(\"x.txt\"); }} catch (e) {{ print(`refused: ${{e}}`); }}\n",
            report.to_str().unwrap()
        );
        let out = run("report-fn.rhai", &source).await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("refused: ") && stdout.contains(".html"),
            "{stdout}"
        );
        let html = self_contained(&report);
        assert!(html.contains("data-lane=\"partition-t-1\""));
        assert!(html.contains("data-fault=\"stop 3\""));
        let _ = std::fs::remove_file(&report);
    })
    .await;
}
