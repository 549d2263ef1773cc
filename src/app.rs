//! Wiring: database → services → Socket.IO layer + HTTP router → a bound listener. Tests call
//! `App::build` with port 0 and drive the server over real sockets.

use sea_orm::DatabaseConnection;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request};
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::auth::{self, Authenticator, ConnectionsPerIp};
use crate::broadcast::Broadcaster;
use crate::chat::ChatService;
use crate::cluster::Cluster;
use crate::config::{AuthMode, Config, CorsOrigins, JwtKey, LlmSettings, SettingError};
use crate::http::{self, ApiState};
use crate::ingest::{IngestSettings, Ingestor};
use crate::llm::{BuiltinGenerator, HttpProvider, LlmProvider, Ollama, OpenAi};
use crate::net::{GuardedListener, Peer};
use crate::retrieval::HybridRetriever;
use crate::room::{Presence, PresenceSettings, RoomService};
use crate::socket::{Adapter, Io};
use crate::{embed, engine, events, store};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A wrong setting: the operator fixes it; exit status 2.
    #[error(transparent)]
    Setting(#[from] SettingError),
}

pub struct App {
    listener: TcpListener,
    router: Router,
    io: Io,
    db: DatabaseConnection,
    chat: ChatService,
    presence: Presence,
    ingest: Ingestor,
    cluster: Cluster,
    grace: Duration,
    /// How long a connection's writes may make no progress before it is closed.
    stall_limit: Duration,
}

const INGEST_WORKERS: usize = 2;
/// At the end of a shutdown, between the last broadcast and cutting the connections.
const WRITE_SETTLE: Duration = Duration::from_millis(300);
/// Uploads waiting for (or in) ingestion at most (their bytes wait in the database).
const INGEST_QUEUE: usize = 32;

/// Bytes each websocket reads at a time. Client events are small; engineioxide's 4 KiB default
/// cost every idle connection 3 KB more (BENCHMARKS.md). A larger frame takes several reads.
const WS_READ_BUFFER: usize = 1024;

impl App {
    pub async fn build(config: Config) -> Result<App, StartError> {
        let llm = provider(&config)?;
        Self::build_with_llm(config, llm).await
    }

    /// `build` with a given model provider (tests use failing or scripted ones).
    pub async fn build_with_llm(
        config: Config,
        llm: Arc<dyn LlmProvider>,
    ) -> Result<App, StartError> {
        let cluster = Cluster::connect(&config.cluster)
            .await
            .map_err(redis_error)?;
        // Before the database: a wrong embedder stops the start with its one line.
        let embedder = embed::start(&config.embedder)
            .await
            .map_err(embedder_error)?;
        let db = store::connect_with(&config.database_url, config.db_max_connections)
            .await
            .map_err(|e| SettingError::database(format!("cannot connect: {e}")))?;
        store::migrate(&db)
            .await
            .map_err(|e| SettingError::database(format!("migrations failed: {e}")))?;
        // Alone, any `streaming` row is from an earlier stop. With other nodes it may be theirs:
        // rows of stopped nodes are taken over once their lease runs out instead.
        if !cluster.is_multi_node() {
            match store::messages::interrupt_streaming(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    n,
                    "replies left streaming by an earlier stop marked interrupted"
                ),
                Err(e) => {
                    return Err(SettingError::database(format!("cannot read messages: {e}")).into())
                }
            }
        }

        let broadcaster = Broadcaster::default();
        let chat = ChatService::new(
            db.clone(),
            Arc::new(HybridRetriever::new(
                db.clone(),
                embedder.clone(),
                config.retrieval,
            )),
            llm,
            broadcaster.clone(),
            cluster.clone(),
            config.streams,
        );
        let presence = Presence::new(
            cluster.clone(),
            broadcaster.clone(),
            PresenceSettings {
                lease: config.cluster.lease,
            },
        );
        let room = RoomService::new(db.clone(), broadcaster.clone(), presence.clone());
        let authenticator = Arc::new(authenticator(&config)?);
        let connections = ConnectionsPerIp::new(config.max_connections_per_ip);
        let ingest = Ingestor::new(
            db.clone(),
            broadcaster.clone(),
            embedder,
            cluster.node_id(),
            IngestSettings {
                workers: INGEST_WORKERS,
                queue: INGEST_QUEUE,
                chunking: config.chunking,
                pdf: config.pdf,
                pdf_extractor: config.pdf_extractor.clone(),
            },
        );

        let (socket_layer, io) = SocketIo::builder()
            .ping_interval(config.timings.ping_interval)
            .ping_timeout(config.timings.ping_timeout)
            .connect_timeout(config.timings.connect_timeout)
            .max_buffer_size(config.socket_high_water)
            .max_payload(config.max_payload)
            .ws_max_message_size(config.max_payload as usize)
            .ws_max_frame_size(config.max_payload as usize)
            .ws_read_buffer_size(WS_READ_BUFFER)
            .with_state(chat.clone())
            .with_state(room.clone())
            .with_state(authenticator.clone())
            .with_state(connections)
            .with_state(config.rates)
            .with_state(config.outbox)
            .with_state(config.trusted_proxies.clone())
            .with_state(cluster.clone())
            .with_adapter::<Adapter>(cluster.adapter_state())
            .build_layer();
        // Middlewares run last-added first: authenticate, then prepare, then the connect ack.
        io.ns(
            "/",
            events::on_connect
                .with(events::prepare)
                .with(auth::authenticate),
        )
        .await
        .map_err(|e| SettingError::redis(format!("cannot start the adapter: {e}")))?;
        let relay = cluster
            .is_multi_node()
            .then(|| Arc::new(cluster.clone()) as Arc<dyn crate::broadcast::Relay>);
        broadcaster.attach(io.clone(), relay);
        if let Some(admin) = &config.admin {
            crate::admin::start(
                &io,
                admin,
                cluster.node_name(),
                chat.clone(),
                broadcaster.clone(),
                cluster.clone(),
                config.trusted_proxies.clone(),
            )
            .await
            .map_err(|e| SettingError::new("--admin", "RAGCAST_ADMIN", e))?;
        }
        cluster
            .start(
                db.clone(),
                Arc::new(chat.clone()),
                broadcaster.clone(),
                vec![Arc::new(chat.clone()), Arc::new(ingest.clone())],
            )
            .await
            .map_err(redis_error)?;
        presence
            .start()
            .await
            .map_err(|e| SettingError::redis(format!("cannot follow presence: {e}")))?;
        // Alone, every unfinished document was cut off by an earlier stop; with other nodes,
        // only those of stopped nodes are, and the lease hands them over.
        if !cluster.is_multi_node() {
            match ingest.recover_unfinished().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(n, "documents cut off by an earlier stop ingested again"),
                Err(e) => {
                    return Err(
                        SettingError::database(format!("cannot read documents: {e}")).into(),
                    )
                }
            }
        }
        // Documents indexed without this embedder's vectors (before it was configured, or by
        // another one) are embedded again in the background.
        ingest.reembed_stale();
        if cluster.is_multi_node() {
            tracing::info!(
                node = cluster.node_name(),
                "rooms span every node through Redis"
            );
        }

        let api = http::router(ApiState {
            db: db.clone(),
            chat: chat.clone(),
            room: room.clone(),
            ingest: ingest.clone(),
            metrics: metrics_handle(cluster.node_name()),
            io: io.clone(),
            node: Arc::new(cluster.clone()),
            auth: authenticator,
        })
        .merge(admin_ui(config.admin.as_ref()))
        .merge(web_client(config.web_dir.as_deref()))
        // axum's limit (not tower-http's) so a too-large body is refused in the API's JSON error
        // format; the body is read only up to the limit.
        .layer(DefaultBodyLimit::max(config.max_body));

        let mut namespaces = vec!["/".to_owned()];
        if config.admin.is_some() {
            namespaces.push(crate::admin::NAMESPACE.to_owned());
        }
        let request_id = HeaderName::from_static("x-request-id");
        let proxies = config.trusted_proxies.clone();
        let router = api
            .layer(socket_layer)
            .layer(axum::middleware::from_fn_with_state(
                engine::PollingCap::new(config.polling_max_packets),
                engine::cap_polling_packets,
            ))
            // Before anything else sees a request for a running session.
            .layer(axum::middleware::from_fn_with_state(
                engine::SessionGuard::new(
                    io.clone(),
                    namespaces,
                    config.trusted_proxies.clone(),
                    config.timings.connect_timeout,
                ),
                engine::guard_sessions,
            ))
            .layer(axum::middleware::from_fn_with_state(
                websocket_origins(&config.cors_origins),
                engine::check_websocket_origin,
            ))
            .layer(axum::middleware::map_request(engine::detach_from_read_buffer))
            .layer(cors(&config.cors_origins))
            .layer(PropagateRequestIdLayer::new(request_id.clone()))
            .layer(
                TraceLayer::new_for_http().make_span_with(move |req: &Request<_>| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let client = req
                        .extensions()
                        .get::<axum::extract::ConnectInfo<Peer>>()
                        .map(|peer| proxies.client(peer.0.addr.ip(), req.headers()).ip);
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id, client = ?client)
                }),
            )
            .layer(SetRequestIdLayer::new(request_id, CountingRequestId::default()));

        log_effective_settings(&config);
        let listener = TcpListener::bind(config.bind).await.map_err(|e| {
            SettingError::new(
                "--bind",
                "RAGCAST_BIND",
                format!("cannot listen on {}: {e}", config.bind),
            )
        })?;
        Ok(App {
            listener,
            router,
            io,
            db,
            chat,
            presence,
            ingest,
            cluster,
            grace: config.shutdown_grace,
            stall_limit: config.timings.ping_timeout,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn chat(&self) -> &ChatService {
        &self.chat
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn ingestor(&self) -> &Ingestor {
        &self.ingest
    }

    /// Serves until `shutdown` resolves, then drains running streams, disconnects every socket
    /// and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!("listening on http://{}", self.local_addr());
        let App {
            listener,
            router,
            io,
            db,
            chat,
            presence,
            cluster,
            grace,
            stall_limit,
            ..
        } = self;
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let closing = CancellationToken::new();
        let cut_all = closing.clone();
        let stop = async move {
            shutdown.await;
            chat.drain(grace).await;
            chat.flush_broadcasts(CLOSE_TIMEOUT).await;
            presence.leave_cluster().await;
            cluster.leave(&db).await;
            // The last events are in the sockets' queues: give their writers a moment to put
            // them on the wire (a polling client's pending poll included) before the cut.
            tokio::time::sleep(WRITE_SETTLE).await;
            // Transports are cut rather than sent a Socket.IO disconnect: socket.io-client
            // reconnects after a closed transport (behind a balancer, to another process) but
            // not after a disconnect the server chose.
            cut_all.cancel();
            let sockets = io.sockets().len();
            tracing::info!(sockets, "connections closed: clients reconnect elsewhere");
            let _ = stopped_tx.send(());
        };
        // The peer address reaches the Socket.IO middleware (connections per address).
        let listener = GuardedListener::new(listener, stall_limit, closing);
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<Peer>(),
        )
        .with_graceful_shutdown(stop);
        // Idle keep-alive or half-open connections must not hold the process after shutdown.
        let deadline = async {
            if stopped_rx.await.is_ok() {
                tokio::time::sleep(CLOSE_TIMEOUT).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = server => served,
            () = deadline => {
                tracing::warn!("connections still open after shutdown; closing them");
                Ok(())
            }
        }
    }
}

/// How long shutdown waits for sockets, then for connections, to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The browser client at `/`, when it is built; else a page saying what this server is and
/// how to build the client.
fn web_client(dir: Option<&std::path::Path>) -> Router {
    match dir {
        Some(dir) => {
            tracing::info!("serving the browser client from {}", dir.display());
            Router::new().fallback_service(ServeDir::new(dir))
        }
        None => http::welcome(),
    }
}

/// The Admin UI's built page at `/admin-ui/`, from the server's own origin.
fn admin_ui(admin: Option<&crate::admin::AdminSettings>) -> Router {
    match admin.and_then(|a| a.ui_dir.as_deref()) {
        Some(dir) => {
            tracing::info!("serving the Admin UI at /admin-ui/ from {}", dir.display());
            Router::new().nest_service("/admin-ui", ServeDir::new(dir))
        }
        None => Router::new(),
    }
}

/// The limits, timings and trusted proxies in force, once, in one line: what an operator tunes
/// a proxy or a load test against.
fn log_effective_settings(config: &Config) {
    let t = config.timings;
    tracing::info!(
        max_connections_per_ip = config.max_connections_per_ip,
        socket_high_water = config.socket_high_water,
        socket_max_waiting = config.outbox.max_waiting,
        socket_buffer_bytes = config.outbox.max_bytes,
        slow_socket_timeout_ms = config.outbox.stall_limit.as_millis() as u64,
        max_payload = config.max_payload,
        max_body = config.max_body,
        polling_max_packets = config.polling_max_packets,
        ping_interval_ms = t.ping_interval.as_millis() as u64,
        ping_timeout_ms = t.ping_timeout.as_millis() as u64,
        connect_timeout_ms = t.connect_timeout.as_millis() as u64,
        events_per_sec = config.rates.events_per_sec,
        messages_per_min = config.rates.messages_per_min,
        max_streams_per_user = config.streams.max_per_user,
        trusted_proxies = %config.trusted_proxies,
        "effective limits"
    );
}

/// A Redis the cluster cannot use names `--redis-url`.
fn redis_error(e: crate::cluster::StartError) -> SettingError {
    SettingError::redis(e.to_string())
}

/// An embedder that cannot start names the setting to fix.
fn embedder_error(e: embed::StartError) -> SettingError {
    let (flag, env) = match &e {
        embed::StartError::ModelDir(_) => ("--embedder-model-dir", "RAGCAST_EMBEDDER_MODEL_DIR"),
        embed::StartError::Threads(_) => ("--embedder-threads", "RAGCAST_EMBEDDER_THREADS"),
        embed::StartError::Server(_) => ("--embedder-base-url", "RAGCAST_EMBEDDER_BASE_URL"),
        embed::StartError::Dimension(_) => ("--embedder-dimension", "RAGCAST_EMBEDDER_DIMENSION"),
    };
    SettingError::new(flag, env, e.to_string())
}

fn authenticator(config: &Config) -> Result<Authenticator, SettingError> {
    let api_key = config.auth.api_key.clone();
    match &config.auth.mode {
        AuthMode::None => Ok(Authenticator::open(api_key)),
        AuthMode::Jwt { key, leeway } => {
            let authenticator = match key {
                JwtKey::Secret(secret) => Authenticator::hs256(secret.as_bytes(), api_key),
                JwtKey::PublicKeyPem(pem) => Authenticator::from_public_key_pem(pem, api_key)
                    .map_err(|reason| {
                        SettingError::new(
                            "--jwt-public-key-file",
                            "RAGCAST_JWT_PUBLIC_KEY_FILE",
                            reason,
                        )
                    })?,
            };
            Ok(authenticator.with_leeway(*leeway))
        }
    }
}

/// The model provider `--llm` names.
fn provider(config: &Config) -> Result<Arc<dyn LlmProvider>, SettingError> {
    let built: Result<Arc<dyn LlmProvider>, reqwest::Error> = match &config.llm {
        LlmSettings::Builtin(settings) => Ok(Arc::new(BuiltinGenerator::new(settings))),
        LlmSettings::OpenAi(settings) => {
            HttpProvider::new(OpenAi, settings.clone()).map(|p| Arc::new(p) as _)
        }
        LlmSettings::Ollama(settings) => {
            HttpProvider::new(Ollama, settings.clone()).map(|p| Arc::new(p) as _)
        }
    };
    built.map_err(|e| {
        SettingError::new(
            "--llm",
            "RAGCAST_LLM",
            format!("cannot build the HTTP client: {e}"),
        )
    })
}

/// Answers as socket.io's `cors: { origin, credentials: true }` does: an allowed request's
/// origin is echoed with `access-control-allow-credentials: true` (never `*`, which browsers
/// refuse with credentials: engine.io-client 3 sends them), for the Engine.IO path and the API.
fn cors(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true);
    match origins {
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::mirror_request()),
        CorsOrigins::List(list) => layer.allow_origin(AllowOrigin::list(
            list.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        )),
    }
}

/// The pages that may open a websocket: the same as `--cors-origins` (and the server's own).
fn websocket_origins(origins: &CorsOrigins) -> engine::WebsocketOrigins {
    match origins {
        CorsOrigins::Any => engine::WebsocketOrigins::Any,
        CorsOrigins::List(list) => engine::WebsocketOrigins::Only(Arc::new(
            list.iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect(),
        )),
    }
}

/// The process's Prometheus recorder, installed once (tests build many apps in one process).
/// Every series carries `process="<node name>"`, so one dashboard tells the nodes apart.
pub fn metrics_handle(node_name: &str) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .add_global_label("process", node_name)
                .set_buckets(&[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// Request ids `r1`, `r2`, … unless the client sent one.
#[derive(Clone, Default)]
struct CountingRequestId {
    next: Arc<AtomicU64>,
}

impl MakeRequestId for CountingRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        HeaderValue::from_str(&format!("r{n}"))
            .ok()
            .map(RequestId::new)
    }
}

/// `/ready` sees the cluster only through this (HTTP and the cluster never import each other).
impl http::NodeHealth for Cluster {
    fn node_name(&self) -> &str {
        Cluster::node_name(self)
    }

    fn redis_up(&self) -> Option<bool> {
        self.is_multi_node().then(|| Cluster::redis_up(self))
    }
}
