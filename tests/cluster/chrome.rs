//! The live page in a real browser: headless Chromium driven over the Chrome DevTools
//! Protocol, against an embedded cluster, its View and the web server in this process. The
//! tests read the page's DOM (the `data-*` attributes it draws) and compare it with the
//! cluster, and fail on any console error or uncaught exception.
//!
//! With `KAFKA_SANDBOX_SCREENSHOTS=1` the broker-kill test also writes
//! `docs/screenshots/view-{healthy,broker-down,recovered}.png` (1366x900).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use kafka_sandbox::client::admin::Admin;
use kafka_sandbox::view::{web, View};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::members::Member;
use crate::util::*;

/// How long one DevTools command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Chromium may take to start listening.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// The screenshots' viewport: a laptop screen's width.
const VIEWPORT: (u32, u32) = (1366, 900);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// The browser to run: `KAFKA_SANDBOX_CHROMIUM`, else `chromium` on the PATH.
fn chromium_path() -> PathBuf {
    if let Some(path) = std::env::var_os("KAFKA_SANDBOX_CHROMIUM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the browser tests need Chromium, and `chromium` is not on the PATH: install Debian's \
             `chromium` package (apt-get install chromium; .ci/run does) or point \
             KAFKA_SANDBOX_CHROMIUM at a Chromium binary"
        )
    })
}

/// A headless Chromium with one page open, driven over the DevTools protocol. Dropping it
/// kills the browser's whole process group and removes its profile directory, also while a
/// failing test unwinds.
pub struct Chrome {
    child: Child,
    profile: PathBuf,
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    pending: Pending,
    next_id: AtomicU64,
    session: String,
    problems: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Chrome {
    /// Starts Chromium and opens a blank page with Runtime, Log and Page events on.
    pub async fn launch() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let binary = chromium_path();
        let profile = std::env::temp_dir().join(format!(
            "kafka-sandbox-chrome-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&profile).expect("a profile directory for Chromium");
        let mut command = Command::new(&binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        own_process_group(&mut command);
        let mut child = command.spawn().unwrap_or_else(|e| {
            let _ = std::fs::remove_dir_all(&profile);
            panic!(
                "cannot start {}: {e}; install Debian's `chromium` package",
                binary.display()
            )
        });
        // Chromium prints where it listens on stderr; the thread keeps draining stderr so
        // the browser never blocks on a full pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, listening) = std::sync::mpsc::channel::<String>();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    if line.contains("DevTools listening on") {
                        let _ = found.send(line[at..].trim().to_string());
                    }
                }
                let mut seen = seen.lock().unwrap();
                if seen.len() < 50 {
                    seen.push(line);
                }
            }
        });
        let mut chrome_guard = Launching {
            child: Some(child),
            profile: profile.clone(),
        };
        let url = tokio::task::spawn_blocking(move || listening.recv_timeout(LAUNCH_TIMEOUT))
            .await
            .unwrap()
            .unwrap_or_else(|_| {
                panic!(
                    "Chromium did not say where DevTools listens within {LAUNCH_TIMEOUT:?}; its \
                     stderr:\n{}",
                    lines.lock().unwrap().join("\n")
                )
            });
        let (socket, _) =
            tokio::time::timeout(CALL_TIMEOUT, tokio_tungstenite::connect_async(url.as_str()))
                .await
                .expect("DevTools accepts a connection in time")
                .expect("DevTools websocket");
        let (sink, mut stream) = socket.split();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let (p, pr) = (pending.clone(), problems.clone());
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(id) = v["id"].as_u64() {
                    if let Some(reply) = p.lock().unwrap().remove(&id) {
                        let outcome = match v.get("error") {
                            Some(e) => Err(e.to_string()),
                            None => Ok(v["result"].clone()),
                        };
                        let _ = reply.send(outcome);
                    }
                } else if let Some(problem) = problem_in(&v) {
                    pr.lock().unwrap().push(problem);
                }
            }
        });
        let mut chrome = Chrome {
            child: chrome_guard.child.take().unwrap(),
            profile,
            sink: tokio::sync::Mutex::new(sink),
            pending,
            next_id: AtomicU64::new(1),
            session: String::new(),
            problems,
            reader,
        };
        let target = chrome
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = chrome
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        chrome.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            chrome.call(domain, json!({})).await;
        }
        chrome
    }

    /// Sends one command (to the page, once attached) and waits for its result; panics if
    /// it fails or takes longer than [`CALL_TIMEOUT`].
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.call_within(method, params, CALL_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends one command and waits `timeout` at most for its result.
    async fn call_within(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let (reply, answer) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, reply);
        self.sink
            .lock()
            .await
            .send(Message::Text(message.to_string().into()))
            .await
            .map_err(|e| format!("{method}: DevTools did not take the command: {e}"))?;
        let outcome = match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(e))) => Err(format!("{method} failed: {e}")),
            Ok(Err(_)) => Err(format!("{method}: the DevTools connection closed")),
            Err(_) => Err(format!("{method}: no answer within {timeout:?}")),
        };
        self.pending.lock().unwrap().remove(&id);
        outcome
    }

    /// Opens `url` and waits until the page has drawn its first state.
    pub async fn open(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_js(
            "the page to draw its first state",
            Duration::from_secs(10),
            "document.body?.dataset.ready === 'true'",
            |v| v == &json!(true),
        )
        .await;
    }

    /// The value of a JavaScript expression (awaited if a promise), or a panic with the
    /// exception it threw.
    pub async fn eval(&self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = result.get("exceptionDetails") {
            panic!("{expression} threw: {e}");
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until `done` holds for its value, for `timeout` at most. A look
    /// that throws or hangs (the page is navigating) counts as a string saying so; a failed
    /// wait shows the page's console errors and exceptions too.
    pub async fn wait_js(
        &self,
        what: &str,
        timeout: Duration,
        expression: &str,
        mut done: impl FnMut(&Value) -> bool,
    ) -> Value {
        let look = || async {
            let result = self
                .call_within(
                    "Runtime.evaluate",
                    json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
                    Duration::from_secs(2),
                )
                .await;
            match result {
                Ok(r) if r.get("exceptionDetails").is_some() => {
                    json!(format!("threw: {}", r["exceptionDetails"]))
                }
                Ok(r) => r["result"]["value"].clone(),
                Err(e) => json!(e),
            }
        };
        let problems = || self.problems();
        wait_for_async(what, timeout, look, |v| {
            done(v) || {
                let seen = problems();
                if !seen.is_empty() {
                    panic!(
                        "while waiting for {what}, the page logged errors:\n{}",
                        seen.join("\n")
                    );
                }
                false
            }
        })
        .await
    }

    /// Console errors, uncaught exceptions and error log entries so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    /// Sets the viewport.
    pub async fn viewport(&self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG")
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        self.reader.abort();
        stop_browser(&mut self.child, &self.profile);
    }
}

/// Owns a Chromium that has not become a [`Chrome`] yet, so a failed launch cleans up too.
struct Launching {
    child: Option<Child>,
    profile: PathBuf,
}

impl Drop for Launching {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_browser(&mut child, &self.profile);
        }
    }
}

/// Kills the browser's process group (renderers and helpers too), reaps it and removes its
/// profile.
fn stop_browser(child: &mut Child, profile: &Path) {
    // SAFETY: kill(2) on the process group this test created for the browser.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    // Helpers may still be exiting and writing; try a few times.
    for _ in 0..5 {
        if std::fs::remove_dir_all(profile).is_ok() || !profile.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The browser gets a process group of its own (so it can be killed with its helpers) and
/// dies with the test process.
fn own_process_group(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    command.process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(0);
            }
            Ok(())
        });
    }
}

/// A console error, an uncaught exception or an error log entry, in words.
fn problem_in(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.exceptionThrown" => {
            let d = &params["exceptionDetails"];
            Some(format!(
                "exception: {} {}",
                d["text"].as_str().unwrap_or(""),
                d["exception"]["description"].as_str().unwrap_or("")
            ))
        }
        "Runtime.consoleAPICalled"
            if matches!(params["type"].as_str(), Some("error" | "assert")) =>
        {
            let args: Vec<String> = params["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    a["value"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| a["description"].as_str().unwrap_or("?").to_string())
                })
                .collect();
            Some(format!("console.error: {}", args.join(" ")))
        }
        "Log.entryAdded" if params["entry"]["level"] == "error" => Some(format!(
            "log: {} ({})",
            params["entry"]["text"].as_str().unwrap_or(""),
            params["entry"]["url"].as_str().unwrap_or("")
        )),
        _ => None,
    }
}

/// An embedded cluster with its View and web server, and a browser on the page.
struct Scene {
    chrome: Chrome,
    // Fields drop in declaration order: the browser first, then the server, then the cluster.
    server: Option<web::WebServer>,
    view: Arc<View>,
    cluster: TestCluster,
}

impl Scene {
    async fn start(brokers: i32, topics: &[(&str, i32)]) -> (Scene, Vec<String>) {
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
    fn assert_no_problems(&self) {
        let problems = self.chrome.problems();
        assert!(
            problems.is_empty(),
            "the page logged errors:\n{}",
            problems.join("\n")
        );
    }

    /// Writes a screenshot to docs/screenshots when `KAFKA_SANDBOX_SCREENSHOTS=1`.
    async fn screenshot(&self, name: &str) {
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
const ROWS_JS: &str = r#"(topic) => [...document.querySelectorAll('tr[data-partition]')]
    .filter(r => r.dataset.topic === topic)
    .map(r => [Number(r.dataset.partition), Number(r.dataset.leader), r.dataset.isr])"#;

/// What the cluster says about `topic`, in the shape of [`rows`].
fn expected_rows(cluster: &TestCluster, topic: &str) -> Value {
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
