//! Health probes (`/healthz`: the process runs; `/readyz`: every watch listed once) and the
//! Prometheus endpoint (`/metrics`).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

use super::summary::Summary;
use super::watch::Synced;

/// Readiness state.
#[derive(Debug, Default)]
pub struct Health {
    synced: OnceLock<Arc<Synced>>,
}

impl Health {
    /// Hands the watches' sync tracker over (once leading).
    pub fn set_synced(&self, synced: Arc<Synced>) {
        let _ = self.synced.set(synced);
    }

    /// Whether the controller is ready: leading and every watch listed once. A replica waiting
    /// for the Lease is not ready (it serves nothing) but is healthy.
    pub fn ready(&self) -> bool {
        self.synced.get().is_some_and(|s| s.all())
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    if health.ready() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// What `/metrics` exposes: the registry's families, then the summaries it cannot hold.
#[derive(Clone)]
pub struct Exposition {
    /// Every counter, gauge and histogram.
    pub registry: Arc<Registry>,
    /// Upstream's summaries (see `summary.rs`).
    pub summaries: Vec<Arc<Summary>>,
}

impl Exposition {
    /// The OpenMetrics text of everything.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        use prometheus_client::encoding::text;
        let mut body = String::new();
        text::encode_registry(&mut body, &self.registry)?;
        let now = std::time::Instant::now();
        for s in &self.summaries {
            s.encode(&mut body, now)?;
        }
        text::encode_eof(&mut body)?;
        Ok(body)
    }
}

async fn metrics(State(exposition): State<Exposition>) -> impl IntoResponse {
    match exposition.encode() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Starts the two servers; the bound addresses are logged (port 0 picks one).
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    exposition: Exposition,
    health: Arc<Health>,
) -> anyhow::Result<()> {
    let m = tokio::net::TcpListener::bind(metrics_addr).await?;
    let h = tokio::net::TcpListener::bind(health_addr).await?;
    tracing::info!(metrics = %m.local_addr()?, health = %h.local_addr()?, "serving metrics and health probes");
    let metrics_app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(exposition);
    let health_app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(m, metrics_app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(h, health_app).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });
    Ok(())
}
