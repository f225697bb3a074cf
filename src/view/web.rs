//! The live view's HTTP server, on 127.0.0.1 only: the page (plain HTML, SVG and JavaScript
//! compiled into the binary: no build step, no CDN, works offline), `GET /api/state` (what the
//! page draws), `GET /api/state/stream` (the same document as server-sent events, a fresh one
//! every 400 ms: what the open page follows), `GET /api/events` (the timeline as server-sent
//! events, replayed from the start on connect) and `GET /metrics` (Prometheus text).
//!
//! It runs on the session's runtime and never holds anything a broker needs: state is read
//! from snapshots, events come from a bounded broadcast that drops the oldest for a reader
//! that falls behind, so a stalled tab slows nobody.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use super::View;

const INDEX_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/page.js");
const PAGE_CSS: &str = include_str!("page/page.css");

/// How long `/metrics` waits for a fresh groups answer (for the lag) before using the last.
const METRICS_GROUPS_WAIT: Duration = Duration::from_secs(3);

/// How often `/api/state/stream` sends the state: a change shows on the page within this,
/// inside the half second the view promises.
const STATE_EVERY: Duration = Duration::from_millis(400);

/// Why the view could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The port is taken or not ours to bind.
    #[error("cannot listen on {addr} for the view: {cause}; pick another port with --web PORT (0 for any free port), or turn the view off with --no-web")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        cause: std::io::Error,
    },
}

/// The running server; dropping it stops it.
pub struct WebServer {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl WebServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's address, as printed at start.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts serving `view` on 127.0.0.1:`port` (0: any free port). Call inside the runtime.
pub fn serve(view: Arc<View>, port: u16) -> Result<WebServer, WebError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let bind = || -> std::io::Result<tokio::net::TcpListener> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(listener)
    };
    let listener = bind().map_err(|cause| WebError::Bind { addr, cause })?;
    let addr = listener
        .local_addr()
        .map_err(|cause| WebError::Bind { addr, cause })?;
    let stop = CancellationToken::new();
    let app = router(view, stop.clone());
    let until = stop.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { until.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!("the view's HTTP server stopped: {e}");
        }
    });
    Ok(WebServer { addr, stop })
}

#[derive(Clone)]
struct App {
    view: Arc<View>,
    stop: CancellationToken,
}

fn router(view: Arc<View>, stop: CancellationToken) -> Router {
    Router::new()
        .route("/", get(index))
        .route(
            "/page.js",
            get(|| async { asset(PAGE_JS, "text/javascript") }),
        )
        .route("/page.css", get(|| async { asset(PAGE_CSS, "text/css") }))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/state", get(api_state))
        .route("/api/state/stream", get(api_state_stream))
        .route("/api/events", get(api_events))
        .route("/metrics", get(metrics))
        .with_state(App { view, stop })
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

async fn api_state(State(app): State<App>) -> Response {
    let state = app.view.state();
    ([(header::CACHE_CONTROL, "no-store")], Json(state)).into_response()
}

/// `/api/state` as server-sent events (`event: state`): one at once, then one every
/// [`STATE_EVERY`]. An open page follows this instead of polling, so the browser does not
/// make a request (and the cluster answer one) several times a second. A state is computed
/// only when the connection has taken the previous one, so a stalled tab holds no backlog:
/// it gets the newest state when it reads again.
async fn api_state_stream(
    State(app): State<App>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let mut every = tokio::time::interval(STATE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let view = app.view.clone();
    let states = stream::unfold((every, view, true), |(mut every, view, first)| async move {
        every.tick().await;
        let json = serde_json::to_string(&view.state()).unwrap_or_else(|_| "{}".into());
        let mut event = SseEvent::default().event("state").data(json);
        if first {
            // Reconnect soon after the sandbox comes back (the browser's default is 3 s).
            event = event.retry(Duration::from_secs(1));
        }
        Some((Ok(event), (every, view, false)))
    });
    let stop = app.stop.clone();
    Sse::new(states.take_until(async move { stop.cancelled().await }))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}

async fn metrics(State(app): State<App>) -> Response {
    let _ = tokio::time::timeout(METRICS_GROUPS_WAIT, app.view.refresh_groups()).await;
    let text = app.view.figures_cached().prometheus();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The timeline so far, then each new event as it is recorded. Each SSE event carries the
/// event's JSON and its sequence number as the id. A reader that falls too far behind is
/// told how many it missed (`event: lagged`) and goes on from the newest.
async fn api_events(
    State(app): State<App>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (replayed, live) = app.view.timeline.subscribe();
    let replay = stream::iter(replayed).map(|e| Ok(to_sse(&e)));
    let live = BroadcastStream::new(live).map(|item| {
        Ok(match item {
            Ok(e) => to_sse(&e),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                SseEvent::default().event("lagged").data(missed.to_string())
            }
        })
    });
    let stop = app.stop.clone();
    let stream = replay
        .chain(live)
        .take_until(async move { stop.cancelled().await });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}

fn to_sse(event: &super::timeline::Event) -> SseEvent {
    let json = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    SseEvent::default().id(event.seq.to_string()).data(json)
}
