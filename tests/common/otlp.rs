//! An OTLP trace receiver for the tests, speaking both transports a collector offers:
//! OTLP/HTTP (protobuf bodies POSTed to `/v1/traces`) and OTLP/gRPC (the collector's
//! `TraceService`, served by tonic). It keeps every span it receives.

#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct RSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent: String,
    pub name: String,
    /// The resource's `service.instance.id` (the server id) and `service.name`.
    pub instance: String,
    pub service: String,
    pub attrs: BTreeMap<String, String>,
    pub events: Vec<String>,
    pub start_ns: u64,
    pub end_ns: u64,
}

type Store = Arc<Mutex<Vec<RSpan>>>;

pub struct Receiver {
    pub port: u16,
    spans: Store,
    _rt: Option<tokio::runtime::Runtime>,
}

fn value_text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value_text(&kv.value)))
        .collect()
}

fn store(spans: &Store, req: ExportTraceServiceRequest) {
    let mut out = spans.lock().unwrap();
    for rs in req.resource_spans {
        let res = rs
            .resource
            .as_ref()
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(RSpan {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name.clone(),
                    instance: res.get("service.instance.id").cloned().unwrap_or_default(),
                    service: res.get("service.name").cloned().unwrap_or_default(),
                    attrs: attrs(&s.attributes),
                    events: s.events.iter().map(|e| e.name.clone()).collect(),
                    start_ns: s.start_time_unix_nano,
                    end_ns: s.end_time_unix_nano,
                });
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Receiver {
    /// OTLP/HTTP on a free loopback port.
    pub fn http() -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().unwrap().port();
        let spans: Store = Default::default();
        let s2 = spans.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let s3 = s2.clone();
                std::thread::spawn(move || serve_http(c, s3));
            }
        });
        Receiver {
            port,
            spans,
            _rt: None,
        }
    }

    /// OTLP/gRPC on a free loopback port.
    pub fn grpc() -> Receiver {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let spans: Store = Default::default();
        let svc = Grpc(spans.clone());
        rt.spawn(async move {
            let l = tokio::net::TcpListener::from_std(l).expect("listener");
            let incoming = tokio_stream_of(l);
            let _ = tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(svc))
                .serve_with_incoming(incoming)
                .await;
        });
        Receiver {
            port,
            spans,
            _rt: Some(rt),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn spans(&self) -> Vec<RSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Wait (bounded) until `pred` holds for the spans received.
    pub fn wait_for(&self, within: Duration, pred: impl Fn(&[RSpan]) -> bool) -> Vec<RSpan> {
        let deadline = Instant::now() + within;
        loop {
            let s = self.spans();
            if pred(&s) || Instant::now() >= deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn tokio_stream_of(
    l: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(l, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}

struct Grpc(Store);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        store(&self.0, req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// HTTP/1.1 with keep-alive: read each request's headers and body, answer 200.
fn serve_http(c: std::net::TcpStream, spans: Store) {
    let mut w = match c.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(c);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let status = if path == "/v1/traces" {
            match ExportTraceServiceRequest::decode(body.as_slice()) {
                Ok(req) => {
                    store(&spans, req);
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            }
        } else {
            "404 Not Found"
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}
