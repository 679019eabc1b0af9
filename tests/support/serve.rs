//! Starting the real `pflog serve`, waiting until it says where it listens, and scraping it.
//! Included with `#[path]` by the tests that run a server (`restart.rs`, `metrics_contract.rs`,
//! `numbers.rs`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A running `pflog serve`: its process, the address it listens on, and the lines of its
/// stderr after the one that gave the address. Killed when dropped (a failed test must not
/// leave it running).
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stderr: Receiver<String>,
    /// What it said before that line (warnings at startup).
    pub said_before: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `cmd` (a `pflog serve` command line; stdin and stdout are closed, stderr is read
/// here) and waits up to `within` for `serving metrics on http://ADDR`.
pub fn start(mut cmd: Command, within: Duration) -> Server {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start pflog serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + within;
    let mut said_before = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pflog serve did not report its address");
        };
        if let Some(addr) = line.split("serving metrics on http://").nth(1) {
            return Server {
                child,
                addr: addr.trim().to_string(),
                stderr: rx,
                said_before,
            };
        }
        said_before.push(line);
    }
}

/// GET /metrics over a plain socket: the body (the answer must be a 200).
pub fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    assert!(
        resp.starts_with("HTTP/1.0 200") || resp.starts_with("HTTP/1.1 200"),
        "{resp:.200}"
    );
    resp.split_once("\r\n\r\n").expect("body").1.to_string()
}
