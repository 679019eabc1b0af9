//! `pflog replay`: feeds log files (plain, gzip, standard input) through the pipeline, with
//! rspamd's own log merged in by time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::envelope::{self, Clock, Micros};
use crate::pipeline::{LineResult, Pipeline};

const READ_BUFFER: usize = 256 * 1024;

/// Opens a log for reading: `-` is standard input, `*.gz` (or gzip magic) is decompressed.
pub fn open_log(path: &Path) -> Result<Box<dyn Read>, String> {
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

/// Reads lines, bytes as they are (invalid UTF-8 is the pipeline's job), out of one buffer:
/// big reads, lines found with `memchr` and handed out as slices of the buffer, so a line costs
/// no copy (`read_until` into a `Vec` per line was 8% of replay's instructions). A line longer
/// than the buffer grows it, as `read_until` did.
struct Lines {
    reader: Box<dyn Read>,
    name: PathBuf,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
}

impl Lines {
    fn new(reader: Box<dyn Read>, name: PathBuf) -> Lines {
        Lines {
            reader,
            name,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// The next line with its `\n` (the last line of a file may have none).
    fn next_line(&mut self) -> Result<Option<&[u8]>, String> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line = self.start..self.start + i + 1;
                self.start = line.end;
                return Ok(Some(&self.buf[line]));
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let line = self.start..self.end;
                self.start = self.end;
                return Ok(Some(&self.buf[line]));
            }
            // Keep the partial line, at the front, and read after it.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("{}: {e}", self.name.display())),
            }
        }
    }
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
pub fn replay(
    pipeline: &mut Pipeline,
    files: &[PathBuf],
    rspamd_logs: &[PathBuf],
    sampler: &mut UnsupportedSampler,
) -> Result<u64, String> {
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    // Open everything first, so a missing file fails before any output.
    let mut mains = Vec::new();
    for f in files {
        mains.push(Lines::new(open_log(f)?, f.clone()));
    }
    let mut side = SideLogs::open(rspamd_logs)?;
    let mut stderr = io::stderr();
    let mut count = 0u64;
    for mut main in mains {
        while let Some(line) = main.next_line()? {
            if side.pending()
                && let Some(ts) = pipeline.timestamp_of(line)
            {
                side.feed_until(ts, pipeline, sampler, &mut count)?;
            }
            let r = pipeline.process_line(line);
            sampler.note(r, line, &mut stderr);
            count += 1;
        }
    }
    side.feed_until(Micros::MAX, pipeline, sampler, &mut count)?;
    Ok(count)
}

/// rspamd's own log files, read one line ahead so they merge by time.
struct SideLogs {
    files: Vec<Lines>,
    head: Option<(Micros, Vec<u8>)>,
    clock: Clock,
}

impl SideLogs {
    fn open(paths: &[PathBuf]) -> Result<SideLogs, String> {
        let mut files = Vec::new();
        for p in paths {
            files.push(Lines::new(open_log(p)?, p.clone()));
        }
        files.reverse();
        let mut s = SideLogs {
            files,
            head: None,
            clock: Clock::local(None),
        };
        s.advance()?;
        Ok(s)
    }

    fn pending(&self) -> bool {
        self.head.is_some()
    }

    fn advance(&mut self) -> Result<(), String> {
        self.head = None;
        while let Some(f) = self.files.last_mut() {
            match f.next_line()? {
                Some(line) => {
                    let text = crate::pipeline::text_of(line);
                    // Lines without a timestamp of their own go with the previous one.
                    let ts = envelope::parse(&text, &mut self.clock)
                        .map_or(Micros::MIN, |l| l.timestamp);
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
            let r = pipeline.process_line(line);
            sampler.note(r, line, &mut stderr);
            *count += 1;
            self.advance()?;
        }
        Ok(())
    }
}
