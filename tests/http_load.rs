//! The real `pflog serve` binary under load and abuse, on loopback only, bounded in count and
//! time: lines stream into its followed file while many concurrent connections scrape it.
//!
//! - Load: 48 keep-alive clients plus 8 that open a connection per request, for 5 s: at least
//!   500 requests/s in all, no error, every body a whole exposition whose line counter never
//!   goes back, p99 latency under 1 s (generous; the measured figures are printed).
//! - Abuse, at the same time: unknown paths 404 (`/` is the landing page, `/healthz` 200), methods other than GET/HEAD 405, request bodies
//!   413, oversized headers 431 (or a close), a slowloris and a silent connection cut off by the
//!   header timeout (10 s).
//! - Floods of idle connections: a scrape answers within 1 s while 1,000 idle connections are
//!   held, and while a flood from another address reconnects every connection the server closes.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

mod common;
use common::{Resp, read_response};

const BIN: &str = env!("CARGO_BIN_EXE_pflog");

/// The tests here each load the machine on purpose: they run one at a time, so that none
/// measures another's load.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}
const LOAD_FOR: Duration = Duration::from_secs(5);
const KEEP_ALIVE_CLIENTS: usize = 48;
const ONE_SHOT_CLIENTS: usize = 8;

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for in `Drop`.
#[allow(clippy::zombie_processes)]
fn serve(log: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--web.listen-address",
            "127.0.0.1:0",
            "--from-start",
        ])
        .arg("--log")
        .arg(log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pflog serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("pflog serve did not report its address")
            .expect("stderr");
        if let Some(addr) = line.split("serving metrics on http://").nth(1) {
            break addr.trim().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

async fn exchange(addr: &str, raw: &[u8], head_only: bool) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(raw).await.ok()?;
    let mut buf = Vec::new();
    timeout(
        Duration::from_secs(10),
        read_response(&mut s, &mut buf, head_only),
    )
    .await
    .ok()?
}

/// The sum of `pflog_lines_total` in an exposition; panics unless it is a whole exposition.
fn lines_counted(body: &[u8]) -> f64 {
    let text = std::str::from_utf8(body).expect("UTF-8 exposition");
    assert!(text.ends_with('\n'), "cut exposition");
    // The last family registered is always there (pflog_lines_total has no series before the
    // first line).
    assert!(text.contains("\npflog_build_info{"), "{text:.200}");
    text.lines()
        .filter(|l| l.starts_with("pflog_lines_total{"))
        .map(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .expect("number")
        })
        .sum()
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

async fn keep_alive_client(addr: String, until: Instant) -> Stats {
    let mut stats = Stats::default();
    let mut s = match TcpStream::connect(&addr).await {
        Ok(s) => s,
        Err(e) => {
            stats.errors.push(format!("connect: {e}"));
            return stats;
        }
    };
    let mut buf = Vec::new();
    let mut last = 0.0;
    while Instant::now() < until {
        let start = Instant::now();
        if let Err(e) = s
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
        {
            stats.errors.push(format!("write: {e}"));
            return stats;
        }
        match timeout(
            Duration::from_secs(10),
            read_response(&mut s, &mut buf, false),
        )
        .await
        {
            Ok(Some(r)) if r.status == 200 => {
                stats.latencies.push(start.elapsed());
                let n = lines_counted(&r.body);
                if n < last {
                    stats
                        .errors
                        .push(format!("line count went back: {last} -> {n}"));
                }
                last = n;
                if r.closes() {
                    stats
                        .errors
                        .push("server closed a keep-alive connection".into());
                    return stats;
                }
            }
            Ok(Some(r)) => stats.errors.push(format!("status {}", r.status)),
            Ok(None) => {
                stats.errors.push("connection closed mid-response".into());
                return stats;
            }
            Err(_) => {
                stats.errors.push("no response within 10 s".into());
                return stats;
            }
        }
    }
    stats
}

async fn one_shot_client(addr: String, until: Instant) -> Stats {
    let mut stats = Stats::default();
    while Instant::now() < until {
        let start = Instant::now();
        match exchange(
            &addr,
            b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            false,
        )
        .await
        {
            Some(r) if r.status == 200 => {
                lines_counted(&r.body);
                stats.latencies.push(start.elapsed());
            }
            Some(r) => stats.errors.push(format!("status {}", r.status)),
            None => stats.errors.push("no complete response".into()),
        }
    }
    stats
}

/// Reads until the server closes the connection; `None` if it is still open after `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<(Duration, Vec<u8>)> {
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

async fn abuse(addr: String) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |what: &str, got: Option<u16>, want: &[u16]| {
        if !got.is_some_and(|s| want.contains(&s)) {
            problems.push(format!("{what}: got {got:?}, want {want:?}"));
        }
    };
    // `/` is the landing page, `/healthz` the health check; anything else is 404.
    for (path, want) in [
        ("/", 200),
        ("/healthz", 200),
        ("/metricsx", 404),
        ("/metrics/", 404),
        ("/../etc/passwd", 404),
        ("/%00", 404),
        ("/healthz/../metrics", 404),
        ("/metrics?x=1", 200),
    ] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let got = exchange(&addr, raw.as_bytes(), false)
            .await
            .map(|r| r.status);
        expect(path, got, &[want]);
    }
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO",
    ] {
        let target = if method == "CONNECT" {
            "localhost:9154"
        } else {
            "/metrics"
        };
        let raw = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let got = exchange(&addr, raw.as_bytes(), false)
            .await
            .map(|r| r.status);
        expect(method, got, &[405, 400]);
    }
    let head = exchange(
        &addr,
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        true,
    )
    .await;
    expect("HEAD", head.map(|r| r.status), &[200]);
    let body = exchange(
        &addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        false,
    )
    .await;
    expect("GET with a body", body.map(|r| r.status), &[413]);
    let chunked = exchange(
        &addr,
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        false,
    )
    .await;
    expect("chunked body", chunked.map(|r| r.status), &[413]);

    // Oversized headers: refused (431) or the connection closed, never served.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let _ = s.write_all(big.as_bytes()).await;
    match closed_within(&mut s, Duration::from_secs(15)).await {
        Some((_, got)) if got.is_empty() || got.starts_with(b"HTTP/1.1 431") => {}
        Some((_, got)) => problems.push(format!(
            "oversized headers answered {:?}",
            String::from_utf8_lossy(&got[..got.len().min(40)])
        )),
        None => problems.push("oversized headers: connection left open".into()),
    }

    // A slowloris (a byte every 500 ms) and a silent connection: cut by the 10 s header
    // timeout, well before 20 s.
    let slow = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            let start = Instant::now();
            let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
            for b in request {
                if s.write_all(&[*b]).await.is_err() {
                    return Some(start.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                if start.elapsed() > Duration::from_secs(25) {
                    return None;
                }
            }
            closed_within(
                &mut s,
                Duration::from_secs(25).saturating_sub(start.elapsed()),
            )
            .await
            .map(|_| start.elapsed())
        })
    };
    let mut silent = TcpStream::connect(&addr).await.expect("connect");
    match closed_within(&mut silent, Duration::from_secs(20)).await {
        Some((after, _)) if after >= Duration::from_secs(5) => {
            eprintln!("silent connection closed after {after:?}")
        }
        Some((after, _)) => problems.push(format!("silent connection closed early: {after:?}")),
        None => problems.push("a silent connection was left open for 20 s".into()),
    }
    match slow.await.expect("slowloris task") {
        Some(after) if after < Duration::from_secs(20) => {
            eprintln!("slowloris cut after {after:?}")
        }
        other => problems.push(format!("slowloris not cut: {other:?}")),
    }
    problems
}

#[test]
fn scrapes_under_load_and_abuse() {
    let _alone = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(&log, b"").unwrap();
    let server = serve(&log);

    // Lines stream into the followed file for the whole test.
    let fixture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mailstack/mail.log"))
            .expect("fixture");
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let writing = writing.clone();
        let log = log.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            let mut written = 0usize;
            while writing.load(Ordering::Relaxed) {
                f.write_all(&fixture).unwrap();
                written += fixture.iter().filter(|&&b| b == b'\n').count();
                std::thread::sleep(Duration::from_millis(20));
            }
            written
        })
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stats, problems, elapsed) = rt.block_on(async {
        let abuse = tokio::spawn(abuse(server.addr.clone()));
        let start = Instant::now();
        let until = start + LOAD_FOR;
        let mut clients = Vec::new();
        for _ in 0..KEEP_ALIVE_CLIENTS {
            clients.push(tokio::spawn(keep_alive_client(server.addr.clone(), until)));
        }
        for _ in 0..ONE_SHOT_CLIENTS {
            clients.push(tokio::spawn(one_shot_client(server.addr.clone(), until)));
        }
        let mut all = Stats::default();
        for c in clients {
            let s = c.await.expect("client task");
            all.latencies.extend(s.latencies);
            all.errors.extend(s.errors);
        }
        let elapsed = start.elapsed();
        let problems = timeout(Duration::from_secs(60), abuse)
            .await
            .expect("abuse checks finished")
            .expect("abuse task");
        (all, problems, elapsed)
    });
    writing.store(false, Ordering::Relaxed);
    let written = writer.join().unwrap();

    let mut lat = stats.latencies.clone();
    lat.sort();
    let n = lat.len();
    assert!(n > 0, "no successful scrape; errors: {:?}", stats.errors);
    let pct = |p: f64| lat[((n as f64 * p) as usize).min(n - 1)];
    let rate = n as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{n} scrapes in {elapsed:.1?} ({rate:.0}/s) over {} connections; p50 {:?}, p99 {:?}, max {:?}; {written} lines written meanwhile",
        KEEP_ALIVE_CLIENTS + ONE_SHOT_CLIENTS,
        pct(0.50),
        pct(0.99),
        lat[n - 1]
    );
    assert!(stats.errors.is_empty(), "errors: {:?}", stats.errors);
    assert!(problems.is_empty(), "abuse: {problems:#?}");
    assert!(rate >= 500.0, "only {rate:.0} scrapes/s");
    assert!(pct(0.99) < Duration::from_secs(1), "p99 {:?}", pct(0.99));

    // The server is still healthy and counted every line written.
    let final_count = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = exchange(
                &server.addr,
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                false,
            )
            .await
            .expect("scrape after the load");
            let got = lines_counted(&r.body) as usize;
            if got >= written || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_eq!(final_count, written, "lines counted after the load");
}

// ---------------------------------------------------------------------------------------------
// Floods of connections that never send a request.

const FLOOD: usize = 1000;
/// A scrape must be answered within this, flood or not (a deadline for the behaviour, far above
/// what a scrape takes, not a speed figure).
const SCRAPE_DEADLINE: Duration = Duration::from_secs(1);

/// The test holds more connections than the usual soft limit of 1024 descriptors.
fn enough_descriptors() {
    let wanted = FLOOD as u64 + 512;
    let got = rlimit::increase_nofile_limit(wanted).expect("raise RLIMIT_NOFILE");
    assert!(
        got >= wanted,
        "RLIMIT_NOFILE is {got}, the test needs {wanted}"
    );
}

/// One scrape on a fresh connection from `from` (an address of this host), with the deadline.
async fn scrape_within_deadline(
    addr: &str,
    from: Option<std::net::IpAddr>,
) -> Result<Duration, String> {
    let start = Instant::now();
    let attempt = async {
        let target: std::net::SocketAddr = addr.parse().expect("address");
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
        if let Some(ip) = from {
            socket
                .bind(std::net::SocketAddr::new(ip, 0))
                .map_err(|e| format!("bind {ip}: {e}"))?;
        }
        let mut s = socket.connect(target).await.map_err(|e| e.to_string())?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        read_response(&mut s, &mut buf, false)
            .await
            .ok_or_else(|| "connection closed before a response".to_string())
    };
    match timeout(SCRAPE_DEADLINE, attempt).await {
        Err(_) => Err(format!("no response within {SCRAPE_DEADLINE:?}")),
        Ok(Err(e)) => Err(e),
        Ok(Ok(r)) if r.status == 200 => {
            lines_counted(&r.body);
            Ok(start.elapsed())
        }
        Ok(Ok(r)) => Err(format!("status {}", r.status)),
    }
}

/// What a flood test needs: the other load tests out of the way, descriptors for the flood, a
/// `pflog serve` on an empty log (and its directory, kept while it runs), a runtime.
fn flood_setup() -> (
    std::sync::MutexGuard<'static, ()>,
    tempfile::TempDir,
    Server,
    tokio::runtime::Runtime,
) {
    let alone = one_at_a_time();
    enough_descriptors();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    std::fs::write(&log, b"").unwrap();
    let server = serve(&log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    (alone, dir, server, rt)
}

#[test]
fn a_scrape_answers_while_1000_idle_connections_are_held() {
    let (_alone, _dir, server, rt) = flood_setup();
    rt.block_on(async {
        let mut idle = Vec::with_capacity(FLOOD);
        for i in 0..FLOOD {
            let s = timeout(Duration::from_secs(10), TcpStream::connect(&server.addr))
                .await
                .unwrap_or_else(|_| panic!("connection {i} not established within 10 s"))
                .expect("connect");
            idle.push(s);
        }
        // Every one is still held open by this side, and none has sent a byte.
        for i in 0..5 {
            match scrape_within_deadline(&server.addr, None).await {
                Ok(took) => eprintln!("scrape {i} with {FLOOD} idle connections held: {took:?}"),
                Err(e) => panic!("scrape {i} with {FLOOD} idle connections held: {e}"),
            }
        }
        // The server made room by closing idle connections, the longest waiting first.
        let mut closed = Vec::new();
        for (i, s) in idle.iter_mut().enumerate() {
            let mut b = [0u8; 1];
            if let Ok(Ok(0)) = timeout(Duration::from_millis(5), s.read(&mut b)).await {
                closed.push(i);
            }
        }
        eprintln!(
            "{} of {FLOOD} idle connections were closed by the server",
            closed.len()
        );
        assert!(closed.len() >= FLOOD - 256, "{} closed", closed.len());
        assert!(
            closed[..10] == (0..10).collect::<Vec<_>>(),
            "{:?}",
            &closed[..10]
        );
    });
}

#[test]
fn scrapes_answer_while_a_flood_reconnects_every_closed_connection() {
    let (_alone, _dir, server, rt) = flood_setup();
    let scraper: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    rt.block_on(async {
        let flooding = Arc::new(AtomicBool::new(true));
        let reconnects = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            let (addr, flooding, reconnects) =
                (server.addr.clone(), flooding.clone(), reconnects.clone());
            flood.push(tokio::spawn(async move {
                // Connect, say nothing; when the server closes it, connect again at once.
                while flooding.load(Ordering::Relaxed) {
                    let Ok(mut s) = TcpStream::connect(&addr).await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let mut b = [0u8; 1];
                    loop {
                        match timeout(Duration::from_millis(200), s.read(&mut b)).await {
                            Err(_) if flooding.load(Ordering::Relaxed) => {}
                            _ => break,
                        }
                    }
                    reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut took = Vec::new();
        for i in 0..5 {
            match scrape_within_deadline(&server.addr, Some(scraper)).await {
                Ok(t) => took.push(t),
                Err(e) => panic!("scrape {i} from {scraper} during the flood: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        flooding.store(false, Ordering::Relaxed);
        for f in flood {
            let _ = f.await;
        }
        eprintln!(
            "scrapes from {scraper} during a reconnecting flood of {FLOOD}: {took:?}; {} reconnects",
            reconnects.load(Ordering::Relaxed)
        );
    });
}
