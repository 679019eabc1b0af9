//! The `/metrics` endpoint: hyper 1 (HTTP/1.1) on tokio, optionally TLS and basic auth
//! ([`web_config`]).
//!
//! Routes: the telemetry path (content negotiation by `Accept`; gzip when `Accept-Encoding`
//! allows and the body is 1 KiB or more), `/` (a small landing page),
//! `/healthz` (200 `ok` / 503 `unhealthy`, then what [`Healthy`] reports), everything else 404.
//! Only `GET` and `HEAD` (405 otherwise).
//!
//! Defences for a sidecar that may be scraped over a network:
//! - header read timeout (hyper's, also applied to idle keep-alive connections) and a TLS
//!   handshake timeout of the same length;
//! - an idle timeout for the whole connection (no byte read or written for that long, e.g. a
//!   client that does not read its response);
//! - request bodies refused (413), header size limited (hyper's `max_buf_size`; 431 beyond it);
//! - a limit on concurrent connections, where connections that have not sent a complete request
//!   give up their slot to newcomers ([`slots`]), so idle connections cannot lock scrapers out;
//! - bcrypt verifications cached (bounded LRU keyed by a keyed hash of the presented credentials)
//!   and run one at a time on the blocking pool, unknown users checked against a decoy hash.
//!
//! Graceful shutdown: when `shutdown` completes, the listener is closed, connections without a
//! complete request (idle, half-sent headers, TLS handshake) are closed at once, responses in
//! flight get `shutdown_grace` to finish, then the rest are dropped.

mod slots;
pub mod web_config;

use std::convert::Infallible;
use std::future::Future;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub use web_config::{WebConfig, load_web_config, parse_web_config};

/// The text format asked for (the same formats `pflog replay` prints).
pub use crate::exposition::Format as Exposition;

impl Exposition {
    /// OpenMetrics when the `Accept` header accepts `application/openmetrics-text` at least as
    /// much (q-value) as plain text; else the 0.0.4 text format.
    pub fn negotiate(accept: Option<&str>) -> Exposition {
        let Some(accept) = accept else {
            return Exposition::Prometheus;
        };
        let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for param in parts {
                let param = param.trim();
                if let Some(v) = param
                    .strip_prefix("q=")
                    .or_else(|| param.strip_prefix("Q="))
                {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Exposition::OpenMetrics
        } else {
            Exposition::Prometheus
        }
    }
}

/// Renders the metrics in the format asked for (called on the blocking pool, once per scrape).
pub type Render = Arc<dyn Fn(Exposition) -> String + Send + Sync>;
/// What `/healthz` says.
pub type Healthy = Arc<dyn Fn() -> Health + Send + Sync>;

/// `/healthz`: 200 or 503, and a short report (e.g. one line per source) after the first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    pub report: String,
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `host:port`; `:port` means all addresses (IPv6 and IPv4 where possible). Default `:9154`.
    pub listen: String,
    /// Default `/metrics`.
    pub telemetry_path: String,
    pub web_config: Option<WebConfig>,
    /// Time to receive a request's headers (and to complete a TLS handshake). Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// Largest request body (`Content-Length`) accepted; above: 413. Default 0: none.
    pub max_request_bytes: usize,
    /// Largest request head (request line and headers); above: 431. At least 8192 (hyper's
    /// minimum). Default 16 KiB.
    pub max_header_bytes: usize,
    /// Concurrent connections. When all are taken, one that has not sent a complete request
    /// (from the client address holding the most connections, the longest waiting) is closed
    /// to make room; when all are serving a request, new ones wait to be accepted. Default 256.
    pub max_connections: usize,
    /// How long responses in flight may take once shutdown starts (connections without a
    /// complete request are closed at once). Default 5 s.
    pub shutdown_grace: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            listen: ":9154".to_string(),
            telemetry_path: "/metrics".to_string(),
            web_config: None,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_request_bytes: 0,
            max_header_bytes: 16 * 1024,
            max_connections: 256,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Binds `opts.listen` (reporting the address through `bound`), serves until `shutdown`
/// completes, then shuts down gracefully. Errors: binding, or a bad TLS config.
pub async fn serve(
    opts: HttpOptions,
    render: Render,
    healthy: Healthy,
    shutdown: impl Future<Output = ()>,
    bound: Option<oneshot::Sender<SocketAddr>>,
) -> io::Result<()> {
    let web = opts.web_config.clone().unwrap_or_default();
    let tls = web.tls.clone().map(TlsAcceptor::from);
    let mut headers = Vec::new();
    for (name, value) in &web.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        headers.push((name, value));
    }
    let auth = if web.basic_auth_users.is_empty() {
        None
    } else {
        Some(Auth::new(web.basic_auth_users.clone()).await)
    };
    let listener = bind(&opts.listen).await?;
    if let Some(bound) = bound {
        let _ = bound.send(listener.local_addr()?);
    }
    let state = Arc::new(State {
        telemetry_path: opts.telemetry_path.clone(),
        render,
        healthy,
        max_request_bytes: opts.max_request_bytes,
        auth,
        headers,
    });
    let slots = slots::Slots::new(opts.max_connections);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = slots.admissible() => {
                let accepted = tokio::select! {
                    () = &mut shutdown => break,
                    accepted = listener.accept() => accepted,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let conn = Connection {
                            state: state.clone(),
                            tls: tls.clone(),
                            opts: opts.clone(),
                            slot: slots.admit(peer.ip().to_canonical()),
                        };
                        conns.spawn(conn.run(stream));
                    }
                    // Out of file descriptors and the like: pause rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
    }
    drop(listener);
    slots.nudge_all();
    let drained = tokio::time::timeout(opts.shutdown_grace, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.shutdown().await;
    }
    Ok(())
}

async fn bind(listen: &str) -> io::Result<TcpListener> {
    if let Some(port) = listen.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad listen address {listen:?}"),
            )
        })?;
        // `[::]` accepts IPv4 too unless the system says otherwise; without IPv6, use IPv4.
        return match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port)).await,
        };
    }
    TcpListener::bind(listen).await
}

struct State {
    telemetry_path: String,
    render: Render,
    healthy: Healthy,
    max_request_bytes: usize,
    auth: Option<Auth>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

struct Connection {
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    opts: HttpOptions,
    slot: Arc<slots::Conn>,
}

impl Connection {
    async fn run(self, stream: tokio::net::TcpStream) {
        let last = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let stream = Activity {
            inner: stream,
            last: last.clone(),
            epoch,
            slot: self.slot.clone(),
        };
        match self.tls.clone() {
            None => self.serve(stream, last, epoch).await,
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(self.opts.header_read_timeout, acceptor.accept(stream));
                // No request yet: a nudge closes it.
                let stream = tokio::select! {
                    done = handshake => done,
                    () = self.slot.nudged() => return,
                };
                if let Ok(Ok(stream)) = stream {
                    self.serve(stream, last, epoch).await;
                }
            }
        }
    }

    async fn serve<IO>(self, io: IO, last: Arc<AtomicU64>, epoch: Instant)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = self.state.clone();
        let slot = self.slot.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            let slot = slot.clone();
            async move {
                slot.request_started();
                let resp = handle(req, &state).await;
                slot.response_ready();
                Ok::<_, Infallible>(resp)
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.opts.header_read_timeout)
            .max_buf_size(self.opts.max_header_bytes.max(8192))
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let idle = self.opts.idle_timeout;
        let mut closing = false;
        let mut tick = tokio::time::interval(
            idle.min(Duration::from_secs(1))
                .max(Duration::from_millis(10)),
        );
        loop {
            tokio::select! {
                _ = conn.as_mut() => return,
                // Its slot went to another connection, or shutdown: without a request in
                // hand it closes now; else after this response (keep-alive off).
                () = self.slot.nudged(), if !closing => {
                    if self.slot.is_waiting() {
                        return;
                    }
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tick.tick() => {
                    let idle_for = epoch.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
                    if idle_for >= idle {
                        return;
                    }
                }
            }
        }
    }
}

/// Notes the time of the last byte read or written, and when a response has been flushed.
struct Activity<T> {
    inner: T,
    last: Arc<AtomicU64>,
    epoch: Instant,
    slot: Arc<slots::Conn>,
}

impl<T> Activity<T> {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = Pin::new(&mut self.inner).poll_flush(cx);
        // hyper (and TLS above it) flushes this stream only once all it buffered is written.
        if matches!(res, Poll::Ready(Ok(()))) {
            self.slot.flushed();
        }
        res
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

type Resp = Response<Full<Bytes>>;

fn text(status: StatusCode, body: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn handle(req: Request<Incoming>, state: &State) -> Resp {
    let mut resp = route(req, state).await;
    for (name, value) in &state.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

async fn route(req: Request<Incoming>, state: &State) -> Resp {
    // Bodies are never read: refuse them before anything else.
    let headers = req.headers();
    let too_big = match headers.get(header::CONTENT_LENGTH) {
        None => false,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_none_or(|n| n > state.max_request_bytes as u64),
    };
    if too_big || headers.contains_key(header::TRANSFER_ENCODING) {
        let mut resp = text(StatusCode::PAYLOAD_TOO_LARGE, "request body not accepted\n");
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    if let Some(auth) = &state.auth
        && !auth.check(headers.get(header::AUTHORIZATION)).await
    {
        let mut resp = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"pflog\", charset=\"UTF-8\""),
        );
        return resp;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let path = req.uri().path();
    if path == state.telemetry_path {
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let exposition = Exposition::negotiate(accept);
        let gzip = accepts_gzip(headers.get(header::ACCEPT_ENCODING));
        let render = state.render.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            let body = render(exposition).into_bytes();
            if gzip && body.len() >= GZIP_MIN {
                (gzip_bytes(&body), true)
            } else {
                (body, false)
            }
        });
        let Ok((body, gzipped)) = rendered.await else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n");
        };
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(exposition.content_type()),
        );
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if gzipped {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        return resp;
    }
    match path {
        "/" => {
            let mut resp =
                Response::new(Full::new(Bytes::from(landing_page(&state.telemetry_path))));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        "/healthz" => {
            let health = (state.healthy)();
            let (status, first) = if health.healthy {
                (StatusCode::OK, "ok\n")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n")
            };
            let mut resp =
                Response::new(Full::new(Bytes::from(first.to_string() + &health.report)));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            resp
        }
        _ => text(StatusCode::NOT_FOUND, "Not Found\n"),
    }
}

/// Smaller bodies are sent as they are.
const GZIP_MIN: usize = 1024;

/// Whether `Accept-Encoding` accepts gzip (`gzip`, `x-gzip` or `*` with a q-value above 0).
fn accepts_gzip(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    for coding in value.split(',') {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next()
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    // Fast compression: scrapes are frequent and the sidecar should stay light.
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn landing_page(metrics: &str) -> String {
    let href: String = metrics
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pflog</title></head>\n\
         <body><h1>pflog</h1><p>Postfix log metrics.</p>\n\
         <ul><li><a href=\"{href}\">Metrics</a></li><li><a href=\"/healthz\">Health</a></li></ul>\n\
         </body></html>\n"
    )
}

/// Basic auth against bcrypt hashes, with a cache of successful checks.
struct Auth {
    users: std::collections::BTreeMap<String, String>,
    /// A hash of the users' highest cost, checked for unknown users so that their answer takes
    /// as long as a wrong password.
    decoy: String,
    keys: (std::hash::RandomState, std::hash::RandomState),
    cache: Mutex<lru::LruCache<u128, ()>>,
    /// One bcrypt at a time: a burst of wrong passwords cannot take all cores.
    bcrypt: tokio::sync::Mutex<()>,
}

const AUTH_CACHE: usize = 256;

impl Auth {
    async fn new(users: std::collections::BTreeMap<String, String>) -> Auth {
        let cost = users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        let decoy = tokio::task::spawn_blocking(move || bcrypt::hash("decoy password", cost))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        Auth {
            users,
            decoy,
            keys: Default::default(),
            cache: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(AUTH_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
            bcrypt: tokio::sync::Mutex::new(()),
        }
    }

    /// A 128-bit keyed hash (two SipHash keys chosen at start) of what was presented and the
    /// hash it is checked against.
    fn key(&self, user: &str, password: &[u8], hash: &str) -> u128 {
        let one = |k: &std::hash::RandomState| k.hash_one((user, password, hash));
        (u128::from(one(&self.keys.0)) << 64) | u128::from(one(&self.keys.1))
    }

    fn cached(&self, key: u128) -> bool {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(&key).is_some()
    }

    async fn check(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (self.decoy.clone(), false),
        };
        let key = self.key(&user, &password, &hash);
        if known && self.cached(key) {
            return true;
        }
        let _one_at_a_time = self.bcrypt.lock().await;
        // Another request may have verified the same credentials meanwhile.
        if known && self.cached(key) {
            return true;
        }
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        if ok && known {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.put(key, ());
        }
        ok && known
    }
}

/// `Basic base64(user:password)`.
fn parse_basic(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        use Exposition::*;
        assert_eq!(Exposition::negotiate(None), Prometheus);
        assert_eq!(Exposition::negotiate(Some("*/*")), Prometheus);
        assert_eq!(Exposition::negotiate(Some("text/plain")), Prometheus);
        assert_eq!(
            Exposition::negotiate(Some("application/openmetrics-text")),
            OpenMetrics
        );
        // What Prometheus 2.x/3.x sends.
        assert_eq!(
            Exposition::negotiate(Some(
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
                 application/openmetrics-text;version=0.0.1;q=0.5,\
                 text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
                 text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
            )),
            OpenMetrics
        );
        assert_eq!(
            Exposition::negotiate(Some("application/openmetrics-text;q=0.1, text/plain")),
            Prometheus
        );
        assert_eq!(
            Exposition::negotiate(Some("application/openmetrics-text;q=0")),
            Prometheus
        );
    }

    #[test]
    fn gzip_negotiation() {
        let v = |s: &'static str| accepts_gzip(Some(&HeaderValue::from_static(s)));
        assert!(!accepts_gzip(None));
        assert!(v("gzip"));
        assert!(v("deflate, gzip;q=0.5"));
        assert!(v("*"));
        assert!(!v("gzip;q=0"));
        assert!(!v("gzip;q=0, *"));
        assert!(!v("identity"));
        let data = b"metric 1\n".repeat(200);
        let mut out = Vec::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&gzip_bytes(&data)[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn basic_header() {
        let v = HeaderValue::from_static("Basic dXNlcjpwYTpzcw==");
        assert_eq!(parse_basic(&v), Some(("user".into(), b"pa:ss".to_vec())));
        let v = HeaderValue::from_static("basic dXNlcjo=");
        assert_eq!(parse_basic(&v), Some(("user".into(), Vec::new())));
        assert_eq!(parse_basic(&HeaderValue::from_static("Bearer x")), None);
        assert_eq!(parse_basic(&HeaderValue::from_static("Basic !!")), None);
        assert_eq!(
            parse_basic(&HeaderValue::from_static("Basic dXNlcg==")),
            None
        );
    }

    #[test]
    fn landing_page_escapes() {
        let page = landing_page("/m\"<x>");
        assert!(page.contains("href=\"/m&quot;&lt;x&gt;\""));
    }

    #[tokio::test]
    async fn auth_caches_successes_only() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let auth = Auth::new([("alice".to_string(), hash.clone())].into()).await;
        let header = |u: &str, p: &str| {
            let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            HeaderValue::from_str(&format!("Basic {v}")).unwrap()
        };
        assert!(!auth.check(None).await);
        assert!(!auth.check(Some(&header("alice", "wrong"))).await);
        assert!(!auth.check(Some(&header("bob", "right"))).await);
        assert_eq!(auth.cache.lock().unwrap().len(), 0);
        assert!(auth.check(Some(&header("alice", "right"))).await);
        assert!(auth.cached(auth.key("alice", b"right", &hash)));
        assert!(auth.check(Some(&header("alice", "right"))).await);
        assert_eq!(auth.cache.lock().unwrap().len(), 1);
    }
}
