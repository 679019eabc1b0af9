//! `pflog replay`: feeds log files (plain, gzip, standard input) through the pipeline, with
//! rspamd's own log merged in by time.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::envelope::{self, Clock, Micros};
use crate::pipeline::{LineResult, Pipeline};

const READ_BUFFER: usize = 256 * 1024;

/// Opens a log for reading: `-` is standard input, `*.gz` (or gzip magic) is decompressed.
pub fn open_log(path: &Path) -> Result<Box<dyn BufRead>, String> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(READ_BUFFER, io::stdin())));
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
        let decoder = flate2::read::MultiGzDecoder::new(chained);
        Ok(Box::new(BufReader::with_capacity(READ_BUFFER, decoder)))
    } else {
        Ok(Box::new(BufReader::with_capacity(READ_BUFFER, chained)))
    }
}

/// Reads lines into a reused buffer, bytes as they are (invalid UTF-8 is the pipeline's job).
struct Lines {
    reader: Box<dyn BufRead>,
    name: PathBuf,
    buf: Vec<u8>,
}

impl Lines {
    fn next_line(&mut self) -> Result<Option<&[u8]>, String> {
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(&self.buf)),
            Err(e) => Err(format!("{}: {e}", self.name.display())),
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
        mains.push(Lines {
            reader: open_log(f)?,
            name: f.clone(),
            buf: Vec::with_capacity(1024),
        });
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
            files.push(Lines {
                reader: open_log(p)?,
                name: p.clone(),
                buf: Vec::new(),
            });
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
                    let text = String::from_utf8_lossy(line);
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
