//! What a page test starts from: an embedded cluster with its View and web server, and a
//! browser on the page; and how to read the partition rows the page draws.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sandbox::view::{web, View};
use serde_json::{json, Value};

use super::browser::Chrome;
use crate::util::*;

/// The screenshots' viewport: a laptop screen's width.
const VIEWPORT: (u32, u32) = (1366, 900);

/// An embedded cluster with its View and web server, and a browser on the page.
pub(super) struct Scene {
    pub(super) chrome: Chrome,
    // Fields drop in declaration order: the browser first, then the server, then the cluster.
    pub(super) server: Option<web::WebServer>,
    pub(super) view: Arc<View>,
    pub(super) cluster: TestCluster,
}

impl Scene {
    pub(super) async fn start(brokers: i32, topics: &[(&str, i32)]) -> (Scene, Vec<String>) {
        let cluster = TestCluster::start(brokers).await;
        let view = View::start(cluster.control(), Instant::now());
        let server = web::serve(view.clone(), 0).expect("the view starts on a free port");
        let mut names = Vec::new();
        for (prefix, partitions) in topics {
            let name = unique(prefix);
            create_topic(&cluster, &name, *partitions, 3.min(brokers), &[]).await;
            names.push(name);
        }
        let chrome = Chrome::launch().await;
        chrome.viewport(VIEWPORT.0, VIEWPORT.1).await;
        chrome.open(&server.url()).await;
        (
            Scene {
                chrome,
                server: Some(server),
                view,
                cluster,
            },
            names,
        )
    }

    /// Fails with every console error and exception the page produced so far.
    pub(super) fn assert_no_problems(&self) {
        let problems = self.chrome.problems();
        assert!(
            problems.is_empty(),
            "the page logged errors:\n{}",
            problems.join("\n")
        );
    }

    /// Writes a screenshot to docs/screenshots when `KAFKA_SANDBOX_SCREENSHOTS=1`.
    pub(super) async fn screenshot(&self, name: &str) {
        if std::env::var("KAFKA_SANDBOX_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        // Let a just-changed state reach the DOM and the timeline settle before the picture.
        self.chrome
            .wait_js(
                "the timeline to be drawn",
                Duration::from_secs(5),
                "document.querySelectorAll('#events li').length",
                |v| v.as_u64().unwrap_or(0) > 0,
            )
            .await;
        let png = self.chrome.screenshot().await;
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// Every partition row of `topic` on the page: (partition, leader, isr).
pub(super) const ROWS_JS: &str = r#"(topic) => [...document.querySelectorAll('tr[data-partition]')]
    .filter(r => r.dataset.topic === topic)
    .map(r => [Number(r.dataset.partition), Number(r.dataset.leader), r.dataset.isr])"#;

/// What the cluster says about `topic`, in the shape of [`rows`].
pub(super) fn expected_rows(cluster: &TestCluster, topic: &str) -> Value {
    let snapshot = cluster.snapshot();
    let t = snapshot.topic(topic).expect("the topic exists");
    Value::Array(
        t.partitions
            .iter()
            .map(|p| {
                json!([
                    p.partition,
                    p.leader_id(),
                    p.isr_ids()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ])
            })
            .collect(),
    )
}
