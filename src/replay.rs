//! `pflog replay`: feeds log files (plain, gzip, standard input) through the pipeline, with
//! rspamd's own log merged in by time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};

use crate::envelope::Micros;
use crate::pipeline::{LineResult, Pipeline};

mod staged;

const READ_BUFFER: usize = 256 * 1024;

/// Opens a log for reading: `-` is standard input, `*.gz` (or gzip magic) is decompressed.
pub fn open_log(path: &Path) -> Result<Box<dyn Read + Send>, String> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin()));
    }
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = file
        .read(&mut magic)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let head = io::Cursor::new(magic[..n].to_vec());
    let gzip = n == 2 && magic == [0x1f, 0x8b];
    let chained = head.chain(file);
    if gzip {
        // The decoder reads its input in small pieces: give it a buffer.
        let decoder =
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, chained));
        Ok(Box::new(decoder))
    } else {
        Ok(Box::new(chained))
    }
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
    fn new(source: Box<dyn Read + Send>, name: PathBuf) -> Lines {
        Lines {
            name,
            reader: Reader::Waiting(source),
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
                // A `\n` always ends a character: the line is a str slice of a text chunk.
                return Ok(Some(match self.chunk.borrow_dependent() {
                    Some(text) => Line::Text(&text[line]),
                    None => Line::Bytes(&self.chunk.borrow_owner()[line]),
                }));
            }
            let (chunks, spent) = match std::mem::replace(&mut self.reader, Reader::Done) {
                Reader::Done => return Ok(None),
                Reader::Waiting(source) => spawn_reader(source, self.name.display().to_string())?,
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
) -> Result<(Receiver<Chunk>, SyncSender<Vec<u8>>), String> {
    let (chunks_tx, chunks) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
    let (spent, spent_rx) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD + 1);
    let error = format!("{name}: cannot start a reader thread");
    std::thread::Builder::new()
        .name("pflog-read".into())
        .spawn(move || {
            let mut reader = ChunkReader::new(source, name);
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
/// read fails.
struct ChunkReader {
    source: Box<dyn Read + Send>,
    name: String,
    /// The start of a line that the previous chunk cut.
    carry: Vec<u8>,
    /// A read failed after the whole lines of the last chunk: this is the next answer.
    failed: Option<String>,
    done: bool,
}

impl ChunkReader {
    fn new(source: Box<dyn Read + Send>, name: String) -> ChunkReader {
        ChunkReader {
            source,
            name,
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
                let _ = writeln!(err, "unsupported [{program}]: {}", text.trim_end());
            }
        }
    }
}

/// Feeds every file, in order, through `pipeline`, merging `rspamd_logs` by timestamp.
/// `threads` above 1: that many threads (this one among them) read and stage chunks of lines
/// and take turns to record them (not when rspamd logs are merged: merging needs each line's
/// time before the next is read).
pub fn replay(
    pipeline: &mut Pipeline,
    files: &[PathBuf],
    rspamd_logs: &[PathBuf],
    threads: usize,
    sampler: &mut UnsupportedSampler,
) -> Result<u64, String> {
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    // Open everything first, so a missing file fails before any output.
    let mut mains = Vec::new();
    for f in files {
        mains.push((open_log(f)?, f));
    }
    let mut side = SideLogs::open(rspamd_logs, pipeline)?;
    let mut stderr = io::stderr();
    let mut count = 0u64;
    for (source, name) in mains {
        if threads > 1 && !side.pending() {
            let name = name.display().to_string();
            staged::replay_staged(pipeline, source, &name, threads, sampler, &mut count)?;
            continue;
        }
        let mut main = Lines::new(source, name.clone());
        while let Some(line) = main.next_line()? {
            if side.pending()
                && let Some(ts) = pipeline.timestamp_of(line.bytes())
            {
                side.feed_until(ts, pipeline, sampler, &mut count)?;
            }
            sampler.process(pipeline, line, &mut count, &mut stderr);
        }
    }
    side.feed_until(Micros::MAX, pipeline, sampler, &mut count)?;
    // The end of input: no verdict can come any more.
    pipeline.release_held();
    Ok(count)
}

/// rspamd's own log files, read one line ahead so they merge by time.
struct SideLogs {
    files: Vec<Lines>,
    head: Option<(Micros, Vec<u8>)>,
}

impl SideLogs {
    fn open(paths: &[PathBuf], pipeline: &mut Pipeline) -> Result<SideLogs, String> {
        let mut files = Vec::new();
        for p in paths {
            files.push(Lines::new(open_log(p)?, p.clone()));
        }
        files.reverse();
        let mut s = SideLogs { files, head: None };
        s.advance(pipeline)?;
        Ok(s)
    }

    fn pending(&self) -> bool {
        self.head.is_some()
    }

    fn advance(&mut self, pipeline: &mut Pipeline) -> Result<(), String> {
        self.head = None;
        while let Some(f) = self.files.last_mut() {
            match f.next_line()? {
                Some(line) => {
                    let line = line.bytes();
                    // Lines without a timestamp of their own go with the previous one.
                    let ts = side_timestamp(pipeline, line).unwrap_or(Micros::MIN);
                    self.head = Some((ts, line.to_vec()));
                    return Ok(());
                }
                None => {
                    self.files.pop();
                }
            }
        }
        Ok(())
    }

    fn feed_until(
        &mut self,
        until: Micros,
        pipeline: &mut Pipeline,
        sampler: &mut UnsupportedSampler,
        count: &mut u64,
    ) -> Result<(), String> {
        let mut stderr = io::stderr();
        while let Some((ts, line)) = &self.head {
            if *ts > until {
                break;
            }
            sampler.process(pipeline, Line::Bytes(line), count, &mut stderr);
            self.advance(pipeline)?;
        }
        Ok(())
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
        let mut lines = Lines::new(source, PathBuf::from("test.log"));
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
            let mut lines = Lines::new(Box::new(io::Cursor::new(data.clone())), "t".into());
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
