//! The live page in a real browser: headless Chromium driven over the Chrome DevTools
//! Protocol, against an embedded cluster, its View and the web server in this process. The
//! tests read the page's DOM (the `data-*` attributes it draws) and compare it with the
//! cluster, and fail on any console error or uncaught exception.
//!
//! With `KAFKA_SANDBOX_SCREENSHOTS=1` the broker-kill test also writes
//! `docs/screenshots/view-{healthy,broker-down,recovered}.png` (1366x900).
//!
//! `browser.rs` drives Chromium; `scene.rs` sets up a cluster, its page and a browser on it;
//! this file holds the page tests.

mod browser;
mod scene;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_sandbox::client::admin::Admin;
use serde_json::{json, Value};

use crate::members::Member;
use crate::util::*;
use scene::{expected_rows, Scene, ROWS_JS};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_draws_brokers_and_partitions_and_stays_free_of_errors() {
    bounded(async {
        let (mut scene, topics) = Scene::start(3, &[("page", 8)]).await;
        let (chrome, topic) = (&scene.chrome, &topics[0]);
        let brokers = chrome
            .eval("[...document.querySelectorAll('[data-broker]')].map(b => [b.dataset.broker, b.dataset.state, b.dataset.fenced])")
            .await;
        assert_eq!(
            brokers,
            json!([["1", "up", "false"], ["2", "up", "false"], ["3", "up", "false"]])
        );
        scene
            .cluster
            .wait_until("the topic fully in sync", Duration::from_secs(10), |s| {
                fully_in_sync(s, topic)
            })
            .await;
        let want = expected_rows(&scene.cluster, topic);
        chrome
            .wait_js(
                "the page to show every partition as the cluster has it",
                Duration::from_secs(5),
                &format!("({ROWS_JS})({})", json!(topic)),
                |v| v == &want,
            )
            .await;
        let flags = chrome
            .eval(&format!(
                "[...document.querySelectorAll('tr[data-partition]')].filter(r => r.dataset.topic === {})\
                 .map(r => r.dataset.offline + '/' + r.dataset.urp)",
                json!(topic)
            ))
            .await;
        assert_eq!(flags, json!(vec!["false/false"; 8]));

        // Live updates: records sent show up as the high watermark, and text from the session
        // is drawn as text, never as markup.
        let producer = producer(&scene.cluster, "all");
        let name = scene.view.clients.producer_created("all");
        for i in 0..40 {
            let value = format!("v{i}");
            send(&producer, topic, &value, &value).await.expect("acked");
            scene.view.clients.sent(&name, &value, Ok(()));
        }
        let markup = "<img id=\"injected\" src=\"x\" onerror=\"console.error('injected')\">";
        scene.view.clients.sent(&name, markup, Err("<b id=\"bold\">no</b>"));
        chrome
            .wait_js(
                "the metrics to count the 40 records",
                Duration::from_secs(5),
                "Number(document.querySelector('[data-metric=MessagesIn]').dataset.value)",
                |v| v.as_u64() >= Some(40),
            )
            .await;
        chrome
            .wait_js(
                "the producer's last values on the page",
                Duration::from_secs(5),
                "document.querySelector('[data-producer]')?.textContent ?? ''",
                |v| v.as_str().unwrap_or("").contains(markup),
            )
            .await;
        let injected = chrome
            .eval("[document.getElementById('injected'), document.getElementById('bold')].filter(Boolean).length")
            .await;
        assert_eq!(injected, json!(0), "session text became markup");

        // A few more seconds of polling and events.
        let clock = || chrome.eval("document.getElementById('clock').textContent");
        let start = clock().await;
        let started_ms = (start.as_str().unwrap()[2..].trim_end_matches(" s").parse::<f64>().unwrap()
            * 1000.0) as u64;
        wait_for_async(
            "the page clock to move on 3 s",
            Duration::from_secs(8),
            clock,
            |v| {
                let ms = (v.as_str().unwrap_or("t+0 s")[2..]
                    .trim_end_matches(" s")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    * 1000.0) as u64;
                ms >= started_ms + 3000
            },
        )
        .await;
        let banner_hidden = chrome.eval("document.getElementById('banner').hidden").await;
        assert_eq!(banner_hidden, json!(true));
        scene.assert_no_problems();

        // Once the sandbox is gone the page says so, quietly: the browser logs the refused
        // connections itself, but the page throws nothing and logs nothing.
        scene.server.take();
        let chrome = &scene.chrome;
        wait_for_async(
            "the disconnected banner",
            Duration::from_secs(5),
            || chrome.eval("document.getElementById('banner').hidden"),
            |v| v == &json!(false),
        )
        .await;
        let own: Vec<String> = chrome
            .problems()
            .into_iter()
            .filter(|p| !p.starts_with("log: "))
            .collect();
        assert!(own.is_empty(), "the page itself complained: {own:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_follows_a_broker_kill_and_its_return() {
    bounded(async {
        let (scene, topics) = Scene::start(3, &[("orders", 8), ("payments", 8)]).await;
        let chrome = &scene.chrome;
        // Something to see: records on both topics, and a group reading one.
        let producer = producer(&scene.cluster, "all");
        let name = scene.view.clients.producer_created("all");
        for i in 0..60 {
            let topic = &topics[i % 2];
            let value = format!("order-{i}");
            send(&producer, topic, &value, &value).await.expect("acked");
            scene.view.clients.sent(&name, &value, Ok(()));
        }
        let group = unique("billing");
        let members = [
            Member::start(&scene.cluster.bootstrap(), &topics[0], &group, &[], false),
            Member::start(&scene.cluster.bootstrap(), &topics[0], &group, &[], false),
        ];
        wait_for(
            "both members to own partitions",
            Duration::from_secs(20),
            || members.iter().map(|m| m.assignment().len()).collect::<Vec<_>>(),
            |sizes| sizes.iter().sum::<usize>() == 8 && sizes.iter().all(|n| *n > 0),
        )
        .await;
        wait_for(
            "the members to read the 30 records of the first topic",
            Duration::from_secs(20),
            || members.iter().map(|m| m.received().len()).sum::<usize>(),
            |n| *n >= 30,
        )
        .await;
        chrome
            .wait_js(
                "the group's committed offsets on the page",
                Duration::from_secs(10),
                &format!(
                    "document.querySelectorAll('[data-group=\"' + {} + '\"] [data-group-partition]').length",
                    json!(group)
                ),
                |v| v.as_u64() > Some(0),
            )
            .await;
        chrome
            .wait_js(
                "the group to be drawn stable with both members",
                Duration::from_secs(10),
                &format!(
                    "(() => {{ const g = document.querySelector('[data-group=\"' + {} + '\"]'); \
                     return g ? g.dataset.groupState + ':' + g.querySelectorAll('[data-member]').length : ''; }})()",
                    json!(group)
                ),
                |v| v == "Stable:2",
            )
            .await;
        scene.screenshot("view-healthy").await;

        // Kill broker 2: down at once, and no partition led by it once the controller fenced it.
        let session_timeout = kafka_sandbox::config::Timings::sandbox_defaults().broker_session_timeout;
        let killed = Instant::now();
        scene.view.control().kill(2).await.unwrap();
        chrome
            .wait_js(
                "broker 2 drawn down, fenced, leading nothing",
                session_timeout + Duration::from_secs(1),
                "(() => { const b = document.querySelector('[data-broker=\"2\"]'); \
                 return [b.dataset.state, b.dataset.fenced, \
                 document.querySelectorAll('[data-partition][data-leader=\"2\"]').length]; })()",
                |v| v == &json!(["down", "true", 0]),
            )
            .await;
        eprintln!("broker 2 drawn down and leaderless after {:?}", killed.elapsed());
        // The timeline names the fault and the elections it caused.
        let kinds = chrome
            .wait_js(
                "the kill and a leader election on the timeline",
                Duration::from_secs(3),
                "[...document.querySelectorAll('#events [data-kind]')].map(r => r.dataset.kind + '|' + r.textContent)",
                |v| {
                    let rows: Vec<&str> = v.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    rows.iter().any(|r| r.starts_with("fault|") && r.contains("kill broker 2"))
                        && rows.iter().any(|r| r.starts_with("leader_elected|"))
                },
            )
            .await;
        let seqs = chrome
            .eval("[...document.querySelectorAll('#events [data-seq]')].map(r => Number(r.dataset.seq))")
            .await;
        let seqs: Vec<u64> = seqs.as_array().unwrap().iter().filter_map(Value::as_u64).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] > w[1]),
            "newest first, no repeats: {seqs:?}\n{kinds}"
        );
        assert!(seqs.len() <= 300, "the timeline is bounded");
        let urp = chrome
            .wait_js(
                "UnderReplicatedPartitions above 0 and its change since the kill",
                Duration::from_secs(5),
                "(() => { const m = document.querySelector('[data-metric=UnderReplicatedPartitions]'); \
                 return [Number(m.dataset.value), m.querySelector('.delta')?.textContent ?? '']; })()",
                |v| v[0].as_u64() > Some(0),
            )
            .await;
        assert!(urp[1].as_str().unwrap().starts_with('+'), "{urp}");
        let flagged = chrome
            .eval("document.querySelectorAll('[data-partition][data-urp=\"true\"]').length")
            .await;
        assert!(flagged.as_u64() > Some(0), "under-replicated rows are flagged");
        scene.screenshot("view-broker-down").await;

        // Start it again: up, unfenced, back in every ISR.
        scene.view.control().start(2).await.unwrap();
        chrome
            .wait_js(
                "broker 2 drawn up and unfenced",
                Duration::from_secs(15),
                "(() => { const b = document.querySelector('[data-broker=\"2\"]'); return [b.dataset.state, b.dataset.fenced]; })()",
                |v| v == &json!(["up", "false"]),
            )
            .await;
        chrome
            .wait_js(
                "no partition under-replicated",
                Duration::from_secs(20),
                "document.querySelectorAll('[data-partition][data-urp=\"true\"]').length",
                |v| v == &json!(0),
            )
            .await;
        // Preferred leaders come back at the next imbalance check: broker 2 leads again.
        chrome
            .wait_js(
                "broker 2 to lead again",
                Duration::from_secs(10),
                "document.querySelectorAll('[data-partition][data-leader=\"2\"]').length",
                |v| v.as_u64() > Some(0),
            )
            .await;
        scene.screenshot("view-recovered").await;
        scene.assert_no_problems();
        drop(members);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_members_assignment_on_the_page_is_what_the_coordinator_describes() {
    bounded(async {
        let (scene, topics) = Scene::start(3, &[("shared", 8)]).await;
        let (chrome, topic) = (&scene.chrome, &topics[0]);
        let group = unique("pair");
        let bootstrap = scene.cluster.bootstrap();
        let members = [
            Member::start(&bootstrap, topic, &group, &[], false),
            Member::start(&bootstrap, topic, &group, &[], false),
        ];
        wait_for(
            "the rebalance to give both members partitions",
            Duration::from_secs(20),
            || {
                members
                    .iter()
                    .map(|m| m.assignment().len())
                    .collect::<Vec<_>>()
            },
            |sizes| sizes.iter().sum::<usize>() == 8 && sizes.iter().all(|n| *n > 0),
        )
        .await;
        let admin = Admin::new(&bootstrap);
        let page_js = format!(
            "[...document.querySelectorAll('[data-group=\"' + {} + '\"] [data-member]')]\
             .map(m => [m.dataset.memberId, m.dataset.assignment])",
            json!(group)
        );
        // Both sides are read afresh on each look, until they agree on two members sharing
        // all eight partitions.
        let agreed = wait_for_async(
            "the page's assignment to match DescribeGroups",
            Duration::from_secs(15),
            || async {
                let described = admin.describe_group(&group).await.ok().map(|seen| {
                    seen.value
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut parts = m.assignment;
                            parts.sort();
                            let key = parts
                                .iter()
                                .map(|(t, p)| format!("{t}:{p}"))
                                .collect::<Vec<_>>()
                                .join(",");
                            (m.member_id, key)
                        })
                        .collect::<BTreeSet<_>>()
                });
                let page: BTreeSet<(String, String)> = chrome
                    .eval(&page_js)
                    .await
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        (
                            m[0].as_str().unwrap_or("").to_string(),
                            m[1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                (described, page)
            },
            |(described, page)| {
                described.as_ref() == Some(page)
                    && page.len() == 2
                    && page
                        .iter()
                        .map(|(_, a)| a.split(',').filter(|s| !s.is_empty()).count())
                        .sum::<usize>()
                        == 8
            },
        )
        .await;
        // And it is what the members themselves hold.
        let held: BTreeSet<BTreeSet<i32>> = members.iter().map(Member::assignment).collect();
        let drawn: BTreeSet<BTreeSet<i32>> = agreed
            .1
            .iter()
            .map(|(_, a)| {
                a.split(',')
                    .map(|tp| tp.rsplit_once(':').unwrap().1.parse().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(held, drawn);
        let state = chrome
            .eval(&format!(
                "document.querySelector('[data-group=\"' + {} + '\"]').dataset.groupState",
                json!(group)
            ))
            .await;
        assert_eq!(state, json!("Stable"));
        scene.assert_no_problems();
        drop(members);
    })
    .await;
}
