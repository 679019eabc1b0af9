//! The metrics endpoint over real HTTP(S) on loopback (127.0.0.1:0 only).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pflog::http::{Exposition, Health, HttpOptions, Render, load_web_config, serve};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

mod common;
use common::{Resp, read_response};

fn request(method: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (n, v) in extra {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Option<Resp> {
    s.write_all(&request(method, path, extra)).await.ok()?;
    let mut buf = Vec::new();
    read_response(s, &mut buf, method == "HEAD").await
}

async fn get(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    timeout(
        Duration::from_secs(10),
        exchange(&mut s, method, path, extra),
    )
    .await
    .expect("response in time")
    .expect("a complete response")
}

// ---------------------------------------------------------------------------------------------
// The server under test.

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    healthy: Arc<AtomicBool>,
    scrapes: Arc<AtomicU64>,
}

impl Server {
    async fn start(opts: HttpOptions) -> Server {
        let scrapes = Arc::new(AtomicU64::new(0));
        let n = scrapes.clone();
        let render: Render = Arc::new(move |e: Exposition| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            match e {
                Exposition::Prometheus => format!("# TYPE scrapes counter\nscrapes {i}\n"),
                Exposition::OpenMetrics => {
                    format!("# TYPE scrapes counter\nscrapes_total {i}\n# EOF\n")
                }
            }
        });
        Server::start_with(opts, render, scrapes).await
    }

    async fn start_with(opts: HttpOptions, render: Render, scrapes: Arc<AtomicU64>) -> Server {
        let healthy = Arc::new(AtomicBool::new(true));
        let h = healthy.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = oneshot::channel();
        let opts = HttpOptions {
            listen: "127.0.0.1:0".into(),
            ..opts
        };
        let task = tokio::spawn(serve(
            opts,
            render,
            Arc::new(move || Health {
                healthy: h.load(Ordering::SeqCst),
                report: "test source: fine\n".into(),
            }),
            async {
                let _ = stopped.await;
            },
            Some(bound_tx),
        ));
        let addr = timeout(Duration::from_secs(10), bound_rx)
            .await
            .unwrap()
            .unwrap();
        Server {
            addr,
            stop: Some(stop),
            task,
            healthy,
            scrapes,
        }
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve returned")
            .unwrap()
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn scrape_in_both_formats() {
    let srv = Server::start(HttpOptions::default()).await;
    let r = get(srv.addr, "GET", "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(r.text().starts_with("# TYPE scrapes counter\nscrapes 0\n"));

    let prometheus_accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let r = get(
        srv.addr,
        "GET",
        "/metrics",
        &[("Accept", prometheus_accept)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(r.text().ends_with("# EOF\n"));

    let r = get(srv.addr, "GET", "/metrics", &[("Accept", "text/plain")]).await;
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    srv.shutdown().await;
}

#[tokio::test]
async fn gzip_when_asked_for() {
    let render: Render = Arc::new(|_| "some_metric{label=\"x\"} 1\n".repeat(1000));
    let srv = Server::start_with(HttpOptions::default(), render, Arc::new(AtomicU64::new(0))).await;
    let plain = get(srv.addr, "GET", "/metrics", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    let r = get(srv.addr, "GET", "/metrics", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.body.len() < plain.body.len() / 10);
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&r.body[..]),
        &mut unzipped,
    )
    .unwrap();
    assert_eq!(unzipped, plain.body);
    srv.shutdown().await;
}

#[tokio::test]
async fn routes_methods_and_health() {
    let srv = Server::start(HttpOptions::default()).await;
    let r = get(srv.addr, "GET", "/nope", &[]).await;
    assert_eq!(r.status, 404);
    let r = get(srv.addr, "GET", "/metrics/", &[]).await;
    assert_eq!(r.status, 404);

    let r = get(srv.addr, "GET", "/", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("<a href=\"/metrics\">"));

    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let r = get(srv.addr, method, "/metrics", &[("Content-Length", "0")]).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }

    // HEAD: the headers of GET, no body.
    let before = srv.scrapes.load(Ordering::SeqCst);
    let r = get(srv.addr, "HEAD", "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    let len: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(
        len,
        format!("# TYPE scrapes counter\nscrapes {before}\n").len()
    );
    assert!(r.body.is_empty());

    let r = get(srv.addr, "GET", "/healthz", &[]).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "ok\ntest source: fine\n")
    );
    srv.healthy.store(false, Ordering::SeqCst);
    let r = get(srv.addr, "GET", "/healthz", &[]).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "unhealthy\ntest source: fine\n")
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn request_bodies_are_refused() {
    let srv = Server::start(HttpOptions::default()).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nxxxx")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let r = timeout(
        Duration::from_secs(5),
        read_response(&mut s, &mut buf, false),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));

    let r = get(
        srv.addr,
        "GET",
        "/metrics",
        &[("Transfer-Encoding", "chunked")],
    )
    .await;
    assert_eq!(r.status, 413);
    srv.shutdown().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = Server::start(HttpOptions::default()).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    for i in 0..5 {
        let r = exchange(&mut s, "GET", "/metrics", &[]).await.unwrap();
        assert_eq!(r.status, 200);
        assert!(r.text().contains(&format!("scrapes {i}\n")));
    }
    srv.shutdown().await;
}

/// The connection is closed within the window, or `None` if it stayed open.
async fn closed_after(s: &mut TcpStream, within: Duration) -> Option<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout(within.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((start.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let srv = Server::start(HttpOptions {
        header_read_timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    })
    .await;
    // A partial request line, then nothing.
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET /metr").await.unwrap();
    let (after, got) = closed_after(&mut s, Duration::from_secs(5))
        .await
        .expect("closed after the header timeout");
    assert!(after >= Duration::from_millis(250), "{after:?}");
    eprintln!(
        "partial request line: closed after {after:?}, got {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // Headers trickled in one byte at a time: the timeout counts from the first byte.
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let start = Instant::now();
    let mut closed = false;
    for b in b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    {
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        if start.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    if !closed {
        closed = closed_after(&mut s, Duration::from_secs(3)).await.is_some();
    }
    assert!(closed, "a slowloris connection was closed");
    let took = start.elapsed();
    eprintln!("slowloris cut after {took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");

    // A connection that says nothing at all.
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    assert!(closed_after(&mut s, Duration::from_secs(5)).await.is_some());
    srv.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_after_the_idle_timeout() {
    let big = "x".repeat(64 << 20);
    let render: Render = Arc::new(move |_| big.clone());
    let srv = Server::start_with(
        HttpOptions {
            idle_timeout: Duration::from_millis(300),
            ..HttpOptions::default()
        },
        render,
        Arc::new(AtomicU64::new(0)),
    )
    .await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&request("GET", "/metrics", &[])).await.unwrap();
    // Don't read while the server's writes stall; then read what is left.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let read_all = timeout(Duration::from_secs(20), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    assert!(read_all.is_ok(), "the server closed the connection");
    eprintln!("non-reading client got {got} of {} bytes", 64 << 20);
    assert!(got < 64 << 20, "got the whole body ({got} bytes): not cut");
    srv.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_are_rejected() {
    let srv = Server::start(HttpOptions {
        max_header_bytes: 16 * 1024,
        ..HttpOptions::default()
    })
    .await;
    let big = "a".repeat(64 * 1024);
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let _ = s
        .write_all(&request("GET", "/metrics", &[("X-Big", &big)]))
        .await;
    let (_, got) = closed_after(&mut s, Duration::from_secs(5))
        .await
        .expect("connection closed");
    let text = String::from_utf8_lossy(&got);
    eprintln!("oversized headers: {:?}", text.lines().next());
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    assert_eq!(srv.scrapes.load(Ordering::SeqCst), 0, "not served");

    // Under the limit is fine.
    let ok = "a".repeat(8 * 1024);
    let r = get(srv.addr, "GET", "/metrics", &[("X-Ok", &ok)]).await;
    assert_eq!(r.status, 200);
    srv.shutdown().await;
}

#[tokio::test]
async fn concurrent_scrapes_while_the_content_changes() {
    // The content changes between scrapes; each body must be whole and consistent.
    let counter = Arc::new(AtomicU64::new(0));
    let c = counter.clone();
    let render: Render = Arc::new(move |_| {
        let i = c.fetch_add(1, Ordering::SeqCst);
        let mut s = String::new();
        for k in 0..200 {
            s.push_str(&format!("metric_{k} {i}\n"));
        }
        s
    });
    let srv = Server::start_with(HttpOptions::default(), render, counter.clone()).await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..50 {
        let addr = srv.addr;
        tasks.push(tokio::spawn(async move {
            // Half keep their connection, half connect per request.
            let mut kept = None;
            for _ in 0..20 {
                let r = if t % 2 == 0 {
                    let s = match kept.as_mut() {
                        Some(s) => s,
                        None => kept.insert(TcpStream::connect(addr).await.unwrap()),
                    };
                    exchange(s, "GET", "/metrics", &[]).await.unwrap()
                } else {
                    get(addr, "GET", "/metrics", &[]).await
                };
                assert_eq!(r.status, 200);
                let text = r.text();
                let lines: Vec<&str> = text.lines().collect();
                assert_eq!(lines.len(), 200);
                let value = lines[0].rsplit(' ').next().unwrap();
                assert!(lines.iter().all(|l| l.ends_with(&format!(" {value}"))));
            }
        }));
    }
    for t in tasks {
        timeout(Duration::from_secs(60), t)
            .await
            .expect("in time")
            .unwrap();
    }
    let took = start.elapsed();
    assert_eq!(counter.load(Ordering::SeqCst), 1000);
    assert!(took < Duration::from_secs(30), "{took:?}");
    srv.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_a_scrape_in_flight_finish() {
    let render: Render = Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(400));
        "slow 1\n".to_string()
    });
    let srv = Server::start_with(HttpOptions::default(), render, Arc::new(AtomicU64::new(0))).await;
    let addr = srv.addr;
    let in_flight = tokio::spawn(async move { get(addr, "GET", "/metrics", &[]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Neither an idle connection nor one with half its headers sent holds shutdown up: they
    // are closed at once, while the scrape in flight finishes.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    srv.shutdown().await;
    let took = start.elapsed();
    eprintln!("shutdown took {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let r = in_flight.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow 1\n"));
    for s in [&mut idle, &mut half] {
        let (_, got) = closed_after(s, Duration::from_secs(2))
            .await
            .expect("closed");
        assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    }
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// Connections that have not sent a request give their slot to newcomers, the longest waiting
/// first; a connection serving a request keeps its slot; when every slot serves a request,
/// newcomers wait their turn.
#[tokio::test]
async fn idle_connections_give_way_and_busy_ones_keep_their_slot() {
    let render: Render = Arc::new(|_| {
        std::thread::sleep(Duration::from_millis(300));
        "slow 1\n".to_string()
    });
    let srv = Server::start_with(
        HttpOptions {
            max_connections: 3,
            ..HttpOptions::default()
        },
        render,
        Arc::new(AtomicU64::new(0)),
    )
    .await;
    let addr = srv.addr;
    let in_flight = tokio::spawn(async move { get(addr, "GET", "/metrics", &[]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(addr).await.unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // All three slots taken (one busy, two idle): a scrape is still served, and the first idle
    // connection made room for it.
    let r = timeout(Duration::from_secs(5), get(addr, "GET", "/metrics", &[]))
        .await
        .expect("a scrape with every slot taken");
    assert_eq!(r.status, 200);
    assert!(
        closed_after(&mut idle[0], Duration::from_secs(2))
            .await
            .is_some(),
        "the longest idle connection was closed"
    );
    let r = in_flight.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow 1\n"));
    // The second idle connection is still served.
    let r = exchange(&mut idle[1], "GET", "/healthz", &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200);

    // Every slot busy: a newcomer waits, then is served.
    let busy: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { get(addr, "GET", "/metrics", &[]).await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = timeout(Duration::from_secs(10), get(addr, "GET", "/metrics", &[]))
        .await
        .expect("served once a slot is free");
    assert_eq!(late.status, 200);
    for b in busy {
        assert_eq!(b.await.unwrap().status, 200);
    }
    srv.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// TLS and basic auth.

struct Pki {
    ca_pem: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "pflog test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca, &ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "prometheus");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    Pki {
        ca_pem: ca_cert.pem(),
        server_cert: server_cert.pem(),
        server_key: server_key.serialize_pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
    }
}

fn tls_client(pki: &Pki, with_cert: bool) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = if with_cert {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pki.client_cert.as_bytes())
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_slice(pki.client_key.as_bytes()).unwrap();
        builder.with_client_auth_cert(certs, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn https(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
) -> Option<Resp> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .unwrap()
        .ok()?;
    timeout(
        Duration::from_secs(10),
        exchange(&mut tls, "GET", path, extra),
    )
    .await
    .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn write_config(dir: &Path, pki: &Pki, tls_extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    std::fs::write(dir.join("certs/server.crt"), &pki.server_cert).unwrap();
    std::fs::write(dir.join("certs/server.key"), &pki.server_key).unwrap();
    std::fs::write(dir.join("certs/ca.crt"), &pki.ca_pem).unwrap();
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let config = format!(
        "tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n{tls_extra}\
         basic_auth_users:\n  prometheus: '{hash}'\n\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    );
    let path = dir.join("web.yml");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test]
async fn tls_with_basic_auth() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    // Started from elsewhere: relative paths are relative to the config file.
    let config = load_web_config(write_config(dir.path(), &pki, "")).unwrap();
    let srv = Server::start(HttpOptions {
        web_config: Some(config),
        ..HttpOptions::default()
    })
    .await;
    let client = tls_client(&pki, false);

    let r = https(&client, srv.addr, "/metrics", &[]).await.unwrap();
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let wrong = basic("prometheus", "wrong");
    let r = https(&client, srv.addr, "/metrics", &[("Authorization", &wrong)])
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let unknown = basic("mallory", "s3cret");
    let r = https(
        &client,
        srv.addr,
        "/metrics",
        &[("Authorization", &unknown)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(srv.scrapes.load(Ordering::SeqCst), 0);

    let right = basic("prometheus", "s3cret");
    for _ in 0..3 {
        let r = https(&client, srv.addr, "/metrics", &[("Authorization", &right)])
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.text().contains("scrapes"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(srv.addr).await.unwrap();
    plain
        .write_all(&request("GET", "/metrics", &[("Authorization", &right)]))
        .await
        .unwrap();
    let (_, got) = closed_after(&mut plain, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(srv.scrapes.load(Ordering::SeqCst), 3);
    srv.shutdown().await;
}

#[tokio::test]
async fn tls_requiring_verified_client_certificates() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &pki,
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.crt\n  min_version: TLS13\n",
    );
    let srv = Server::start(HttpOptions {
        web_config: Some(load_web_config(path).unwrap()),
        ..HttpOptions::default()
    })
    .await;
    let right = basic("prometheus", "s3cret");
    let r = https(
        &tls_client(&pki, true),
        srv.addr,
        "/metrics",
        &[("Authorization", &right)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    // Without a client certificate: no response (with TLS 1.3 the refusal may only show on
    // the first read).
    let r = https(
        &tls_client(&pki, false),
        srv.addr,
        "/metrics",
        &[("Authorization", &right)],
    )
    .await;
    assert!(r.is_none(), "{r:?}");
    assert_eq!(srv.scrapes.load(Ordering::SeqCst), 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_renewed_certificate_is_used_without_restart() {
    let old = pki();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &old, "");
    let srv = Server::start(HttpOptions {
        web_config: Some(load_web_config(path).unwrap()),
        ..HttpOptions::default()
    })
    .await;
    let right = basic("prometheus", "s3cret");
    let auth = [("Authorization", right.as_str())];
    let r = https(&tls_client(&old, false), srv.addr, "/metrics", &auth).await;
    assert_eq!(r.unwrap().status, 200);

    // New key and certificate from another CA, written in place.
    let new = pki();
    std::fs::write(dir.path().join("certs/server.key"), &new.server_key).unwrap();
    std::fs::write(dir.path().join("certs/server.crt"), &new.server_cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = https(&tls_client(&new, false), srv.addr, "/metrics", &auth).await {
            assert_eq!(r.status, 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        https(&tls_client(&old, false), srv.addr, "/metrics", &auth)
            .await
            .is_none(),
        "the old certificate is no longer served"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_web_configs_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(
        &path,
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
    )
    .unwrap();
    let e = load_web_config(&path).unwrap_err();
    assert!(e.contains("web.yml") && e.contains("missing.crt"), "{e}");
    std::fs::write(&path, "tls_server_config:\n  certfile: x\n").unwrap();
    let e = load_web_config(&path).unwrap_err();
    assert!(e.contains("unknown field `certfile`"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// The real `pflog serve`: its startup line, shutdown, `/healthz` and certificate reloads.

const BIN: &str = env!("CARGO_BIN_EXE_pflog");

/// A running `pflog serve` (killed when dropped) and what it said on stderr.
struct Pflog {
    child: std::process::Child,
    /// `http` or `https`, from the startup line.
    scheme: String,
    addr: SocketAddr,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Drop for Pflog {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Pflog {
    // The child is waited for in `Drop`.
    #[allow(clippy::zombie_processes)]
    fn start(args: &[&std::ffi::OsStr], path_env: Option<&Path>) -> Pflog {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["serve", "--web.listen-address", "127.0.0.1:0"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(dir) = path_env {
            let path = std::env::var("PATH").unwrap_or_default();
            cmd.env("PATH", format!("{}:{path}", dir.display()));
        }
        let mut child = cmd.spawn().expect("start pflog serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("pflog serve did not report its address");
            if let Some(rest) = line.split("serving metrics on ").nth(1) {
                let (scheme, addr) = rest.trim().split_once("://").expect("a URL");
                return Pflog {
                    child,
                    scheme: scheme.to_string(),
                    addr: addr.parse().expect("an address"),
                    stderr: rx,
                };
            }
        }
    }

    /// Waits up to `within` for a line on stderr containing `what`.
    fn said(&self, what: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(what) {
                return Some(line);
            }
        }
        None
    }

    fn sigterm(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -TERM");
    }

    /// Polls `/healthz` until `cond` holds on (status, body), up to 20 s.
    async fn healthz_until(&self, what: &str, cond: impl Fn(u16, &str) -> bool) -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = get(self.addr, "GET", "/healthz", &[]).await;
            let body = r.text();
            if cond(r.status, &body) {
                return (r.status, body);
            }
            assert!(
                Instant::now() < deadline,
                "/healthz never {what}: last {} {body:?}",
                r.status
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

#[tokio::test]
async fn the_startup_line_says_https_only_when_tls_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(&log, "").unwrap();
    // Basic auth without TLS: plain HTTP.
    let auth_only = dir.path().join("auth.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(
        &auth_only,
        format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    )
    .unwrap();
    let p = Pflog::start(
        &[
            os("--log"),
            log.as_os_str(),
            os("--web.config.file"),
            auth_only.as_os_str(),
        ],
        None,
    );
    assert_eq!(p.scheme, "http");
    let auth = basic("prometheus", "s3cret");
    let r = get(p.addr, "GET", "/metrics", &[("Authorization", &auth)]).await;
    assert_eq!(r.status, 200);
    drop(p);

    let pki = pki();
    let tls = write_config(dir.path(), &pki, "");
    let p = Pflog::start(
        &[
            os("--log"),
            log.as_os_str(),
            os("--web.config.file"),
            tls.as_os_str(),
        ],
        None,
    );
    assert_eq!(p.scheme, "https");
    let r = https(
        &tls_client(&pki, false),
        p.addr,
        "/metrics",
        &[("Authorization", &auth)],
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_failed_certificate_reload_is_logged_and_the_old_one_kept() {
    let old = pki();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(&log, "").unwrap();
    let config = write_config(dir.path(), &old, "");
    let p = Pflog::start(
        &[
            os("--log"),
            log.as_os_str(),
            os("--web.config.file"),
            config.as_os_str(),
        ],
        None,
    );
    let auth = basic("prometheus", "s3cret");
    let auth = [("Authorization", auth.as_str())];
    let client = tls_client(&old, false);
    assert_eq!(
        https(&client, p.addr, "/metrics", &auth)
            .await
            .unwrap()
            .status,
        200
    );

    // A broken certificate file: checked at a handshake (at most once a second).
    let cert = dir.path().join("certs/server.crt");
    std::fs::write(&cert, "not a certificate\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let r = https(&client, p.addr, "/metrics", &auth).await;
        assert_eq!(
            r.map(|r| r.status),
            Some(200),
            "the old certificate is still served"
        );
        if let Some(line) = p.said("certificate", Duration::from_millis(300)) {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "nothing said about the broken certificate"
        );
    };
    eprintln!("{line}");
    assert!(
        line.contains("not reloaded") && line.contains("server.crt"),
        "{line}"
    );
    // Said once, not at every handshake.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let r = https(&client, p.addr, "/metrics", &auth).await;
        assert_eq!(r.map(|r| r.status), Some(200));
    }
    assert_eq!(p.said("certificate", Duration::from_millis(200)), None);

    // Fixed: the new certificate is taken, and that is said too.
    let new = pki();
    std::fs::write(dir.path().join("certs/server.key"), &new.server_key).unwrap();
    std::fs::write(&cert, &new.server_cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = https(&tls_client(&new, false), p.addr, "/metrics", &auth).await {
            assert_eq!(r.status, 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        p.said("TLS certificate reloaded", Duration::from_secs(5))
            .is_some()
    );
}

#[tokio::test]
async fn sigterm_does_not_wait_for_half_sent_headers_and_saves_state() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let state = dir.path().join("state.json");
    std::fs::write(&log, "").unwrap();
    let mut p = Pflog::start(
        &[
            os("--log"),
            log.as_os_str(),
            os("--state-file"),
            state.as_os_str(),
        ],
        None,
    );
    std::fs::write(
        &log,
        "Nov 23 12:00:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]\n",
    )
    .unwrap();
    // Wait until the line is counted, so there is a position to save.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get(p.addr, "GET", "/metrics", &[])
        .await
        .text()
        .lines()
        .any(|l| l.starts_with("pflog_lines_total{") && !l.ends_with(" 0"))
    {
        assert!(Instant::now() < deadline, "the line was never counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut half = TcpStream::connect(p.addr).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let _idle = TcpStream::connect(p.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    p.sigterm();
    let status = loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let took = start.elapsed();
    eprintln!("exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let saved = std::fs::read_to_string(&state).expect("state saved");
    assert!(saved.contains(log.to_str().unwrap()), "{saved}");
    assert!(
        closed_after(&mut half, Duration::from_secs(1))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn healthz_is_503_while_a_file_source_fails() {
    let dir = tempfile::tempdir().unwrap();
    // A path that is a directory: a failure root meets too.
    let log = dir.path().join("mail.log");
    std::fs::create_dir(&log).unwrap();
    let missing = dir.path().join("rspamd.log");
    let p = Pflog::start(
        &[
            os("--log"),
            log.as_os_str(),
            os("--log"),
            missing.as_os_str(),
        ],
        None,
    );
    let name = log.display().to_string();
    let (_, body) = p
        .healthz_until("503 with both sources reported", |status, body| {
            status == 503 && !body.contains("starting")
        })
        .await;
    eprintln!("{body}");
    assert!(body.starts_with("unhealthy\n"), "{body}");
    assert!(
        body.contains(&format!("{name}: failing for ")) && body.contains("not a regular file"),
        "{body}"
    );
    // A file not created yet is no failure.
    assert!(
        body.contains(&format!(
            "{}: waiting for the file to appear",
            missing.display()
        )),
        "{body}"
    );

    // The directory replaced by a file: healthy again, and said so.
    std::fs::remove_dir(&log).unwrap();
    std::fs::write(&log, "").unwrap();
    let (_, body) = p.healthz_until("200", |status, _| status == 200).await;
    assert!(
        body.starts_with("ok\n") && body.contains(&format!("{name}: reading")),
        "{body}"
    );
    assert!(p.said("reading again", Duration::from_secs(5)).is_some());

    // Unreadable: only where permissions stop this process (not as root).
    use std::os::unix::fs::PermissionsExt;
    let locked = dir.path().join("locked.log");
    std::fs::write(&locked, "").unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&locked).is_err() {
        let p = Pflog::start(&[os("--log"), locked.as_os_str()], None);
        let (_, body) = p.healthz_until("503", |status, _| status == 503).await;
        assert!(body.contains("Permission denied"), "{body}");
    } else {
        eprintln!("running with permission to read a mode-000 file: that case is skipped");
    }
}

#[tokio::test]
async fn healthz_is_503_while_journalctl_fails() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let works = dir.path().join("works");
    // A journalctl that fails at once until `works` exists, then runs quietly.
    let script = bin.join("journalctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ -e '{}' ] && exec sleep 600\necho 'Failed to open journal: Permission denied' >&2\nexit 1\n",
            works.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = Pflog::start(&[os("--journal")], Some(&bin));
    let (_, body) = p.healthz_until("503", |status, _| status == 503).await;
    eprintln!("{body}");
    assert!(
        body.starts_with("unhealthy\njournal: failing for "),
        "{body}"
    );
    assert!(body.contains("Permission denied"), "{body}");
    // Still failing after the next restarts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = get(p.addr, "GET", "/healthz", &[]).await;
    assert_eq!(r.status, 503, "{}", r.text());

    std::fs::write(&works, "").unwrap();
    let (_, body) = p.healthz_until("200", |status, _| status == 200).await;
    assert_eq!(body, "ok\njournal: reading\n");
}
