//! A headless Chromium driven over the Chrome DevTools Protocol: launching it in a process
//! group of its own, sending commands and evaluating JavaScript on its page, collecting console
//! errors and exceptions, and killing it with its helpers on drop.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::util::wait_for_async;

/// How long one DevTools command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Chromium may take to start listening.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);

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
