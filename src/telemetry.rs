//! Logging and OpenTelemetry traces.
//!
//! Tracing is off unless an OTLP endpoint is configured (`telemetry.otlp_endpoint`, or the
//! standard `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`). When it is on:
//! - client writes are sampled where they arrive, at `telemetry.sampling_ratio` (or
//!   `OTEL_TRACES_SAMPLER[_ARG]`); a sampled write carries its W3C `traceparent` in the peer
//!   messages, and every server it touches records its part as children (parent-based
//!   sampling: a server never re-decides for a write another one sampled). An unsampled write
//!   costs one random draw and nothing else.
//! - rare events (elections, learner syncs, session expiry, snapshots) are always traced.
//! - spans go through a bounded queue to a batch exporter on its own thread: a slow or dead
//!   collector never blocks a server thread; what does not fit is dropped, counted
//!   (`keeper_trace_spans_dropped`) and logged once.
//!
//! The write path uses the OpenTelemetry API directly, because its phases start in one actor
//! and end in another (with explicit timestamps); elections and syncs, which live inside one
//! actor, are `tracing` spans exported through `tracing-opentelemetry`, so the log events
//! inside them become span events.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
    SpanProcessor,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub use opentelemetry_sdk::trace::Span;

/// Target of the `tracing` spans and events that are exported as traces (elections, syncs).
/// They are DEBUG, so they cost nothing while tracing is off and stay out of an INFO log.
pub const TARGET: &str = "keeper::trace";

/// The sampling ratio when none is configured: one write in a thousand, as Jaeger's default
/// probabilistic sampler. At Keeper's write rates that is tens to hundreds of traces a second,
/// and it costs nothing measurable; `make bench-compare` measures it against tracing off (a
/// traced write costs its servers tens of microseconds of CPU: at 1 in 100 that is a few
/// per cent of a saturated server's).
pub const DEFAULT_RATIO: f64 = 0.001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Where and how to export, resolved from the settings and the `OTEL_*` environment.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceConfig {
    /// The URL the exporter posts to (for HTTP, with its `/v1/traces` path).
    pub endpoint: String,
    pub protocol: Protocol,
    pub ratio: f64,
    pub service_name: String,
    pub server_id: u64,
}

/// The tracing settings as Keeper's configuration has them.
#[derive(Debug, Clone, Default)]
pub struct TraceSettings<'a> {
    pub endpoint: &'a str,
    pub protocol: &'a str,
    pub sampling_ratio: &'a str,
    pub service_name: &'a str,
}

/// Resolve the trace configuration: Keeper's settings first, then the standard OpenTelemetry
/// environment variables, then the defaults. `Ok(None)`: tracing is off.
pub fn resolve(
    s: &TraceSettings,
    env: &HashMap<String, String>,
    server_id: u64,
) -> Result<Option<TraceConfig>, String> {
    let var = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return Ok(None);
    }
    let protocol_name = [
        Some(s.protocol.trim()).filter(|p| !p.is_empty()),
        var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        var("OTEL_EXPORTER_OTLP_PROTOCOL"),
    ]
    .into_iter()
    .flatten()
    .next();
    let protocol = match protocol_name {
        None => None,
        Some("grpc") => Some(Protocol::Grpc),
        Some("http/protobuf") => Some(Protocol::HttpProtobuf),
        Some(other) => {
            return Err(format!(
                "OTLP protocol `{other}` is not supported: use grpc or http/protobuf"
            ))
        }
    };
    // A signal-specific URL is used as given; a base URL gets the signal's path (HTTP).
    let (base, exact) = if !s.endpoint.trim().is_empty() {
        (s.endpoint.trim(), false)
    } else if let Some(e) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        (e, true)
    } else if let Some(e) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        (e, false)
    } else {
        return Ok(None);
    };
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!(
            "OTLP endpoint `{base}` must be an http:// or https:// URL"
        ));
    }
    // Without a protocol named anywhere, the port tells: 4318 is OTLP/HTTP's, anything else
    // is taken for gRPC (4317, Jaeger's and the collector's default).
    let protocol = protocol.unwrap_or_else(|| {
        if url_port(base) == Some(4318) {
            Protocol::HttpProtobuf
        } else {
            Protocol::Grpc
        }
    });
    let endpoint = match protocol {
        Protocol::HttpProtobuf if !exact && url_path_is_empty(base) => {
            format!("{}/v1/traces", base.trim_end_matches('/'))
        }
        _ => base.to_string(),
    };
    let ratio = if !s.sampling_ratio.trim().is_empty() {
        parse_ratio(s.sampling_ratio.trim())
            .ok_or_else(|| format!("sampling ratio `{}` is not in 0..=1", s.sampling_ratio))?
    } else {
        sampler_ratio(var("OTEL_TRACES_SAMPLER"), var("OTEL_TRACES_SAMPLER_ARG"))?
    };
    let service_name = [
        Some(s.service_name.trim()).filter(|n| !n.is_empty()),
        var("OTEL_SERVICE_NAME"),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or("keeper")
    .to_string();
    Ok(Some(TraceConfig {
        endpoint,
        protocol,
        ratio,
        service_name,
        server_id,
    }))
}

pub fn parse_ratio(s: &str) -> Option<f64> {
    s.parse::<f64>()
        .ok()
        .filter(|r| r.is_finite() && (0.0..=1.0).contains(r))
}

/// `OTEL_TRACES_SAMPLER` / `_ARG` as a ratio for writes. Keeper's sampling is always
/// parent-based (a server follows the decision carried in the peer messages), so the
/// `parentbased_` and plain forms mean the same here.
fn sampler_ratio(sampler: Option<&str>, arg: Option<&str>) -> Result<f64, String> {
    let arg_ratio = || match arg {
        None => Ok(1.0),
        Some(a) => {
            parse_ratio(a).ok_or_else(|| format!("OTEL_TRACES_SAMPLER_ARG `{a}` is not in 0..=1"))
        }
    };
    match sampler {
        None => Ok(DEFAULT_RATIO),
        Some("always_on" | "parentbased_always_on") => Ok(1.0),
        Some("always_off" | "parentbased_always_off") => Ok(0.0),
        Some("traceidratio" | "parentbased_traceidratio") => arg_ratio(),
        Some(other) => Err(format!(
            "OTEL_TRACES_SAMPLER `{other}` is not supported: use always_on, always_off, \
             traceidratio or their parentbased_ forms"
        )),
    }
}

fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn url_port(url: &str) -> Option<u16> {
    let a = authority(url);
    // `[::1]:4318` or `host:4318`.
    a.rsplit_once(':')
        .filter(|(h, _)| !h.is_empty() && (!h.contains(':') || h.ends_with(']')))
        .and_then(|(_, p)| p.parse().ok())
}

fn url_path_is_empty(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .is_none_or(|i| rest[i..].trim_matches('/').is_empty())
}

/// The live tracer, once tracing is started.
struct Tracing {
    tracer: opentelemetry_sdk::trace::Tracer,
    provider: SdkTracerProvider,
    ratio: f64,
    /// Kept alive for the gRPC exporter's connection tasks.
    _runtime: Option<tokio::runtime::Runtime>,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();
/// The server's current role and epoch, as attributes of every span it records.
static ROLE: AtomicU8 = AtomicU8::new(0);
static EPOCH: AtomicU32 = AtomicU32::new(0);
/// Spans dropped because the export queue was full.
static DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

const ROLES: [&str; 5] = ["standalone", "looking", "leading", "following", "observing"];

/// Whether traces are exported at all (one atomic load).
#[inline]
pub fn enabled() -> bool {
    TRACING.get().is_some()
}

/// Spans dropped so far because the export queue was full.
pub fn dropped_spans() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Record the server's role (`standalone`, `looking`, `leading`, `following`, `observing`)
/// and epoch for the spans that follow.
pub fn set_role(role: &str, epoch: u32) {
    let i = ROLES.iter().position(|r| *r == role).unwrap_or(0);
    ROLE.store(i as u8, Ordering::Relaxed);
    EPOCH.store(epoch, Ordering::Relaxed);
}

/// Whether to trace a client write that arrives now (always false while tracing is off).
#[inline]
pub fn sample_write() -> bool {
    match TRACING.get() {
        None => false,
        Some(t) if t.ratio >= 1.0 => true,
        Some(t) if t.ratio <= 0.0 => false,
        Some(t) => rand::random::<f64>() < t.ratio,
    }
}

/// Set up logging to stderr at `level` (or `RUST_LOG`), and trace export when `trace` is set.
/// A trace exporter that cannot be built is reported and leaves the server untraced.
pub fn init(level: &str, trace: Option<TraceConfig>) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(tracing_subscriber::EnvFilter::new(filter));
    let Some(cfg) = trace else {
        let _ = tracing_subscriber::registry().with(fmt).try_init();
        return;
    };
    match start(&cfg) {
        Ok(t) => {
            let otel = tracing_opentelemetry::layer()
                .with_tracer(t.tracer.clone())
                .with_threads(false)
                .with_location(false)
                .with_filter(
                    tracing_subscriber::filter::Targets::new()
                        .with_target(TARGET, tracing::Level::DEBUG),
                );
            let _ = tracing_subscriber::registry()
                .with(fmt)
                .with(otel)
                .try_init();
            tracing::info!(
                "tracing: exporting to {} over OTLP/{} (service {}, writes sampled at {})",
                cfg.endpoint,
                if cfg.protocol == Protocol::Grpc {
                    "gRPC"
                } else {
                    "HTTP"
                },
                cfg.service_name,
                cfg.ratio
            );
            let _ = TRACING.set(t);
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(fmt).try_init();
            tracing::warn!(
                "tracing: cannot export to {}: {e}; traces are off",
                cfg.endpoint
            );
        }
    }
}

/// Export what is queued (at a clean stop), within a few seconds.
pub fn shutdown() {
    if let Some(t) = TRACING.get() {
        let _ = t.provider.force_flush();
        let _ = t.provider.shutdown_with_timeout(Duration::from_secs(3));
    }
}

fn start(cfg: &TraceConfig) -> Result<Tracing, String> {
    use opentelemetry_otlp::WithExportConfig;
    let timeout = Duration::from_secs(10);
    let (exporter, runtime) = match cfg.protocol {
        Protocol::Grpc => {
            // tonic's channel runs its connection on a tokio runtime of its own: the server's
            // threads never do exporter IO.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otlp-export")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let e = rt
                .block_on(async {
                    opentelemetry_otlp::SpanExporter::builder()
                        .with_tonic()
                        .with_endpoint(cfg.endpoint.clone())
                        .with_timeout(timeout)
                        .build()
                })
                .map_err(|e| e.to_string())?;
            (e, Some(rt))
        }
        Protocol::HttpProtobuf => {
            let e = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(cfg.endpoint.clone())
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_timeout(timeout)
                .build()
                .map_err(|e| e.to_string())?;
            (e, None)
        }
    };
    // OTEL_BSP_* apply to the queue, batch size, delay and export timeout.
    let batch = BatchConfigBuilder::default().build();
    let queue = batch_queue_size();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let processor = BatchSpanProcessor::builder(Counted {
        inner: exporter,
        in_flight: in_flight.clone(),
    })
    .with_batch_config(batch)
    .build();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(cfg.service_name.clone())
        .with_attributes([
            KeyValue::new("service.instance.id", cfg.server_id.to_string()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Bounded {
            inner: processor,
            in_flight,
            max: queue,
            warned: AtomicBool::new(false),
        })
        // Roots are decided by Keeper (writes at the ratio, rare events always); children
        // follow the decision their parent carries.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("keeper");
    Ok(Tracing {
        tracer,
        provider,
        ratio: cfg.ratio,
        _runtime: runtime,
    })
}

fn batch_queue_size() -> usize {
    std::env::var("OTEL_BSP_MAX_QUEUE_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2048)
}

/// Counts the spans handed to the exporter, which frees their place in the bounded queue.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    in_flight: Arc<AtomicUsize>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        let n = batch.len();
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        self.inner.export(batch)
    }
    fn shutdown_with_timeout(&self, t: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(t)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }
    fn set_resource(&mut self, r: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(r)
    }
}

/// The queue bound: a span that finds `max` spans waiting for export is dropped here, counted
/// and (the first time) logged, instead of being queued or blocking the server thread.
#[derive(Debug)]
struct Bounded<P> {
    inner: P,
    in_flight: Arc<AtomicUsize>,
    max: usize,
    warned: AtomicBool,
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx)
    }
    fn on_end(&self, span: SpanData) {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "tracing: the export queue is full ({} spans; the collector is slow or \
                     unreachable): spans are dropped and counted in keeper_trace_spans_dropped",
                    self.max
                );
            }
            return;
        }
        self.inner.on_end(span)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, t: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(t)
    }
    fn set_resource(&mut self, r: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(r)
    }
}

/// Where a span hangs in its trace.
pub enum Parent<'a> {
    /// A new trace.
    Root,
    /// A W3C `traceparent` received from another server (empty: not traced).
    Remote(&'a str),
    /// A span of this server.
    Local(&'a Span),
}

/// Start a span at `start` (None: now), with the server's role and epoch among its
/// attributes. None when tracing is off or the parent is not traced.
pub fn start_span(
    name: &'static str,
    kind: SpanKind,
    parent: Parent,
    start: Option<SystemTime>,
    mut attrs: Vec<KeyValue>,
) -> Option<Span> {
    let t = TRACING.get()?;
    let cx = match parent {
        Parent::Root => Context::new(),
        Parent::Remote(tp) => extract(tp)?,
        Parent::Local(s) => Context::new().with_remote_span_context(s.span_context().clone()),
    };
    attrs.push(KeyValue::new(
        "keeper.role",
        ROLES[ROLE.load(Ordering::Relaxed) as usize % ROLES.len()],
    ));
    attrs.push(KeyValue::new(
        "keeper.epoch",
        i64::from(EPOCH.load(Ordering::Relaxed)),
    ));
    let mut b = t
        .tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attrs);
    if let Some(s) = start {
        b = b.with_start_time(s);
    }
    Some(t.tracer.build_with_context(b, &cx))
}

/// The W3C `traceparent` of a span, for a peer message.
pub fn traceparent(span: &Span) -> String {
    let cx = Context::new().with_remote_span_context(span.span_context().clone());
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.0.unwrap_or_default()
}

fn extract(traceparent: &str) -> Option<Context> {
    if traceparent.is_empty() {
        return None;
    }
    let carrier = Carrier(Some(traceparent.to_string()));
    let cx = TraceContextPropagator::new().extract(&carrier);
    let sc = cx.span().span_context().clone();
    (sc.is_valid() && sc.is_sampled()).then_some(cx)
}

/// A carrier holding just `traceparent` (Keeper's peer messages carry no `tracestate`).
#[derive(Default)]
struct Carrier(Option<String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = Some(value);
        }
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent")
            .then_some(self.0.as_deref())
            .flatten()
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// A reference to a span another actor records under (e.g. a learner's sync under the election
/// that chose its leader): plain ids, so the messages that carry it stay `Copy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceRef(Option<(u128, u64)>);

impl TraceRef {
    /// The span of a `tracing` span exported through `tracing-opentelemetry` (none when
    /// tracing is off).
    pub fn of(span: &tracing::Span) -> TraceRef {
        if !enabled() || span.is_disabled() {
            return TraceRef(None);
        }
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        if !sc.is_valid() {
            return TraceRef(None);
        }
        TraceRef(Some((
            u128::from_be_bytes(sc.trace_id().to_bytes()),
            u64::from_be_bytes(sc.span_id().to_bytes()),
        )))
    }

    /// Make `span` (a `tracing` span) a child of the referenced one.
    pub fn adopt(&self, span: &tracing::Span) {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        if let Some((t, s)) = self.0 {
            let sc = SpanContext::new(
                TraceId::from_bytes(t.to_be_bytes()),
                SpanId::from_bytes(s.to_be_bytes()),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            );
            let _ = span.set_parent(Context::new().with_remote_span_context(sc));
        }
    }
}

/// A zxid as ZooKeeper's logs and tools print it.
pub fn zxid_attr(zxid: i64) -> KeyValue {
    KeyValue::new("zk.zxid", format!("0x{zxid:x}"))
}

pub fn session_attr(session: i64) -> KeyValue {
    KeyValue::new("zk.session", format!("0x{session:x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn off_without_an_endpoint() {
        let s = TraceSettings::default();
        assert_eq!(resolve(&s, &env(&[]), 1), Ok(None));
        let s = TraceSettings {
            endpoint: "http://collector:4317",
            ..Default::default()
        };
        assert_eq!(
            resolve(&s, &env(&[("OTEL_SDK_DISABLED", "true")]), 1),
            Ok(None)
        );
        assert_eq!(
            resolve(&s, &env(&[("OTEL_TRACES_EXPORTER", "none")]), 1),
            Ok(None)
        );
    }

    #[test]
    fn settings_then_environment_then_defaults() {
        let s = TraceSettings {
            endpoint: "http://collector:4317",
            ..Default::default()
        };
        let c = resolve(&s, &env(&[]), 3).unwrap().unwrap();
        assert_eq!(c.protocol, Protocol::Grpc);
        assert_eq!(c.endpoint, "http://collector:4317");
        assert_eq!(c.ratio, DEFAULT_RATIO);
        assert_eq!(c.service_name, "keeper");
        assert_eq!(c.server_id, 3);
        // The environment alone turns tracing on, as for any OpenTelemetry SDK.
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_SERVICE_NAME", "zk-prod"),
        ]);
        let c = resolve(&TraceSettings::default(), &e, 1).unwrap().unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint, "http://jaeger:4318/v1/traces");
        assert_eq!(c.ratio, 0.25);
        assert_eq!(c.service_name, "zk-prod");
        // Settings win over the environment.
        let s = TraceSettings {
            endpoint: "http://other:4317",
            protocol: "grpc",
            sampling_ratio: "1",
            service_name: "mine",
        };
        let c = resolve(&s, &e, 1).unwrap().unwrap();
        assert_eq!(
            (
                c.endpoint.as_str(),
                c.protocol,
                c.ratio,
                c.service_name.as_str()
            ),
            ("http://other:4317", Protocol::Grpc, 1.0, "mine")
        );
        // A signal-specific URL is used as it is.
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:9999/custom"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_TRACES_SAMPLER", "always_off"),
        ]);
        let c = resolve(&TraceSettings::default(), &e, 1).unwrap().unwrap();
        assert_eq!(c.endpoint, "http://c:9999/custom");
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.ratio, 0.0);
    }

    #[test]
    fn bad_values_are_named() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ]);
        let err = resolve(&TraceSettings::default(), &e, 1).unwrap_err();
        assert!(err.contains("http/json"), "{err}");
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]);
        assert!(resolve(&TraceSettings::default(), &e, 1).is_err());
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]);
        assert!(resolve(&TraceSettings::default(), &e, 1).is_err());
    }

    #[test]
    fn url_parts() {
        assert_eq!(url_port("http://h:4318"), Some(4318));
        assert_eq!(url_port("http://[::1]:4318/x"), Some(4318));
        assert_eq!(url_port("http://h"), None);
        assert!(url_path_is_empty("http://h:4318/"));
        assert!(!url_path_is_empty("http://h:4318/v1/traces"));
    }
}
