//! The web console: server-rendered HTML pages on the daemon's HTTP listener (`/`, `/alerts`,
//! `/alerts/{id}`, `/blocks`, `/containers`, `/sbom`, `/rules`), a live alert stream (`/live`,
//! server-sent events), and the operator's mutations (unblock, block, restore), which need the
//! token of `[console] token_file` — as `Authorization: Bearer`, or through a session opened with
//! it (`/login`) and a per-session CSRF field. Every mutation is audited as an `ActionEvent` whose
//! `target.user` names the actor. Pages are hand-written HTML (`html.rs`, `pages.rs`); the two
//! small scripts and the style sheet are embedded with `include_str!` and served from `/assets/`;
//! every response carries a Content-Security-Policy without inline scripts or styles.

mod auth;
mod html;
mod live;
mod mutate;
mod pages;
pub(crate) mod request;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use ironpost_config::ConsoleConfig;
use ironpost_core::config::StorageConfig;
use ironpost_core::metrics::{self, prometheus};
use ironpost_core::{ActionEvent, AlertEvent, BoxFuture, Health, Module, ModuleError};
use ironpost_ebpf_engine::EngineHandle;
use ironpost_store::{StoreError, StoreReader};
use tokio::sync::{OnceCell, mpsc, watch};

use crate::shared::Shared;

pub(crate) use auth::Token;
pub(crate) use live::Hub;

/// The Content-Security-Policy of every console response: scripts, styles and everything else
/// only from this origin, no inline script or style, no framing, forms post only here.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Largest form body a mutation accepts.
const FORM_LIMIT: usize = 4096;

/// How often the traffic sampler reads the XDP engine's counters, and how many samples it keeps
/// (one hour).
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const SAMPLES: usize = 360;

/// Counters of the console (`ironpost_console_*`).
pub(crate) struct ConsoleMetrics {
    pub(crate) live_clients: prometheus::IntGauge,
    pub(crate) live_dropped: prometheus::IntCounter,
    pub(crate) live_refused: prometheus::IntCounter,
    pub(crate) refused: prometheus::IntCounterVec,
    pub(crate) mutations: prometheus::IntCounterVec,
}

impl ConsoleMetrics {
    fn new(r: &prometheus::Registry) -> Self {
        ConsoleMetrics {
            live_clients: metrics::int_gauge(
                r,
                "console_live_clients",
                "Live-stream (SSE) clients connected to the web console.",
            ),
            live_dropped: metrics::int_counter(
                r,
                "console_live_clients_dropped_total",
                "Live-stream clients disconnected because they fell console.live_queue events behind.",
            ),
            live_refused: metrics::int_counter(
                r,
                "console_live_clients_refused_total",
                "Live-stream clients refused (503) because console.live_clients were connected.",
            ),
            refused: metrics::int_counter_vec(
                r,
                "console_requests_refused_total",
                "Console requests refused: no or a wrong credential, a failed CSRF or Origin check, a bad form.",
                &["reason"],
            ),
            mutations: metrics::int_counter_vec(
                r,
                "console_mutations_total",
                "Mutations made from the web console, by action and outcome.",
                &["action", "outcome"],
            ),
        }
    }
}

/// One sample of the XDP engine's counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrafficSample {
    pub(crate) at: DateTime<Utc>,
    pub(crate) packets: u64,
    pub(crate) drops: u64,
}

/// Where the console runs, from other sections of the config.
#[derive(Debug, Clone, Default)]
pub(crate) struct Site {
    /// `[http] tls_cert` is set.
    pub(crate) tls: bool,
    /// This daemon's fleet node name (`fleet.node_name` or the host name).
    pub(crate) node: String,
    /// The fleet's central role.
    pub(crate) central: bool,
}

/// What the console's handlers share (one per daemon, in `Shared::console`).
pub(crate) struct Console {
    pub(crate) cfg: ConsoleConfig,
    /// The listener speaks TLS (`[http] tls_cert`): cookies are `Secure`, origins `https://`.
    pub(crate) tls: bool,
    /// This daemon's fleet node name (the `node` column of its own alerts).
    pub(crate) node: String,
    /// Fleet central role: the store holds every node's alerts; lists show a Node column.
    pub(crate) central: bool,
    storage: StorageConfig,
    pub(crate) data_dir: PathBuf,
    reader: OnceCell<StoreReader>,
    /// Read from `token_file` when the module starts.
    pub(crate) token: OnceLock<Option<Token>>,
    pub(crate) sessions: auth::Sessions,
    pub(crate) hub: Hub,
    /// Where audit records of mutations go (the bus's actions channel).
    pub(crate) actions: mpsc::Sender<ActionEvent>,
    pub(crate) metrics: ConsoleMetrics,
    pub(crate) traffic: Mutex<VecDeque<TrafficSample>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    pub(crate) fn new(
        cfg: ConsoleConfig,
        site: Site,
        storage: StorageConfig,
        data_dir: PathBuf,
        registry: &prometheus::Registry,
        actions: mpsc::Sender<ActionEvent>,
    ) -> Arc<Console> {
        let metrics = ConsoleMetrics::new(registry);
        Arc::new(Console {
            hub: Hub::new(cfg.live_clients, cfg.live_queue),
            sessions: auth::Sessions::new(Duration::from_secs(cfg.session_ttl_secs)),
            cfg,
            tls: site.tls,
            node: site.node,
            central: site.central,
            storage,
            data_dir,
            reader: OnceCell::new(),
            token: OnceLock::new(),
            actions,
            metrics,
            traffic: Mutex::new(VecDeque::with_capacity(SAMPLES)),
        })
    }

    /// The store, opened read-only on first use (a failure is retried at the next request).
    pub(crate) async fn reader(&self) -> Result<&StoreReader, StoreError> {
        self.reader
            .get_or_try_init(|| StoreReader::open(&self.storage, &self.data_dir))
            .await
    }

    /// The operator token, when `token_file` is set and was read.
    pub(crate) fn token(&self) -> Option<&Token> {
        self.token.get().and_then(Option::as_ref)
    }

    /// Hands an alert to the live clients (the alert router calls this for every alert).
    pub(crate) fn publish(&self, alert: &AlertEvent) {
        self.hub.publish(alert, &self.node, &self.metrics);
    }

    /// Hands another fleet node's alert to the live clients (the central role's ingest calls
    /// this once the alert is queued for the store).
    pub(crate) fn publish_remote(&self, node: &str, alert: &AlertEvent) {
        self.hub.publish(alert, node, &self.metrics);
    }

    /// Ends every live stream (shutdown).
    pub(crate) fn close_live(&self) {
        self.hub.close_all(&self.metrics);
    }

    pub(crate) fn traffic(&self) -> Vec<TrafficSample> {
        lock(&self.traffic).iter().copied().collect()
    }

    fn sample(&self, engine: &EngineHandle) {
        let Ok(stats) = engine.stats() else {
            return;
        };
        let Some(total) = stats.traffic.get("total") else {
            return;
        };
        let mut q = lock(&self.traffic);
        if q.len() == SAMPLES {
            q.pop_front();
        }
        q.push_back(TrafficSample {
            at: Utc::now(),
            packets: total.packets,
            drops: total.drops,
        });
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Samples the XDP engine's counters every `SAMPLE_EVERY` until `stop` (the overview's rates).
pub(crate) async fn sample_traffic(
    console: Arc<Console>,
    engine: EngineHandle,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => console.sample(&engine),
            _ = ironpost_proto::server::stopped(&mut stop) => return,
        }
    }
}

/// The console as a module: `start` reads the token file (an unreadable, short or
/// group/world-readable file stops the daemon from starting); health says whether mutations are
/// possible.
pub(crate) struct ConsoleModule(pub(crate) Arc<Console>);

impl Module for ConsoleModule {
    fn name(&self) -> &'static str {
        "console"
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            let token = match &self.0.cfg.token_file {
                None => None,
                Some(path) => {
                    Some(Token::read(path).map_err(|e| ModuleError::start("console", e))?)
                }
            };
            let _ = self.0.token.set(token);
            Ok(())
        })
    }

    fn stop(&mut self) -> BoxFuture<'_, Result<(), ModuleError>> {
        Box::pin(async move {
            self.0.hub.close_all(&self.0.metrics);
            Ok(())
        })
    }

    fn health(&self) -> Health {
        Health::Healthy
    }
}

fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: with `no-referrer` a browser sends `Origin: null` on a form
    // POST, which the Origin check refuses.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// The console's routes, to merge into the HTTP listener's router.
pub(crate) fn router(app: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/alerts", get(pages::alerts))
        .route("/alerts/{id}", get(pages::alert_detail))
        .route("/blocks", get(pages::blocks))
        .route("/containers", get(pages::containers))
        .route("/sbom", get(pages::sbom))
        .route("/rules", get(pages::rules))
        .route("/live", get(live::stream))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/login/{ticket}", get(auth::login_ticket))
        .route("/logout", post(auth::logout))
        .route("/blocks/unblock", post(mutate::unblock))
        .route("/blocks/add", post(mutate::block))
        .route("/containers/restore", post(mutate::restore))
        .route("/assets/console.css", get(html::css))
        .route("/assets/console.js", get(html::js))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(axum::middleware::map_response(|r: Response| async move {
            security_headers(r)
        }))
        .with_state(app)
}
