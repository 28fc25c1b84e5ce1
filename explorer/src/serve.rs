//! `alloc-explore serve`: one page on 127.0.0.1, and `POST /api/run`.
//! Requests are queued: one build at a time, in arrival order.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::explore::explore;
use crate::scratch::Settings;

/// The page: HTML, CSS and script in one file, embedded in the binary.
const PAGE: &str = include_str!("page.html");

/// The largest snippet accepted, in bytes.
pub const MAX_SNIPPET: usize = 64 * 1024;

#[derive(Clone)]
struct App {
    settings: Arc<Settings>,
    /// Held while a snippet is built and run: tokio's mutex is fair, so
    /// waiting requests go in arrival order.
    queue: Arc<Mutex<()>>,
}

/// The body of `POST /api/run`.
#[derive(Debug, Deserialize)]
pub struct RunRequest {
    /// The snippet.
    pub code: String,
}

/// Serves the page on `127.0.0.1:port` (0: a free port) until killed;
/// prints the address it listens on.
///
/// # Errors
///
/// The runtime could not start or the port could not be bound.
pub fn serve(settings: Settings, port: u16) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        let addr = listener.local_addr()?;
        println!("alloc-explore: listening on http://{addr}/ (it runs the code it is given)");
        let app = App {
            settings: Arc::new(settings),
            queue: Arc::new(Mutex::new(())),
        };
        let router = Router::new()
            .route("/", get(page))
            .route("/api/run", post(run))
            .with_state(app);
        axum::serve(listener, router).await
    })
}

async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Html(PAGE),
    )
        .into_response()
}

async fn run(State(app): State<App>, Json(req): Json<RunRequest>) -> Response {
    if req.code.len() > MAX_SNIPPET {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("snippets are limited to {MAX_SNIPPET} bytes"),
        )
            .into_response();
    }
    let _turn = app.queue.lock().await;
    let settings = Arc::clone(&app.settings);
    match tokio::task::spawn_blocking(move || explore(&req.code, &settings)).await {
        Ok(Ok(report)) => Json(report).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
