//! What the view costs: produce throughput with nothing open, beside an empty headless
//! Chromium, and with the view's page open in it.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sandbox::backend::embedded::EmbeddedCluster;
use kafka_sandbox::backend::ClusterControl;
use kafka_sandbox::config::ClusterConfig;

use crate::throughput::produce_flat_out;
use crate::{create, median};

/// A headless Chromium showing the view's page (it follows `/api/state/stream` and
/// `/api/events` like any open tab). `None` if Chromium is not installed.
struct Browser(std::process::Child, std::path::PathBuf);

impl Browser {
    fn open(url: &str) -> Option<Self> {
        let profile =
            std::env::temp_dir().join(format!("kafka-sandbox-bench-{}", std::process::id()));
        let child = std::process::Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                &format!("--user-data-dir={}", profile.display()),
                url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that closing it ends its renderers too.
            .process_group(0)
            .spawn()
            .ok()?;
        Some(Browser(child, profile))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this bench started.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// What is open beside the producer in one run of [`view_overhead`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Beside {
    /// Nothing: the view serves, nobody looks.
    Nothing,
    /// Headless Chromium on `about:blank`: what a browser costs by being there.
    BlankBrowser,
    /// Headless Chromium showing the view's page.
    Page,
}

/// Produce throughput with nothing open, with an empty browser, and with the view's page open
/// (the view itself runs in all three, as in every session). One warm-up run is not counted;
/// then rounds that rotate the three, so drift on a shared machine hits each alike. Returns
/// the medians in MB/s (nothing, blank browser, page) and whether Chromium was there (else an
/// HTTP client follows the state stream like the page does, and the blank arm equals nothing).
async fn view_overhead(messages: u64, rounds: usize) -> ([f64; 3], bool) {
    let arms = [Beside::Nothing, Beside::BlankBrowser, Beside::Page];
    let mut figures: [Vec<f64>; 3] = Default::default();
    let mut real_browser = true;
    for run in 0..=rounds * 3 {
        let arm = if run == 0 {
            Beside::Nothing
        } else {
            let round = (run - 1) / 3;
            arms[((run - 1) + round) % 3]
        };
        let cluster = Arc::new(
            EmbeddedCluster::start(ClusterConfig::default())
                .await
                .expect("start"),
        );
        let control: Arc<dyn ClusterControl> = cluster.clone();
        let view = kafka_sandbox::view::View::start(control, Instant::now());
        let server = kafka_sandbox::view::web::serve(view.clone(), 0).expect("view");
        assert!(create(&cluster.bootstrap(), "throughput", 8).await);
        let mut browser = None;
        let mut poller = None;
        if arm != Beside::Nothing {
            let url = if arm == Beside::Page {
                server.url()
            } else {
                "about:blank".to_string()
            };
            browser = Browser::open(&url);
            if browser.is_none() {
                real_browser = false;
                if arm == Beside::Page {
                    poller = Some(tokio::spawn(follow_like_the_page(server.addr())));
                }
            }
            // Let the browser start and the page load and settle into following before the
            // clock starts: the figure is what an open page costs, not a browser's start-up.
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        let (_, mbps) = produce_flat_out(cluster.bootstrap(), messages).await;
        drop(browser);
        if let Some(p) = poller {
            p.abort();
        }
        drop(server);
        cluster.shutdown().await;
        if run > 0 {
            figures[arms.iter().position(|a| *a == arm).expect("an arm")].push(mbps);
        }
    }
    println!(
        "  view: nothing {:.1?} MB/s, blank browser {:.1?} MB/s, page {:.1?} MB/s",
        figures[0], figures[1], figures[2]
    );
    let [a, b, c] = figures;
    ([median(a), median(b), median(c)], real_browser)
}

/// What an open page does, without a browser: follow `/api/state/stream`, reading each state.
async fn follow_like_the_page(addr: std::net::SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /api/state/stream HTTP/1.1\r\nHost: x\r\n\r\n")
                .await;
            let mut buf = vec![0u8; 64 << 10];
            while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

pub fn view_figures(rt: &tokio::runtime::Runtime, messages: u64) {
    // Long enough runs that the page draws a few dozen states while the producer runs.
    let rounds = 4;
    let ([nothing, blank, page], browser) = rt.block_on(view_overhead(messages * 4, rounds));
    let change = |to: f64, from: f64| (to / from - 1.0) * 100.0;
    if browser {
        println!(
            "view: produce {nothing:.1} MB/s with nothing open, {blank:.1} MB/s beside an empty headless Chromium ({:+.1} %), {page:.1} MB/s with the page open in it ({:+.1} % against nothing, {:+.1} % against the empty browser); medians of {rounds} rotated runs each, after a warm-up run",
            change(blank, nothing),
            change(page, nothing),
            change(page, blank)
        );
    } else {
        println!(
            "view: produce {nothing:.1} MB/s with nothing following, {page:.1} MB/s with an HTTP client following /api/state/stream like the page ({:+.1} %; no Chromium installed); medians of {rounds} rotated runs each",
            change(page, nothing)
        );
    }
}
