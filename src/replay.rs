//! `pflog replay`: feeds log files (plain or compressed, standard input) through the pipeline,
//! with rspamd's own log merged in by time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use crate::envelope::Micros;
use crate::pipeline::{LineResult, Pipeline};

mod staged;

const READ_BUFFER: usize = 256 * 1024;

/// How a log is compressed, told by its first bytes (not by its name: `zcat`'s output on
/// standard input, or a rotated log renamed by hand, are read alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Bzip2,
    Zstd,
}

impl Compression {
    /// The longest magic number below.
    const MAGIC: usize = 6;

    /// A syslog line starts with a date, never with one of these.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
            Compression::Bzip2
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// What standard input is read as, said on standard error when it is a terminal (else
/// `pflog replay` with no file would wait without a word).
pub const TERMINAL_HINT: &str =
    "pflog: reading log lines from standard input (a terminal); end with Ctrl-D";

/// Opens a log for reading: `-` is standard input; regular files, FIFOs and terminals are
/// read, other devices refused (`/dev/zero` is not a log); compressed logs are decompressed.
pub fn open_log(path: &Path) -> Result<Box<dyn Read + Send>, String> {
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let source: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        let stdin = io::stdin();
        if stdin.is_terminal() {
            eprintln!("{TERMINAL_HINT}");
        }
        Box::new(stdin)
    } else {
        let file = File::open(path).map_err(|e| named(&e))?;
        let meta = file.metadata().map_err(|e| named(&e))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(named(&"is a directory"));
        }
        if !kind.is_file() && !is_fifo(&kind) {
            if !file.is_terminal() {
                return Err(named(&"not a regular file, FIFO or terminal"));
            }
            eprintln!("{TERMINAL_HINT}");
        }
        Box::new(file)
    };
    decompressed(source).map_err(|e| named(&e))
}

fn is_fifo(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo()
}

/// `source`, decompressed when its first bytes say it is compressed.
fn decompressed(mut source: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    let mut head = [0u8; Compression::MAGIC];
    let mut n = 0;
    // A pipe may hand out fewer bytes at a time.
    while n < head.len() {
        match source.read(&mut head[n..]) {
            // The end: not read again (a terminal would wait for a second Ctrl-D).
            Ok(0) => return Ok(Box::new(io::Cursor::new(head[..n].to_vec()))),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let compression = Compression::detect(&head);
    let whole = io::Cursor::new(head.to_vec()).chain(source);
    // The decoders read their input in small pieces: give them a buffer. Each reads every
    // stream (member, frame) of a file, as `zcat` and the like do.
    let buffered = |r| BufReader::with_capacity(READ_BUFFER, r);
    Ok(match compression {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered(whole))),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(buffered(
            whole,
        ))),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buffered(whole))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered(whole))?),
    })
}

/// A line's first `max` bytes (without its line end) when it is longer than `max` bytes, as
/// `serve` cuts it.
fn cut(line: &[u8], max: usize) -> Option<&[u8]> {
    let content = line.strip_suffix(b"\n").unwrap_or(line);
    (content.len() > max).then(|| &content[..max])
}

/// Bytes per chunk handed from a file's reader thread to the pipeline.
const CHUNK: usize = 256 * 1024;
/// Chunks read ahead per file.
const CHUNKS_AHEAD: usize = 2;

type Chunk = Result<ChunkData, String>;

/// The text of a chunk when it is UTF-8 throughout (almost always), else `None`.
type ChunkText<'a> = Option<&'a str>;

self_cell::self_cell!(
    /// A chunk's lines, checked for UTF-8 as a whole by the reader thread (with simdutf8, as
    /// the stagers do), so that the pipeline's thread need not check each line again.
    struct ChunkData {
        owner: Vec<u8>,
        #[covariant]
        dependent: ChunkText,
    }
);

/// One line of a chunk.
#[derive(Clone, Copy)]
enum Line<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> Line<'a> {
    fn bytes(self) -> &'a [u8] {
        match self {
            Line::Text(t) => t.as_bytes(),
            Line::Bytes(b) => b,
        }
    }

    fn process(self, pipeline: &mut Pipeline) -> LineResult {
        match self {
            Line::Text(t) => pipeline.process_text(t),
            Line::Bytes(b) => pipeline.process_line(b),
        }
    }
}

/// Reads lines, bytes as they are (invalid UTF-8 is the pipeline's job). A thread of its own
/// reads (and decompresses) the file into chunks of whole lines, so that the pipeline's thread
/// spends its time on lines, not on `read` and gzip; lines are handed out as slices of the
/// chunk, so a line costs no copy. A line longer than a chunk makes a bigger chunk.
struct Lines {
    name: PathBuf,
    reader: Reader,
    /// Longer lines are cut to this many bytes and counted in `long_lines`.
    max_line: usize,
    long_lines: u64,
    chunk: ChunkData,
    /// The unread lines are `chunk[start..]`.
    start: usize,
}

enum Reader {
    /// The file, until its reader thread starts (at the first line asked for: files are opened
    /// up front, but read one after another).
    Waiting(Box<dyn Read + Send>),
    Reading {
        chunks: Receiver<Chunk>,
        /// Chunks done with, back to the reader for reuse.
        spent: SyncSender<Vec<u8>>,
    },
    Done,
}

impl Lines {
    fn new(source: Box<dyn Read + Send>, name: PathBuf, max_line: usize) -> Lines {
        Lines {
            name,
            reader: Reader::Waiting(source),
            max_line,
            long_lines: 0,
            chunk: checked(Vec::new()),
            start: 0,
        }
    }

    /// The next line with its `\n` (the last line of a file may have none).
    fn next_line(&mut self) -> Result<Option<Line<'_>>, String> {
        loop {
            let bytes = self.chunk.borrow_owner();
            if self.start < bytes.len() {
                let rest = &bytes[self.start..];
                let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
                let line = self.start..self.start + len;
                self.start = line.end;
                if len > self.max_line && cut(&bytes[line.clone()], self.max_line).is_some() {
                    self.long_lines += 1;
                    let whole = &self.chunk.borrow_owner()[line];
                    return Ok(Some(Line::Bytes(
                        cut(whole, self.max_line).unwrap_or(whole),
                    )));
                }
                // A `\n` always ends a character: the line is a str slice of a text chunk.
                return Ok(Some(match self.chunk.borrow_dependent() {
                    Some(text) => Line::Text(&text[line]),
                    None => Line::Bytes(&self.chunk.borrow_owner()[line]),
                }));
            }
            let (chunks, spent) = match std::mem::replace(&mut self.reader, Reader::Done) {
                Reader::Done => return Ok(None),
                Reader::Waiting(source) => {
                    spawn_reader(source, self.name.display().to_string(), self.max_line)?
                }
                Reader::Reading { chunks, spent } => (chunks, spent),
            };
            let next = match chunks.recv() {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => return Err(e),
                // The reader is done: end of input.
                Err(_) => continue,
            };
            let _ = spent.try_send(std::mem::replace(&mut self.chunk, next).into_owner());
            self.start = 0;
            self.reader = Reader::Reading { chunks, spent };
        }
    }
}

/// Starts the thread that reads `source` into chunks of whole lines.
fn spawn_reader(
    source: Box<dyn Read + Send>,
    name: String,
    max_line: usize,
) -> Result<(Receiver<Chunk>, SyncSender<Vec<u8>>), String> {
    let (chunks_tx, chunks) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
    let (spent, spent_rx) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD + 1);
    let error = format!("{name}: cannot start a reader thread");
    std::thread::Builder::new()
        .name("pflog-read".into())
        .spawn(move || {
            let mut reader = ChunkReader::new(source, name, max_line);
            // After an error the reader answers "end of input".
            loop {
                let mut buf = spent_rx.try_recv().unwrap_or_default();
                let chunk = match reader.next_chunk(&mut buf) {
                    Ok(true) => Ok(buf),
                    Ok(false) => return,
                    Err(e) => Err(e),
                };
                if chunks_tx.send(chunk.map(checked)).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| format!("{error}: {e}"))?;
    Ok((chunks, spent))
}

/// Reads a source as chunks that end at a line end (but the last), until the input ends or a
/// read fails. A line longer than a chunk makes a bigger chunk, up to `max_line`: the rest of a
/// longer line is dropped here (its first bytes are still too long a line, for the caller to
/// cut and count), so that no line, not even `/dev/zero`'s, takes more memory than that.
struct ChunkReader {
    source: Box<dyn Read + Send>,
    name: String,
    max_line: usize,
    /// Dropping the rest of a line too long to keep, up to its `\n`.
    discarding: bool,
    /// The start of a line that the previous chunk cut.
    carry: Vec<u8>,
    /// A read failed after the whole lines of the last chunk: this is the next answer.
    failed: Option<String>,
    done: bool,
}

impl ChunkReader {
    fn new(source: Box<dyn Read + Send>, name: String, max_line: usize) -> ChunkReader {
        ChunkReader {
            source,
            name,
            max_line,
            discarding: false,
            carry: Vec::new(),
            failed: None,
            done: false,
        }
    }

    /// Fills `buf` (which may hold old bytes: it is resized and overwritten) with the next
    /// chunk of whole lines; `Ok(false)` at the end of input. A failed read is an error after
    /// the whole lines read before it, then the end.
    fn next_chunk(&mut self, buf: &mut Vec<u8>) -> Result<bool, String> {
        if let Some(e) = self.failed.take() {
            self.done = true;
            return Err(e);
        }
        while !self.done {
            // A buffer used before keeps its bytes: only what it lacks of a full chunk is
            // zeroed (zeroing whole chunks cost as much as reading them).
            let mut filled = self.carry.len();
            let size = CHUNK.max(2 * filled);
            if buf.len() < size {
                buf.resize(size, 0);
            }
            buf[..filled].copy_from_slice(&self.carry);
            self.carry.clear();
            // Fill the buffer; when full without a line end, it holds part of one long line:
            // grow. `end`: where the chunk ends (after its last line end, or at end of input).
            let end = loop {
                match self.source.read(&mut buf[filled..]) {
                    Ok(0) => {
                        self.done = true;
                        break filled;
                    }
                    Ok(n) if self.discarding => {
                        // `filled` is 0: the line cut was the whole chunk.
                        let Some(i) = memchr::memchr(b'\n', &buf[filled..filled + n]) else {
                            continue;
                        };
                        self.discarding = false;
                        let rest = filled + i + 1..filled + n;
                        let len = rest.len();
                        buf.copy_within(rest, filled);
                        filled += len;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // The whole lines read so far still count.
                        let whole = memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1);
                        buf.truncate(whole);
                        let e = format!("{}: {e}", self.name);
                        if whole == 0 {
                            self.done = true;
                            return Err(e);
                        }
                        self.failed = Some(e);
                        return Ok(true);
                    }
                }
                if filled == buf.len() {
                    match memchr::memrchr(b'\n', buf) {
                        Some(i) => break i + 1,
                        // One line, longer than kept: one byte more than kept (so that it is
                        // still too long), a line end, and the rest dropped.
                        None if filled >= self.max_line + 2 => {
                            buf[self.max_line + 1] = b'\n';
                            filled = self.max_line + 2;
                            self.discarding = true;
                            break filled;
                        }
                        None => buf.resize(2 * buf.len(), 0),
                    }
                }
            };
            self.carry.extend_from_slice(&buf[end..filled]);
            buf.truncate(end);
            if !buf.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A chunk as text when it is UTF-8 throughout (then no line of it needs checking again).
fn checked(buf: Vec<u8>) -> ChunkData {
    ChunkData::new(buf, |bytes| simdutf8::basic::from_utf8(bytes).ok())
}

/// Unsupported lines printed so far, per program (`--show-unsupported`).
pub struct UnsupportedSampler {
    limit: usize,
    shown: HashMap<&'static str, usize>,
}

impl UnsupportedSampler {
    pub fn new(limit: usize) -> UnsupportedSampler {
        UnsupportedSampler {
            limit,
            shown: HashMap::new(),
        }
    }

    /// Whether it prints anything at all.
    fn active(&self) -> bool {
        self.limit > 0
    }

    /// Processes one line, shows it if it is unsupported and within the limit, and counts it.
    fn process(
        &mut self,
        pipeline: &mut Pipeline,
        line: Line<'_>,
        count: &mut u64,
        err: &mut dyn Write,
    ) {
        let r = line.process(pipeline);
        self.note(r, line.bytes(), err);
        *count += 1;
    }

    fn note(&mut self, result: LineResult, line: &[u8], err: &mut dyn Write) {
        if let LineResult::Unsupported(program) = result
            && self.limit > 0
        {
            let n = self.shown.entry(program).or_insert(0);
            if *n < self.limit {
                *n += 1;
                let text = String::from_utf8_lossy(line);
                let text = escape_controls(text.trim_end());
                let _ = writeln!(err, "unsupported [{program}]: {text}");
            }
        }
    }
}

/// `text` with its control characters (a terminal's escape sequences among them) written as
/// `\t`, `\r`, `\x1b`, `\u{9b}`: a log line shown on a terminal must not drive it.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// How a replay reads its input.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Above 1: that many threads (this one among them) read and stage chunks of lines and
    /// take turns to record them (not when rspamd logs are merged: merging needs each line's
    /// time before the next is read).
    pub threads: usize,
    /// Longer lines: their first `max_line` bytes are processed, the rest skipped, and they
    /// count in `pflog_source_long_lines_total{source=FILE}`.
    pub max_line: usize,
}

/// What a replay read.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Lines processed.
    pub lines: u64,
    /// Files that could not be read to their end (a truncated `.gz`, a read error), each as
    /// one line naming the file: their lines up to there were processed.
    pub incomplete: Vec<String>,
}

/// Feeds every file, in order, through `pipeline`, merging `rspamd_logs` by timestamp.
/// Every file is opened first: one that cannot be opened is an error before any line is read.
/// A file that fails later is noted in [`Replayed::incomplete`] and the next one is read.
pub fn replay(
    pipeline: &mut Pipeline,
    files: &[PathBuf],
    rspamd_logs: &[PathBuf],
    opts: ReplayOptions,
    sampler: &mut UnsupportedSampler,
) -> Result<Replayed, String> {
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    // Open everything first, so a missing file fails before any output.
    let mut mains = Vec::new();
    for f in files {
        mains.push((open_log(f)?, f));
    }
    let mut side = SideLogs::open(rspamd_logs, pipeline, opts.max_line)?;
    let mut stderr = io::stderr();
    let mut count = 0u64;
    let mut incomplete = Vec::new();
    for (source, name) in mains {
        let label = name.display().to_string();
        if opts.threads > 1 && !side.pending() {
            let mut long_lines = 0;
            let staged = staged::replay_staged(
                pipeline,
                source,
                &label,
                opts,
                sampler,
                &mut count,
                &mut long_lines,
            );
            count_long_lines(pipeline, &label, long_lines);
            if let Err(e) = staged {
                incomplete.push(e);
            }
            continue;
        }
        let mut main = Lines::new(source, name.clone(), opts.max_line);
        loop {
            let line = match main.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    incomplete.push(e);
                    break;
                }
            };
            if side.pending()
                && let Some(ts) = pipeline.timestamp_of(line.bytes())
            {
                side.feed_until(ts, pipeline, sampler, &mut count);
            }
            sampler.process(pipeline, line, &mut count, &mut stderr);
        }
        count_long_lines(pipeline, &label, main.long_lines);
    }
    side.feed_until(Micros::MAX, pipeline, sampler, &mut count);
    incomplete.append(&mut side.incomplete);
    // The end of input: no verdict can come any more.
    pipeline.release_held();
    Ok(Replayed {
        lines: count,
        incomplete,
    })
}

/// Long lines count as `serve` counts them, per file (no series for a file without any).
fn count_long_lines(pipeline: &Pipeline, source: &str, n: u64) {
    for _ in 0..n {
        pipeline.metrics().sources().long_line(source);
    }
}

/// rspamd's own log files, read one line ahead so they merge by time.
struct SideLogs {
    files: Vec<Lines>,
    head: Option<(Micros, Vec<u8>)>,
    /// Files that failed before their end (see [`Replayed::incomplete`]).
    incomplete: Vec<String>,
}

impl SideLogs {
    fn open(
        paths: &[PathBuf],
        pipeline: &mut Pipeline,
        max_line: usize,
    ) -> Result<SideLogs, String> {
        let mut files = Vec::new();
        for p in paths {
            files.push(Lines::new(open_log(p)?, p.clone(), max_line));
        }
        files.reverse();
        let mut s = SideLogs {
            files,
            head: None,
            incomplete: Vec::new(),
        };
        s.advance(pipeline);
        Ok(s)
    }

    fn pending(&self) -> bool {
        self.head.is_some()
    }

    fn advance(&mut self, pipeline: &mut Pipeline) {
        self.head = None;
        while let Some(f) = self.files.last_mut() {
            match f.next_line() {
                Ok(Some(line)) => {
                    let line = line.bytes();
                    // Lines without a timestamp of their own go with the previous one.
                    let ts = side_timestamp(pipeline, line).unwrap_or(Micros::MIN);
                    self.head = Some((ts, line.to_vec()));
                    return;
                }
                end => {
                    if let Err(e) = end {
                        self.incomplete.push(e);
                    }
                    let f = self.files.pop().expect("the file just read");
                    count_long_lines(pipeline, &f.name.display().to_string(), f.long_lines);
                }
            }
        }
    }

    fn feed_until(
        &mut self,
        until: Micros,
        pipeline: &mut Pipeline,
        sampler: &mut UnsupportedSampler,
        count: &mut u64,
    ) {
        let mut stderr = io::stderr();
        while let Some((ts, line)) = &self.head {
            if *ts > until {
                break;
            }
            sampler.process(pipeline, Line::Bytes(line), count, &mut stderr);
            self.advance(pipeline);
        }
    }
}

/// The time of a side log's line, read with the pipeline's own clock, so that `--utc` and
/// `--year` apply to it as to the main log. The line is read ahead of main lines that may be
/// older: its year must not move the clock for them (the side log's `Jan 1` must not make the
/// main log's `Dec 31` next year's), so the clock's year state is put back.
fn side_timestamp(pipeline: &mut Pipeline, line: &[u8]) -> Option<Micros> {
    let year = pipeline.year_state();
    let ts = pipeline.timestamp_of(line);
    pipeline.set_year_state(year);
    ts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, then fails if told to.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail_at_end: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.at == self.data.len() && self.fail_at_end {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.step.min(out.len()).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn all_lines(source: Box<dyn Read + Send>) -> (Vec<Vec<u8>>, Option<String>) {
        let mut lines = Lines::new(source, PathBuf::from("test.log"), usize::MAX - 2);
        let mut out = Vec::new();
        loop {
            match lines.next_line() {
                Ok(Some(l)) => out.push(l.bytes().to_vec()),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    fn expected(data: &[u8]) -> Vec<Vec<u8>> {
        data.split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    #[test]
    fn lines_come_whole_across_chunks_and_long_lines() {
        let mut data = Vec::new();
        for i in 0..40_000 {
            data.extend_from_slice(
                format!("Nov 23 00:00:00 mx postfix/qmgr[1]: line {i}\n").as_bytes(),
            );
            if i % 9_999 == 0 {
                // Longer than a chunk, and than two.
                data.extend(std::iter::repeat_n(b'x', 3 * CHUNK + 17));
                data.push(b'\n');
            }
        }
        data.extend_from_slice(b"last line without a newline");
        for step in [usize::MAX, 4096, 997] {
            let source = Trickle {
                data: data.clone(),
                at: 0,
                step,
                fail_at_end: false,
            };
            let (lines, error) = all_lines(Box::new(source));
            assert_eq!(error, None);
            assert!(lines == expected(&data), "step {step}");
        }
        assert_eq!(all_lines(Box::new(io::empty())), (vec![], None));
    }

    /// Lines longer than the cap come cut to it, counted; the lines after them come whole; a
    /// line of any length takes no more memory than the cap (and a chunk).
    #[test]
    fn long_lines_are_cut_counted_and_bounded() {
        let max = 1_000;
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 3 * CHUNK + 17));
        data.extend_from_slice(b"\nsecond\n");
        data.extend(std::iter::repeat_n(b'y', max + 1));
        data.extend_from_slice(b"\n");
        data.extend(std::iter::repeat_n(b'z', max));
        data.extend_from_slice(b"\nlast, cut too: ");
        data.extend(std::iter::repeat_n(b'w', 5 * CHUNK));
        for step in [usize::MAX, 4096, 997] {
            let source = Trickle {
                data: data.clone(),
                at: 0,
                step,
                fail_at_end: false,
            };
            let mut lines = Lines::new(Box::new(source), "t".into(), max);
            let mut out = Vec::new();
            while let Some(line) = lines.next_line().unwrap() {
                out.push(line.bytes().to_vec());
            }
            let mut last = b"last, cut too: ".to_vec();
            last.resize(max, b'w');
            let want = [
                b"first\n".to_vec(),
                vec![b'x'; max],
                b"second\n".to_vec(),
                vec![b'y'; max],
                [vec![b'z'; max], b"\n".to_vec()].concat(),
                last,
            ];
            assert!(
                out == want,
                "step {step}: {:?}",
                out.iter().map(Vec::len).collect::<Vec<_>>()
            );
            assert_eq!(lines.long_lines, 3, "step {step}");
        }
        // 50 MiB of one line: the chunk buffer never grows past a chunk.
        let mut reader = ChunkReader::new(
            Box::new(io::repeat(b'x').take(50 << 20).chain(&b"\nend\n"[..])),
            "t".into(),
            max,
        );
        let mut buf = Vec::new();
        let mut chunks = Vec::new();
        while reader.next_chunk(&mut buf).unwrap() {
            assert!(buf.capacity() <= CHUNK, "{}", buf.capacity());
            chunks.push(buf.clone());
        }
        let mut want = vec![b'x'; max + 1];
        want.push(b'\n');
        assert_eq!(chunks, vec![want, b"end\n".to_vec()]);
    }

    #[test]
    fn a_read_error_comes_after_the_lines_before_it() {
        let data = b"one\ntwo\nthree".to_vec();
        let source = Trickle {
            data,
            at: 0,
            step: 3,
            fail_at_end: true,
        };
        let (lines, error) = all_lines(Box::new(source));
        // Chunks end at a line end: what came before the failing read and ends a line.
        assert_eq!(lines, vec![b"one\n".to_vec(), b"two\n".to_vec()]);
        assert_eq!(error.as_deref(), Some("test.log: disk on fire"));
    }

    /// Lines of text chunks go through `process_text`, of others through `process_line`:
    /// the numbers are those of feeding every line to `process_line`.
    #[test]
    fn text_and_byte_chunks_count_alike() {
        use crate::exposition::{Format, render};
        use crate::pipeline::PipelineConfig;
        use prometheus_client::registry::Registry;
        let mut data = Vec::new();
        for i in 0..30_000 {
            let line = match i % 1_000 {
                7 => format!(
                    "Nov 23 00:00:{:02} mx postfix/smtpd[1]: connect from h\u{e9}[192.0.2.1]\r\n",
                    i % 60
                ),
                500 => format!(
                    "Nov 23 00:00:{:02} mx postfix/smtpd[1]: connect from \u{0}x[192.0.2.1]\n",
                    i % 60
                ),
                _ => format!(
                    "Nov 23 00:00:{:02} mx postfix/qmgr[2]: 4A1B2C{i:04X}: removed\n",
                    i % 60
                ),
            };
            data.extend_from_slice(line.as_bytes());
            if i == 20_000 {
                data.extend_from_slice(
                    b"Nov 23 00:00:00 mx postfix/smtpd[1]: connect from \xff[192.0.2.1]\n",
                );
            }
        }
        let run = |feed: &mut dyn FnMut(&mut Pipeline)| {
            let mut registry = Registry::default();
            let mut p = Pipeline::new(PipelineConfig::default(), &mut registry).unwrap();
            feed(&mut p);
            render(&registry, Format::Prometheus)
        };
        let mut kinds = (0, 0);
        let chunked = run(&mut |p| {
            let source = Box::new(io::Cursor::new(data.clone()));
            let mut lines = Lines::new(source, "t".into(), usize::MAX - 2);
            while let Some(line) = lines.next_line().unwrap() {
                match line {
                    Line::Text(_) => kinds.0 += 1,
                    Line::Bytes(_) => kinds.1 += 1,
                }
                line.process(p);
            }
        });
        let one_by_one = run(&mut |p| {
            for line in data.split_inclusive(|b| *b == b'\n') {
                p.process_line(line);
            }
        });
        assert_eq!(chunked, one_by_one);
        assert!(kinds.0 > 10_000 && kinds.1 > 0, "{kinds:?}");
    }

    /// A side log's line is timed by the pipeline's clock (its offset and year), and reading
    /// it ahead leaves the year of the main log's next line alone.
    #[test]
    fn side_lines_are_timed_by_the_pipeline_clock() {
        use crate::envelope::Clock;
        use crate::pipeline::PipelineConfig;
        use prometheus_client::registry::Registry;
        let mut registry = Registry::default();
        let mut p = Pipeline::new(PipelineConfig::default(), &mut registry)
            .unwrap()
            .with_clock(Clock::new(Some(2026), (2026, 11)).with_fixed_offset(3600));
        let hour = 3_600_000_000;
        let new_year = crate::envelope::days_from_civil(2027, 1, 1) * 24 * hour;
        let main = |p: &mut Pipeline, line: &str| p.timestamp_of(line.as_bytes()).unwrap();
        assert_eq!(
            main(&mut p, "Dec 31 23:59:58 mx postfix/qmgr[1]: x\n"),
            new_year - hour - 2_000_000
        );
        let side = "#81123(fuzzy): Jan  1 00:00:05 rspamd f: x\n";
        assert_eq!(
            side_timestamp(&mut p, side.as_bytes()),
            Some(new_year - hour + 5_000_000)
        );
        let side = "2027-01-01 00:00:06 #1(normal) <a>; task; x\n";
        assert_eq!(
            side_timestamp(&mut p, side.as_bytes()),
            Some(new_year - hour + 6_000_000)
        );
        // Still 2026 for the main log's line.
        assert_eq!(
            main(&mut p, "Dec 31 23:59:59 mx postfix/qmgr[1]: x\n"),
            new_year - hour - 1_000_000
        );
    }

    #[test]
    fn gzip_is_read_through() {
        use std::io::Write as _;
        let dir = std::env::temp_dir().join(format!("pflog-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mail.log.1.gz");
        let data: Vec<u8> = (0..5_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let (lines, error) = all_lines(open_log(&path).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(error, None);
        assert!(lines == expected(&data));
    }
}
