//! Model-based test of the file follower: a writer drives random sequences of appends, split
//! writes, rename rotations (with writes to the renamed file before the writer reopens),
//! copytruncate, delete plus recreate and pauses on real files, while the real follower task
//! runs; the lines it delivers must be the lines written, in order, none lost, none twice.
//!
//! What the model asks of the scenario (true of real rotations, which are hours apart):
//! - before a rotation, the follower has noticed the previous one (two rotations within one poll
//!   would hide the middle file from any follower);
//! - before a copytruncate, the follower has read what was written (what it has not read by then
//!   is only in the copy, by the nature of copytruncate).
//!
//! `PROPTEST_CASES` sets the number of cases (default 200).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pflog::source::{FollowOptions, SourceMsg, follow_file};
use proptest::prelude::*;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const POLL: Duration = Duration::from_millis(10);
const WAIT: Duration = Duration::from_secs(5);

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

#[derive(Debug, Clone)]
enum Op {
    /// Full lines, in one `write` or one `write` each.
    Append {
        lines: Vec<Vec<u8>>,
        one_write: bool,
    },
    /// One line written in two pieces with a pause between.
    Split {
        line: Vec<u8>,
        at: usize,
        pause_ms: u64,
    },
    /// logrotate's default: rename; optionally create the new file at once (`create`); the writer
    /// still writes `old_writes` lines to the renamed file; then it reopens the path.
    Rotate {
        create_first: bool,
        old_writes: Vec<Vec<u8>>,
        pause_ms: u64,
    },
    /// Copy, then truncate the file in place; the writer (O_APPEND) goes on writing.
    CopyTruncate,
    /// Delete the file; the writer still writes to the deleted file, then recreates the path.
    DeleteRecreate {
        old_writes: Vec<Vec<u8>>,
        pause_ms: u64,
    },
    Pause {
        ms: u64,
    },
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Mostly text ...
        4 => "[ -~]{0,60}".prop_map(String::into_bytes),
        // ... some bytes of all kinds but `\n` (NUL, invalid UTF-8).
        1 => proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..40),
    ]
}

fn lines(max: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(payload(), 0..max)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (lines(8), any::<bool>()).prop_map(|(lines, one_write)| Op::Append { lines, one_write }),
        2 => (payload(), any::<usize>(), 0u64..15).prop_map(|(line, at, pause_ms)| Op::Split { line, at, pause_ms }),
        2 => (any::<bool>(), lines(4), 0u64..15).prop_map(|(create_first, old_writes, pause_ms)| Op::Rotate { create_first, old_writes, pause_ms }),
        1 => Just(Op::CopyTruncate),
        1 => (lines(4), 0u64..15).prop_map(|(old_writes, pause_ms)| Op::DeleteRecreate { old_writes, pause_ms }),
        1 => (0u64..25).prop_map(|ms| Op::Pause { ms }),
    ]
}

struct Harness {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    path: PathBuf,
    writer: File,
    rx: mpsc::Receiver<SourceMsg>,
    seq: usize,
    written: Vec<Vec<u8>>,
    delivered: Vec<Vec<u8>>,
    rotations: usize,
    rotated_seen: usize,
    files_made: usize,
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap()
}

impl Harness {
    fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.log");
        let mut writer = open_append(&path);
        writer.write_all(b"start\n").unwrap();
        let (tx, rx) = mpsc::channel(4096);
        let opts = FollowOptions {
            from_start: true,
            poll_interval: POLL,
            ..FollowOptions::default()
        };
        runtime().spawn(follow_file(0, path.clone(), opts, tx, None));
        let mut h = Harness {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            path,
            writer,
            rx,
            seq: 0,
            written: vec![b"start".to_vec()],
            delivered: Vec::new(),
            rotations: 0,
            rotated_seen: 0,
            files_made: 0,
        };
        // The follower has the first file open once it delivered its first line.
        h.wait_caught_up();
        h
    }

    /// A unique line: a sequence number, then the payload.
    fn line(&mut self, payload: &[u8]) -> Vec<u8> {
        self.seq += 1;
        let mut line = format!("{:06} ", self.seq).into_bytes();
        line.extend_from_slice(payload);
        line
    }

    fn write_line(&mut self, payload: &[u8]) {
        let mut line = self.line(payload);
        self.written.push(line.clone());
        line.push(b'\n');
        self.writer.write_all(&line).unwrap();
    }

    fn take(&mut self, msg: SourceMsg) {
        match msg {
            SourceMsg::Lines { lines, .. } => self.delivered.extend(lines),
            SourceMsg::Rotated { .. } => self.rotated_seen += 1,
            SourceMsg::Truncated { .. } | SourceMsg::Waiting { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    fn pump(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            self.take(msg);
        }
    }

    fn wait_until(&mut self, what: &str, cond: impl Fn(&Harness) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.pump();
            if cond(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: written {}, delivered {}, rotations {}, seen {}",
                self.written.len(),
                self.delivered.len(),
                self.rotations,
                self.rotated_seen
            );
            let rx = &mut self.rx;
            if let Ok(Some(msg)) =
                runtime().block_on(async { tokio::time::timeout(POLL, rx.recv()).await })
            {
                self.take(msg);
            }
        }
    }

    fn wait_caught_up(&mut self) {
        self.wait_until("catch-up", |h| h.delivered.len() >= h.written.len());
    }

    fn wait_rotation_seen(&mut self) {
        self.wait_until("rotation noticed", |h| h.rotated_seen >= h.rotations);
    }

    fn aside(&mut self, what: &str) -> PathBuf {
        self.files_made += 1;
        self.dir
            .join(format!("mail.log.{what}.{}", self.files_made))
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Append { lines, one_write } => {
                if *one_write {
                    let mut buf = Vec::new();
                    for p in lines {
                        let line = self.line(p);
                        buf.extend_from_slice(&line);
                        buf.push(b'\n');
                        self.written.push(line);
                    }
                    self.writer.write_all(&buf).unwrap();
                } else {
                    for p in lines {
                        self.write_line(p);
                    }
                }
            }
            Op::Split { line, at, pause_ms } => {
                let line = self.line(line);
                let at = at % (line.len() + 1);
                self.writer.write_all(&line[..at]).unwrap();
                std::thread::sleep(Duration::from_millis(*pause_ms));
                self.writer.write_all(&line[at..]).unwrap();
                self.writer.write_all(b"\n").unwrap();
                self.written.push(line);
            }
            Op::Rotate {
                create_first,
                old_writes,
                pause_ms,
            } => {
                self.wait_rotation_seen();
                let to = self.aside("1");
                std::fs::rename(&self.path, &to).unwrap();
                if *create_first {
                    File::create(&self.path).unwrap();
                }
                // The writer goes on writing to the renamed file for a while (the follower may
                // see the new file meanwhile) ...
                std::thread::sleep(Duration::from_millis(*pause_ms));
                for p in old_writes {
                    self.write_line(p);
                }
                std::thread::sleep(Duration::from_millis(*pause_ms));
                // ... until it reopens the path (postrotate HUP).
                self.writer = open_append(&self.path);
                self.rotations += 1;
            }
            Op::CopyTruncate => {
                self.wait_rotation_seen();
                self.wait_caught_up();
                let to = self.aside("copy");
                std::fs::copy(&self.path, &to).unwrap();
                OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
            Op::DeleteRecreate {
                old_writes,
                pause_ms,
            } => {
                self.wait_rotation_seen();
                std::fs::remove_file(&self.path).unwrap();
                for p in old_writes {
                    self.write_line(p);
                }
                std::thread::sleep(Duration::from_millis(*pause_ms));
                self.writer = open_append(&self.path);
                self.rotations += 1;
            }
            Op::Pause { ms } => std::thread::sleep(Duration::from_millis(*ms)),
        }
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        self.wait_until("all lines", |h| h.delivered.len() >= h.written.len());
        // Anything more (a line twice) would show up within a few polls.
        std::thread::sleep(POLL * 4);
        self.pump();
        if self.delivered != self.written {
            let first = self
                .delivered
                .iter()
                .zip(&self.written)
                .position(|(d, w)| d != w);
            return Err(TestCaseError::fail(format!(
                "delivered {} lines, wrote {}; first difference at {first:?}\n delivered: {:?}\n written:   {:?}",
                self.delivered.len(),
                self.written.len(),
                self.delivered
                    .iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>(),
                self.written
                    .iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>(),
            )));
        }
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_time: 30_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn follower_delivers_every_line_once_in_order(ops in proptest::collection::vec(op(), 1..12)) {
        let mut h = Harness::start();
        for op in &ops {
            h.apply(op);
            h.pump();
        }
        h.check()?;
    }
}
