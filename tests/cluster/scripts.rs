//! `kafka-sandbox run` end to end: scripts drive a fresh embedded cluster with real clients,
//! assert their own claims, and errors name the script's line.

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_subscribe_and_load_sharing_through_a_script() {
    bounded(async {
        let out = run(
            "share.rhai",
            r#"
create_topic("failsafe-test-topic", 8, 3);
let solo = [];
for i in 1..=3 { solo.push(consumer("failsafe-test-topic", #{group: `solo-${i}`})); }
solo.push(consumer("failsafe-test-topic"));  // no group at all, like kcat without -G
let p = producer();
for v in ["Hello World!", "Hello Events!", "Hello Kafka!"] { p.send("failsafe-test-topic", v); }
assert(wait_until(|| solo.all(|c| c.values().len() == 3), 15000), "every group gets every message");
for c in solo { c.close(); }

let g = group("test-group", "failsafe-test-topic", 3);
let sizes = g.map(|c| c.assignment().len());
sizes.sort();
assert(sizes == [2, 3, 3], `partitions split 3/3/2, got ${sizes}`);
for i in 0..30 { p.send("failsafe-test-topic", `key-${i}`, `message ${i}`); }
assert(wait_until(|| g.reduce(|n, c| n + c.values().len(), 0) == 30, 15000), "30 delivered");
sleep(300);
let all = [];
for c in g { all += c.values(); }
assert(all.len() == 30, `each message once, got ${all.len()}`);
assert(g.all(|c| c.values().len() > 0), "every member busy");
print("SCRIPT-OK");
"#,
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "script failed:\n{stderr}\n{stdout}");
        assert!(stdout.contains("SCRIPT-OK"));
        assert!(
            stdout.contains("[test-group/c1] assigned partitions"),
            "live rebalance lines: {stdout}"
        );
        assert!(
            stdout.contains("Hello Kafka!  (p"),
            "live message lines: {stdout}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_kill_both_hand_partitions_to_the_survivors() {
    bounded(async {
        let out = run(
            "failover.rhai",
            r#"
create_topic("t", 8, 3);
let g = group("test-group", "t", 3);
g[2].close();
assert(wait_until(|| g[0].assignment().len() + g[1].assignment().len() == 8, 5000), "clean close: survivors own all 8");
let late = consumer("t", #{group: "test-group"});
assert(wait_until(|| late.assignment().len() > 0, 10000), "a new member joins");
late.kill();
assert(wait_until(|| g[0].assignment().len() + g[1].assignment().len() == 8, 15000), "crash: survivors own all 8 after the session timeout");
let p = producer();
for i in 0..10 { p.send("t", `k${i}`, `after ${i}`); }
assert(wait_until(|| g[0].values().len() + g[1].values().len() == 10, 10000), "messages after the failover arrive");
print("SCRIPT-OK");
"#,
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "script failed:\n{stderr}\n{stdout}");
        assert!(stdout.contains("consumer test-group/c4 killed"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_broker_2_moves_leaders_and_producers_keep_going() {
    bounded(async {
        let out = run(
            "broker.rhai",
            r#"
create_topic("failsafe-test-topic", 8, 3);
let p = producer(#{acks: "all"});
p.send("failsafe-test-topic", "before");
cluster.stop(2);
let parts = describe("failsafe-test-topic");
for x in parts {
    assert(x.leader != 2, `partition ${x.partition} still led by 2`);
    assert(!x.isr.contains(2), `broker 2 still in the ISR of ${x.partition}`);
    assert(x.offline.contains(2), "broker 2 marked offline");
}
let ack = p.send("failsafe-test-topic", "k", "after");
assert(ack.offset >= 0, "acknowledged");
print("SCRIPT-OK");
"#,
        )
        .await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "script failed:\n{stderr}\n{stdout}");
        assert!(
            stdout.contains("Offline: 2"),
            "describe marks the offline replica:\n{stdout}"
        );
        assert!(
            stdout.contains("[cluster] broker 2 left the cluster"),
            "{stdout}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_exit_non_zero_and_name_the_line() {
    bounded(async {
        let syntax = run("syntax.rhai", "let a = 1;\nlet b = ;\n").await;
        let (_, stderr) = text(&syntax);
        assert!(!syntax.status.success());
        assert!(
            stderr.contains("syntax.rhai:2:"),
            "syntax error names line 2: {stderr}"
        );

        let runtime = run(
            "runtime.rhai",
            "let brokers = cluster.brokers();\n\ncluster.kill(42);\n",
        )
        .await;
        let (_, stderr) = text(&runtime);
        assert!(!runtime.status.success());
        assert!(
            stderr.contains("runtime.rhai:3:"),
            "runtime error names line 3: {stderr}"
        );
        assert!(
            stderr.contains("broker 42 does not exist; brokers are 1, 2, 3"),
            "{stderr}"
        );

        let failed = run(
            "assert.rhai",
            "create_topic(\"t\", 1, 1);\nassert(topics().len() == 2, \"two topics\");\n",
        )
        .await;
        let (_, stderr) = text(&failed);
        assert!(!failed.status.success());
        assert!(
            stderr.contains("assert.rhai:2:") && stderr.contains("assertion failed: two topics"),
            "{stderr}"
        );
    })
    .await;
}
