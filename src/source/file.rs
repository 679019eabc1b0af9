//! Following a log file across rotations: nothing lost, nothing twice.
//!
//! # Why not linemux
//!
//! linemux 0.3 (the crate first chosen) loses data in ways that cannot be wrapped away, so this
//! follower is written directly on `std::fs` positional reads and polling:
//!
//! - **Rename rotation.** linemux keys its readers by *path*. When logrotate renames `mail.log`
//!   to `mail.log.1` and creates a new `mail.log`, the `Create` event replaces the reader of the
//!   path with one on the new file and drops the old one. Everything still unread in the old file
//!   is lost: the tail written just before the rename, and the lines the writer keeps appending
//!   to the renamed file until it reopens (after postrotate's HUP). The renamed file's events
//!   arrive under `mail.log.1`, which has no reader.
//! - **Partial lines.** It reads with tokio's `Lines`, which hands out whatever precedes EOF as
//!   a line: a line written in two `write`s is delivered as two lines.
//! - **Invalid UTF-8.** `Lines` yields `String`s; a line that is not UTF-8 is an `InvalidData`
//!   error and its bytes are gone.
//! - **Missed create.** A `Modify` for a path without a reader opens the file at its *current
//!   size*, so if the create event was coalesced away, the content written so far is skipped.
//! - No line length limit: a line without `\n` grows memory without bound.
//!
//! # How this follower works
//!
//! One blocking thread per file polls every `poll_interval` (files are local and a poll is two
//! `stat`s plus, when there is data, `pread`s of up to `read_buffer` bytes):
//!
//! - It holds the file *descriptor* of the file it reads. When the path names another file
//!   (rename or delete plus recreate), it opens the new one and reads it from the start, but keeps
//!   the old descriptor and goes on draining it until it has been quiet for `rotate_grace`: the
//!   lines written to the old file after the rename, before the writer reopens, are read too.
//! - Order across the old and new file: with a single writer, everything written to the old file
//!   precedes everything written to the new one. So a chunk read from a newer file is only
//!   delivered after the older files have been drained again *after* that chunk was read.
//! - A path that disappears (delete, rename without create) changes nothing until a file appears
//!   there again; the old descriptor stays readable meanwhile.
//! - Copytruncate: the size dropping below the offset, or the last bytes read no longer being
//!   where they were (the file was truncated and has already grown past the old offset), both
//!   mean "start again at 0".
//! - Partial lines are held until their `\n`; a line longer than `max_line` is delivered cut to
//!   `max_line` bytes and the rest up to its `\n` is skipped, so it never stalls what follows.
//!
//! Limits of any follower, documented rather than solved: lines written between the last read
//! and a copytruncate are only in the copy; if two rotations happen within one poll interval,
//! the middle file is never seen.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;

use super::{Position, SourceMsg, Tail};

/// How to follow a file.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Read what the file already holds (default: start at its end).
    pub from_start: bool,
    /// Longest line delivered whole; longer ones are cut (default 64 KiB).
    pub max_line: usize,
    /// How often the file is checked (default 250 ms).
    pub poll_interval: Duration,
    /// How long a rotated-away or deleted file is still read after its last new data
    /// (default 5 s): the writer may write to it until it reopens its log.
    pub rotate_grace: Duration,
    /// Bytes read per `pread`; one [`SourceMsg::Lines`] per read (default 256 KiB).
    pub read_buffer: usize,
    /// Incremented to have the path looked at now instead of at the next poll (SIGHUP).
    pub wake: Arc<AtomicU64>,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            from_start: false,
            max_line: 64 * 1024,
            poll_interval: Duration::from_millis(250),
            rotate_grace: Duration::from_secs(5),
            read_buffer: 256 * 1024,
            wake: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// How many rotated-away files are drained at once; older ones are closed first.
const MAX_OPEN_FILES: usize = 4;
/// How many of the last bytes read are remembered to notice a file rewritten behind our back.
const TAIL: usize = 64;

/// Follows `path`, sending what it reads to `tx`, until `tx` is closed or the returned future
/// is dropped.
///
/// Where it starts: at `resume` if that is the file at the path (at 0 if the file is now
/// shorter); at the start of the file if `resume` names another file (it was rotated while we
/// were away) or the file appears only later; else at the start or end per `opts.from_start`.
pub async fn follow_file(
    source: usize,
    path: PathBuf,
    opts: FollowOptions,
    tx: Sender<SourceMsg>,
    resume: Option<Position>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    // Dropping this future (cancellation) stops the thread at its next poll.
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _guard = StopOnDrop(stop.clone());
    let follower = Follower {
        source,
        path,
        opts,
        tx,
        stop,
        resume,
        files: Vec::new(),
        has_current: false,
        started: false,
        sent_waiting: false,
        last_error: None,
        failing: false,
        failed_this_poll: false,
    };
    let _ = tokio::task::spawn_blocking(move || follower.run()).await;
}

/// The channel is closed or we were told to stop.
struct Closed;

/// One open file being read.
struct Tracked {
    file: File,
    dev: u64,
    inode: u64,
    /// Bytes read so far.
    offset: u64,
    /// Offset just past the last line delivered (for [`Position`]).
    committed: u64,
    /// The last bytes before `committed` (for [`Position::tail`]).
    committed_tail: Tail,
    splitter: Splitter,
    /// The last bytes read, to recognise the file on the next poll.
    tail: Vec<u8>,
    /// When data was last read from it (or when it was rotated away).
    last_data: Instant,
}

impl Tracked {
    fn new(file: File, meta: &Metadata, offset: u64) -> Tracked {
        Tracked {
            file,
            dev: meta.dev(),
            inode: meta.ino(),
            offset,
            committed: offset,
            committed_tail: Tail::default(),
            splitter: Splitter::default(),
            tail: Vec::new(),
            last_data: Instant::now(),
        }
    }

    fn same_file(&self, meta: &Metadata) -> bool {
        self.dev == meta.dev() && self.inode == meta.ino()
    }

    /// Reads up to `max` bytes at the offset.
    ///
    /// The last bytes already read are read again in the same `pread` and must still be there:
    /// otherwise the file was truncated (copytruncate) and perhaps already grew past our offset.
    /// Checking in the same read leaves no gap for a truncation between check and read.
    fn read_chunk(&mut self, max: usize) -> io::Result<Chunk> {
        let size = self.file.metadata()?.len();
        if size < self.offset {
            return Ok(Chunk::Truncated);
        }
        let want = usize::try_from(size - self.offset).map_or(max, |n| n.min(max));
        if want == 0 && self.tail.is_empty() {
            return Ok(Chunk::Eof);
        }
        let keep = self.tail.len();
        let start = self.offset - keep as u64;
        let mut buf = vec![0u8; keep + want];
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if got < keep || buf[..keep] != self.tail[..] {
            return Ok(Chunk::Truncated);
        }
        buf.truncate(got);
        if got == keep {
            return Ok(Chunk::Eof);
        }
        self.offset += (got - keep) as u64;
        let tail_from = got.saturating_sub(TAIL);
        self.tail.clear();
        self.tail.extend_from_slice(&buf[tail_from..]);
        self.last_data = Instant::now();
        Ok(Chunk::Data(buf, keep))
    }

    /// Starts again at 0.
    fn reset(&mut self) {
        self.offset = 0;
        self.committed = 0;
        self.committed_tail = Tail::default();
        self.tail.clear();
    }

    /// Reading goes on at a saved position (whose tail was checked). A position inside a line
    /// (reading began there, or a cut line's rest was being skipped) skips to the next `\n`:
    /// the rest of a line is not a line of its own.
    fn resume_at(&mut self, pos: &Position) {
        self.offset = pos.offset;
        self.committed = pos.offset;
        self.committed_tail = pos.tail;
        self.tail = pos.tail.as_bytes().to_vec();
        self.splitter.discarding = pos.tail.as_bytes().last().is_some_and(|&b| b != b'\n');
    }
}

/// What one read found.
enum Chunk {
    Eof,
    Truncated,
    /// New data: the buffer from the given index on.
    Data(Vec<u8>, usize),
}

struct Follower {
    source: usize,
    path: PathBuf,
    opts: FollowOptions,
    tx: Sender<SourceMsg>,
    stop: Arc<AtomicBool>,
    resume: Option<Position>,
    /// Open files, oldest first; the last one is the file at the path if `has_current`.
    files: Vec<Tracked>,
    has_current: bool,
    /// Whether the path was looked at once (the first file is positioned per the options).
    started: bool,
    sent_waiting: bool,
    last_error: Option<String>,
    /// An error was reported and no poll since went without one.
    failing: bool,
    failed_this_poll: bool,
}

impl Follower {
    fn run(mut self) {
        let mut woken = self.opts.wake.load(Ordering::Relaxed);
        loop {
            if self.closed() || self.poll().is_err() {
                return;
            }
            let until = Instant::now() + self.opts.poll_interval;
            // Sleep in small steps so a stop or a wake-up is noticed promptly.
            loop {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                std::thread::sleep((until - now).min(Duration::from_millis(100)));
                if self.closed() {
                    return;
                }
                let wake = self.opts.wake.load(Ordering::Relaxed);
                if wake != woken {
                    woken = wake;
                    break;
                }
            }
        }
    }

    fn closed(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.tx.is_closed()
    }

    fn send(&self, msg: SourceMsg) -> Result<(), Closed> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Closed);
        }
        self.tx.blocking_send(msg).map_err(|_| Closed)
    }

    fn error(&mut self, message: String) -> Result<(), Closed> {
        self.failing = true;
        self.failed_this_poll = true;
        if self.last_error.as_deref() != Some(message.as_str()) {
            self.last_error = Some(message.clone());
            self.send(SourceMsg::Error {
                source: self.source,
                message,
            })?;
        }
        Ok(())
    }

    /// One look at the path and the open files.
    fn poll(&mut self) -> Result<(), Closed> {
        self.failed_this_poll = false;
        self.check_path()?;
        for k in 0..self.files.len() {
            self.drain(k)?;
        }
        self.expire()?;
        if self.failing && !self.failed_this_poll {
            self.failing = false;
            self.last_error = None;
            self.send(SourceMsg::Recovered {
                source: self.source,
            })?;
        }
        Ok(())
    }

    /// Notices a new file at the path (or the first one) and opens it.
    fn check_path(&mut self) -> Result<(), Closed> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Deleted or renamed away: keep reading the open file until a new one appears.
                if !self.started {
                    self.started = true;
                    if !self.sent_waiting {
                        self.sent_waiting = true;
                        self.send(SourceMsg::Waiting {
                            source: self.source,
                        })?;
                    }
                }
                return Ok(());
            }
            Err(e) => {
                let msg = e.to_string();
                return self.error(msg);
            }
        };
        if self.has_current && self.files.last().is_some_and(|t| t.same_file(&meta)) {
            self.last_error = None;
            return Ok(());
        }
        if !meta.is_file() {
            let msg = "not a regular file".to_string();
            return self.error(msg);
        }
        // A file we still hold is back at the path (renamed back): it is current again, read on
        // from where we are in it.
        if let Some(k) = self.files.iter().position(|t| t.same_file(&meta)) {
            let back = self.files.remove(k);
            if let Some(old) = self.files.last_mut() {
                old.last_data = Instant::now();
            }
            self.files.push(back);
            self.has_current = true;
            self.last_error = None;
            return self.send(SourceMsg::Rotated {
                source: self.source,
            });
        }
        let file = match File::open(&self.path) {
            Ok(file) => file,
            // Renamed away between stat and open: next poll.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                let msg = e.to_string();
                return self.error(msg);
            }
        };
        let meta = match file.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                let msg = e.to_string();
                return self.error(msg);
            }
        };
        self.last_error = None;
        let first = !self.started;
        self.started = true;
        let rotated = self.has_current;
        let mut tracked = Tracked::new(file, &meta, 0);
        let mut predecessor = None;
        if first {
            predecessor = self.position_first(&mut tracked, &meta);
        }
        if rotated {
            // The file being replaced starts its grace period now.
            if let Some(old) = self.files.last_mut() {
                old.last_data = Instant::now();
            }
        }
        let found_predecessor = predecessor.is_some();
        if let Some(p) = predecessor {
            self.files.push(p);
        }
        self.files.push(tracked);
        self.has_current = true;
        if found_predecessor {
            self.send(SourceMsg::Rotated {
                source: self.source,
            })?;
        }
        if self.files.len() > MAX_OPEN_FILES {
            // Drain the oldest once more, then let it go.
            self.drain(0)?;
            self.close(0)?;
        }
        if rotated {
            self.send(SourceMsg::Rotated {
                source: self.source,
            })?;
        }
        Ok(())
    }

    /// Where reading of the file found at start begins; the file read before it, when the
    /// saved position is in a file that was rotated away while we were not running.
    fn position_first(&mut self, t: &mut Tracked, meta: &Metadata) -> Option<Tracked> {
        let size = meta.len();
        if let Some(pos) = self.resume.take() {
            if pos.dev == meta.dev()
                && pos.inode == meta.ino()
                && pos.offset <= size
                && tail_matches(&t.file, &pos)
            {
                t.resume_at(&pos);
                return None;
            }
            // Another file (rotated while we were away), or this one truncated and rewritten
            // (copytruncate, perhaps grown past the offset again): this one from 0, after the
            // unread tail of the file the position is in, if it is still beside it.
            return predecessor(&self.path, &pos);
        }
        if self.opts.from_start || size == 0 {
            return None;
        }
        t.offset = size;
        t.committed = size;
        // Starting in the middle of a line: skip its rest, it is not a line of its own.
        let mut last = [0u8; 1];
        if t.file.read_exact_at(&mut last, size - 1).is_ok() && last[0] != b'\n' {
            t.splitter.discarding = true;
        }
        None
    }

    /// Reads file `k` to its end; each chunk is delivered only after the older files were
    /// drained again (their data precedes it).
    fn drain(&mut self, k: usize) -> Result<(), Closed> {
        loop {
            let (chunk, from) = match self.files[k].read_chunk(self.opts.read_buffer) {
                Ok(Chunk::Eof) => return Ok(()),
                Ok(Chunk::Truncated) => {
                    self.files[k].reset();
                    self.send(SourceMsg::Truncated {
                        source: self.source,
                    })?;
                    continue;
                }
                Ok(Chunk::Data(chunk, from)) => (chunk, from),
                Err(e) => {
                    let msg = e.to_string();
                    return self.error(msg);
                }
            };
            for j in 0..k {
                self.drain(j)?;
            }
            self.deliver(k, &chunk, from)?;
        }
    }

    /// Delivers the lines completed by `buf[from..]`; `buf` ends at the file's offset and
    /// starts with bytes already read (up to [`TAIL`]).
    fn deliver(&mut self, k: usize, buf: &[u8], from: usize) -> Result<(), Closed> {
        let max_line = self.opts.max_line;
        let t = &mut self.files[k];
        let mut lines = Vec::new();
        let cut = t.splitter.push(&buf[from..], max_line, &mut lines);
        let pending = t.splitter.pending.len();
        let committed = t.offset - pending as u64;
        if committed != t.committed {
            // A line ended in this chunk, so what is pending starts inside `buf`.
            if let Some(end) = buf.len().checked_sub(pending) {
                t.committed_tail = Tail::new(&buf[..end]);
            }
            t.committed = committed;
        }
        self.emit(lines, cut)
    }

    fn emit(&mut self, lines: Vec<Vec<u8>>, cut: usize) -> Result<(), Closed> {
        for _ in 0..cut {
            self.send(SourceMsg::LineTooLong {
                source: self.source,
            })?;
        }
        if lines.is_empty() {
            return Ok(());
        }
        let position = if self.has_current {
            self.files.last().map(|t| Position {
                dev: t.dev,
                inode: t.inode,
                offset: t.committed,
                tail: t.committed_tail,
            })
        } else {
            None
        };
        self.send(SourceMsg::Lines {
            source: self.source,
            lines,
            position,
        })
    }

    /// Closes rotated-away files that have been quiet for the grace period.
    fn expire(&mut self) -> Result<(), Closed> {
        let olds = if self.has_current {
            self.files.len() - 1
        } else {
            self.files.len()
        };
        let mut k = 0;
        let mut olds_left = olds;
        while k < olds_left {
            if self.files[k].last_data.elapsed() >= self.opts.rotate_grace {
                self.close(k)?;
                olds_left -= 1;
            } else {
                k += 1;
            }
        }
        Ok(())
    }

    /// Stops reading file `k`; a last line without `\n` is delivered as it is.
    fn close(&mut self, k: usize) -> Result<(), Closed> {
        let mut t = self.files.remove(k);
        let mut lines = Vec::new();
        t.splitter.finish(&mut lines);
        self.emit(lines, 0)
    }
}

/// Where following `path` begins when no position was saved: its end (or start, with
/// `from_start`), or [`Position::ABSENT`] when nothing is there yet. Taken at startup and
/// saved at once, so that what is written from then on is read after a restart even if pflog
/// stops before it read a line.
pub fn initial_position(path: &Path, from_start: bool) -> io::Result<Position> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Position::ABSENT),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        // Reported by the follower, which keeps trying.
        return Ok(Position::ABSENT);
    }
    let offset = if from_start { 0 } else { meta.len() };
    let start = offset.saturating_sub(Tail::MAX as u64);
    let mut tail = vec![0u8; (offset - start) as usize];
    file.read_exact_at(&mut tail, start)?;
    Ok(Position {
        dev: meta.dev(),
        inode: meta.ino(),
        offset,
        tail: Tail::new(&tail),
    })
}

/// What names a file for `--log`: its device and inode, or, when it is not there yet, its
/// path with the directory's symbolic links and `..` resolved as far as the directory exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileIdentity {
    Inode(u64, u64),
    Path(PathBuf),
}

impl FileIdentity {
    pub fn of(path: &Path) -> FileIdentity {
        if let Ok(meta) = std::fs::metadata(path) {
            return FileIdentity::Inode(meta.dev(), meta.ino());
        }
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        // The nearest existing ancestor canonicalized, the rest cleaned lexically.
        let mut rest = Vec::new();
        let mut dir = absolute.as_path();
        let base = loop {
            if let Ok(c) = dir.canonicalize() {
                break c;
            }
            match (dir.parent(), dir.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    dir = parent;
                }
                _ => break dir.to_path_buf(),
            }
        };
        let mut out = base;
        for name in rest.iter().rev() {
            out.push(name);
        }
        let mut clean = PathBuf::new();
        for c in out.components() {
            match c {
                std::path::Component::ParentDir => {
                    clean.pop();
                }
                std::path::Component::CurDir => {}
                c => clean.push(c),
            }
        }
        FileIdentity::Path(clean)
    }
}

/// Are the bytes before `pos.offset` in `file` the saved tail?
fn tail_matches(file: &File, pos: &Position) -> bool {
    let tail = pos.tail.as_bytes();
    let Some(start) = pos.offset.checked_sub(tail.len() as u64) else {
        return false;
    };
    let mut buf = vec![0u8; tail.len()];
    file.read_exact_at(&mut buf, start).is_ok() && buf == tail
}

/// The file a saved position was in, found beside `path` after it was rotated while we were
/// not running, positioned there: renamed (`mail.log.1`, `mail.log-20261124`: the same inode)
/// or copied (copytruncate: another inode with the saved tail at the offset). Compressed
/// rotations are not read.
fn predecessor(path: &Path, pos: &Position) -> Option<Tracked> {
    let name = path.file_name()?.to_str()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.len() > name.len()
                && n.starts_with(name)
                && matches!(n.as_bytes()[name.len()], b'.' | b'-')
                && ![".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z"]
                    .iter()
                    .any(|ext| n.ends_with(ext))
        })
        .map(|e| e.path())
        .collect();
    candidates.sort();
    let mut copy = None;
    for candidate in candidates {
        let Ok(file) = File::open(&candidate) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if !meta.is_file() || meta.len() < pos.offset || !tail_matches(&file, pos) {
            continue;
        }
        if meta.dev() == pos.dev && meta.ino() == pos.inode {
            copy = Some((file, meta));
            break;
        }
        // A copy is only recognised by its content.
        if copy.is_none() && !pos.tail.as_bytes().is_empty() {
            copy = Some((file, meta));
        }
    }
    copy.map(|(file, meta)| {
        let mut t = Tracked::new(file, &meta, 0);
        t.resume_at(pos);
        t
    })
}

/// Cuts bytes into lines, holding a partial line until its `\n`.
#[derive(Debug, Default)]
pub struct Splitter {
    /// The start of a line whose `\n` has not been read yet (at most `max_line` bytes).
    pub pending: Vec<u8>,
    /// Skipping the rest of a line that was cut (or that we started in the middle of).
    pub discarding: bool,
}

impl Splitter {
    /// Appends the complete lines in `data` to `out`; returns how many lines were cut.
    pub fn push(&mut self, mut data: &[u8], max_line: usize, out: &mut Vec<Vec<u8>>) -> usize {
        let max_line = max_line.max(1);
        let mut cut = 0;
        while !data.is_empty() {
            let (piece, complete) = match memchr::memchr(b'\n', data) {
                Some(nl) => (&data[..nl], true),
                None => (data, false),
            };
            data = if complete {
                &data[piece.len() + 1..]
            } else {
                &[]
            };
            if self.discarding {
                if complete {
                    self.discarding = false;
                }
                continue;
            }
            let room = max_line - self.pending.len();
            if piece.len() > room {
                self.pending.extend_from_slice(&piece[..room]);
                out.push(std::mem::take(&mut self.pending));
                cut += 1;
                self.discarding = !complete;
                continue;
            }
            self.pending.extend_from_slice(piece);
            if complete {
                out.push(std::mem::take(&mut self.pending));
            }
        }
        cut
    }

    /// The end of the data: a partial line is delivered as a line.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        if !self.pending.is_empty() {
            out.push(std::mem::take(&mut self.pending));
        }
        self.discarding = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(chunks: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, usize) {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        let mut cut = 0;
        for c in chunks {
            cut += s.push(c, max, &mut out);
        }
        (out, cut)
    }

    #[test]
    fn partial_lines_are_joined() {
        let (lines, cut) = split_all(&[b"ab", b"c\nde", b"", b"f\n", b"g"], 100);
        assert_eq!(lines, vec![b"abc".to_vec(), b"def".to_vec()]);
        assert_eq!(cut, 0);
    }

    #[test]
    fn long_lines_are_cut_and_skipped() {
        let (lines, cut) = split_all(&[b"0123", b"456789\nok\n0123456789", b"xx\nend\n"], 5);
        assert_eq!(
            lines,
            vec![
                b"01234".to_vec(),
                b"ok".to_vec(),
                b"01234".to_vec(),
                b"end".to_vec()
            ]
        );
        assert_eq!(cut, 2);
        // Exactly max_line is not cut.
        let (lines, cut) = split_all(&[b"12345\n"], 5);
        assert_eq!((lines, cut), (vec![b"12345".to_vec()], 0));
    }

    #[test]
    fn empty_lines_and_binary_pass() {
        let (lines, _) = split_all(&[b"\n\0\xff\xfe\n"], 10);
        assert_eq!(lines, vec![Vec::new(), b"\0\xff\xfe".to_vec()]);
    }

    /// The read order that keeps lines in order across a rotation: data found in the newer file
    /// is delivered only after the older file was drained again, because with a single writer
    /// everything in the older file was written first (here: the older file got its line after
    /// the follower last drained it, but before the newer file's line was read).
    #[test]
    fn a_newer_file_waits_for_the_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str, data: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            let file = File::open(&path).unwrap();
            let meta = file.metadata().unwrap();
            Tracked::new(file, &meta, 0)
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let mut follower = Follower {
            source: 0,
            path: dir.path().join("new"),
            opts: FollowOptions::default(),
            tx,
            stop: Arc::new(AtomicBool::new(false)),
            resume: None,
            files: vec![open("old", b"old 1\n"), open("new", b"new 1\n")],
            has_current: true,
            started: true,
            sent_waiting: false,
            last_error: None,
            failing: false,
            failed_this_poll: false,
        };
        assert!(follower.drain(1).is_ok());
        let mut lines = Vec::new();
        while let Ok(SourceMsg::Lines { lines: l, .. }) = rx.try_recv() {
            lines.extend(l);
        }
        assert_eq!(lines, [b"old 1".to_vec(), b"new 1".to_vec()]);
    }

    proptest! {
        /// However the bytes are chunked, the lines are those of splitting the whole on `\n`.
        #[test]
        fn chunking_does_not_matter(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("no nl", |b| *b != b'\n'), 0..40), 0..20),
            cuts in proptest::collection::vec(0usize..1000, 0..10),
        ) {
            let mut data = Vec::new();
            for l in &lines {
                data.extend_from_slice(l);
                data.push(b'\n');
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut prev = 0;
            for p in points {
                chunks.push(&data[prev..p]);
                prev = p;
            }
            chunks.push(&data[prev..]);
            let (got, cut) = split_all(&chunks, 25);
            let want: Vec<Vec<u8>> = lines.iter().map(|l| l[..l.len().min(25)].to_vec()).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(cut, lines.iter().filter(|l| l.len() > 25).count());
        }
    }
}
