//! Replay over several threads, as many as `--threads`. Each worker thread reads the next
//! chunk of whole lines (under a lock, so chunks are numbered in order) and stages its lines
//! (envelope, event, reject reason: the part of a line that needs no shared state). Staged
//! chunks wait in a ready list; whichever worker finds no one recording records the ready
//! chunks in order in the pipeline (correlator and metrics), then goes back to reading. So
//! there are only as many threads as workers, none of them idle while there is work, and
//! most chunks are recorded on the core that staged them, with no thread switch per chunk.
//! The numbers are those of [`Pipeline::process_text`] on every line: the same stage and record.
//!
//! A worker's clock only knows the lines it staged; the year of a BSD timestamp depends on the
//! lines before it (December, then January). Each staged chunk says which year state it was
//! read from; when that is not the pipeline's own (the first chunk of each worker after the
//! first, a new year in a chunk it skipped), it is read again through the pipeline's stager.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Condvar, Mutex, MutexGuard};

use self_cell::self_cell;

use super::{ChunkReader, Line, ReplayOptions, UnsupportedSampler, cut};
use crate::envelope::YearState;
use crate::pipeline::{Pipeline, Staged, Stager};

/// The lines of a chunk, staged.
type StagedLines<'a> = Vec<Staged<'a>>;

/// A chunk's staged lines, or `None` when it is not UTF-8 throughout (then its lines go
/// through `process_line` when recorded, as in the one-thread path).
type MaybeStaged<'a> = Option<StagedLines<'a>>;

/// An emptied [`StagedLines`] kept for reuse (a new one per chunk cost a page fault per 4 KiB
/// written).
type Spent = StagedLines<'static>;

/// `lines`, emptied, as a [`Spent`] in the same allocation.
fn emptied(mut lines: StagedLines<'_>) -> Spent {
    lines.clear();
    // Collecting a `vec::IntoIter` in place keeps its allocation when the element layout is
    // the same, as it is here: only the lifetime changes, and there are no elements.
    lines.into_iter().map(|_| unreachable!("emptied")).collect()
}

self_cell!(
    /// A chunk and its lines, staged.
    struct StagedChunk {
        owner: Vec<u8>,
        #[covariant]
        dependent: MaybeStaged,
    }
);

/// A chunk ready to be recorded.
enum Work {
    Staged {
        chunk: StagedChunk,
        /// The year state the chunk was read from, and the one after its last line.
        from: YearState,
        to: YearState,
    },
    /// The replay stops here, with this error.
    Failed(String),
}

/// Staged chunks waiting for their turn, per worker, before a worker waits to read more.
/// Any worker reads the next chunk, so one slow chunk holds up nothing but its own record.
const READY_PER_WORKER: usize = 3;

/// The pipeline and what goes with it, used by the recording worker.
struct Recorder<'p> {
    pipeline: &'p mut Pipeline,
    sampler: &'p mut UnsupportedSampler,
    count: &'p mut u64,
    max_line: usize,
    long_lines: &'p mut u64,
}

/// What the workers share, under one lock.
struct Queue {
    /// Staged chunks by number, waiting for their turn.
    ready: BTreeMap<u64, Work>,
    /// The number of the chunk to record next.
    next: u64,
    /// Whether a worker is recording (then it also records what others add meanwhile).
    recording: bool,
    /// Why the replay stopped early; workers stop reading.
    stopped: Option<String>,
    /// Buffers and line lists of recorded chunks, for reuse.
    buffers: Vec<Vec<u8>>,
    spent: Vec<Spent>,
}

struct Shared<'p> {
    input: Mutex<ChunkInput>,
    queue: Mutex<Queue>,
    /// A chunk was recorded or the replay stopped (workers may wait for room in `ready`).
    recorded: Condvar,
    recorder: Mutex<Recorder<'p>>,
    ready_limit: usize,
    max_line: usize,
}

/// The input, read by one worker at a time.
struct ChunkInput {
    reader: ChunkReader,
    /// The number of the next chunk read.
    next: u64,
}

/// A lock whose holder may have panicked: the replay is then stopped (see [`work`]), and what
/// the holder left is only read to leave.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Feeds `source` through `pipeline` with `opts.threads` workers (at least 1; this thread is
/// one); lines longer than `opts.max_line` are cut and counted in `long_lines`.
pub(super) fn replay_staged(
    pipeline: &mut Pipeline,
    source: Box<dyn Read + Send>,
    name: &str,
    opts: ReplayOptions,
    sampler: &mut UnsupportedSampler,
    count: &mut u64,
    long_lines: &mut u64,
) -> Result<(), String> {
    let workers = opts.threads.max(1);
    let stagers: Vec<Stager> = (0..workers).map(|_| pipeline.stager()).collect();
    let shared = Shared {
        input: Mutex::new(ChunkInput {
            reader: ChunkReader::new(source, name.to_string(), opts.max_line),
            next: 0,
        }),
        queue: Mutex::new(Queue {
            ready: BTreeMap::new(),
            next: 0,
            recording: false,
            stopped: None,
            buffers: Vec::new(),
            spent: Vec::new(),
        }),
        recorded: Condvar::new(),
        recorder: Mutex::new(Recorder {
            pipeline,
            sampler,
            count,
            max_line: opts.max_line,
            long_lines,
        }),
        ready_limit: workers * READY_PER_WORKER,
        max_line: opts.max_line,
    };
    std::thread::scope(|scope| {
        let mut stagers = stagers.into_iter();
        let here = stagers.next().expect("at least one worker");
        for stager in stagers {
            let shared = &shared;
            let spawned = std::thread::Builder::new()
                .name("pflog-work".into())
                .spawn_scoped(scope, move || work(name, stager, shared));
            if let Err(e) = spawned {
                stop(shared, format!("{name}: cannot start a thread: {e}"));
            }
        }
        work(name, here, &shared);
    });
    let queue = shared.queue.into_inner().unwrap_or_else(|e| e.into_inner());
    match queue.stopped {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

fn stop(shared: &Shared<'_>, why: String) {
    lock(&shared.queue).stopped.get_or_insert(why);
    shared.recorded.notify_all();
}

/// One worker: reads and stages chunks until the input ends or the replay stopped, and records
/// ready chunks whenever no other worker is.
fn work(name: &str, mut stager: Stager, shared: &Shared<'_>) {
    while let Some((buffer, spent)) = room(shared) {
        // A panic while reading ends the replay with an error, as one while staging or
        // recording does, instead of taking the process down.
        let read =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_chunk(shared, buffer)));
        let (number, work) = match read {
            Ok(None) => return,
            Ok(Some((number, Ok(bytes)))) => {
                let max_line = shared.max_line;
                (
                    number,
                    stage_chunk(name, &mut stager, number, bytes, spent, max_line),
                )
            }
            Ok(Some((number, Err(e)))) => (number, Work::Failed(e)),
            Err(_) => return stop(shared, format!("{name}: a reading thread failed")),
        };
        if !hand_in(name, shared, number, work) {
            return;
        }
    }
}

/// Waits for room among the ready chunks; a buffer and a line list to reuse, or `None` when the
/// replay stopped.
fn room(shared: &Shared<'_>) -> Option<(Vec<u8>, Option<Spent>)> {
    let mut queue = lock(&shared.queue);
    while queue.ready.len() >= shared.ready_limit && queue.stopped.is_none() {
        queue = shared
            .recorded
            .wait(queue)
            .unwrap_or_else(|e| e.into_inner());
    }
    if queue.stopped.is_some() {
        return None;
    }
    Some((queue.buffers.pop().unwrap_or_default(), queue.spent.pop()))
}

/// Reads the next chunk into `buffer`, numbered; `None` at the end of input.
fn read_chunk(shared: &Shared<'_>, mut buffer: Vec<u8>) -> Option<(u64, Result<Vec<u8>, String>)> {
    let mut input = lock(&shared.input);
    let number = input.next;
    let read = match input.reader.next_chunk(&mut buffer) {
        Ok(false) => return None,
        Ok(true) => Ok(buffer),
        Err(e) => Err(e),
    };
    input.next += 1;
    Some((number, read))
}

/// Stages a chunk's lines. A panic here is an error at this chunk's turn (the panic message is
/// printed as usual). A chunk with a line longer than `max_line` (rare) is not staged: its
/// lines are cut and read when recorded.
fn stage_chunk(
    name: &str,
    stager: &mut Stager,
    number: u64,
    bytes: Vec<u8>,
    spent: Option<Spent>,
    max_line: usize,
) -> Work {
    let staged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let from = stager.year_state();
        let chunk = StagedChunk::new(bytes, |bytes| {
            let text = simdutf8::basic::from_utf8(bytes).ok()?;
            let mut lines: StagedLines<'_> =
                spent.unwrap_or_else(|| Vec::with_capacity(text.len() / 128));
            let mut start = 0;
            // A `\n` always ends a character: each line is a str slice.
            for end in memchr::memchr_iter(b'\n', bytes) {
                if end - start > max_line {
                    return None;
                }
                stage_line(stager, &mut lines, &text[start..=end]);
                start = end + 1;
            }
            if start < text.len() {
                if text.len() - start > max_line {
                    return None;
                }
                stage_line(stager, &mut lines, &text[start..]);
            }
            Some(lines)
        });
        let to = stager.year_state();
        Work::Staged { chunk, from, to }
    }));
    staged.unwrap_or_else(|_| {
        Work::Failed(format!("{name}: a parsing thread failed (chunk {number})"))
    })
}

/// Stages a line where it is to stay, at the end of `lines` (see [`Stager::stage_into`]).
fn stage_line<'a>(stager: &mut Stager, lines: &mut StagedLines<'a>, line: &'a str) {
    lines.push(None);
    let slot = lines.last_mut().expect("a line was just added");
    stager.stage_into(line, slot);
}

/// Puts a chunk among the ready ones and, when no other worker is recording, records the ready
/// chunks in order (the lock released while recording each); `false` when the replay stopped.
fn hand_in(name: &str, shared: &Shared<'_>, number: u64, work: Work) -> bool {
    let mut queue = lock(&shared.queue);
    queue.ready.insert(number, work);
    if queue.recording {
        return true;
    }
    queue.recording = true;
    while queue.stopped.is_none()
        && let Some(work) = {
            let next = queue.next;
            queue.ready.remove(&next)
        }
    {
        drop(queue);
        let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            record(&mut lock(&shared.recorder), work)
        }));
        queue = lock(&shared.queue);
        queue.next += 1;
        match recorded {
            Ok(Ok((buffer, spent))) => {
                queue.buffers.push(buffer);
                queue.spent.extend(spent);
            }
            Ok(Err(why)) => {
                queue.stopped.get_or_insert(why);
            }
            Err(_) => {
                let why = format!("{name}: a parsing thread failed (recording)");
                queue.stopped.get_or_insert(why);
            }
        }
        shared.recorded.notify_all();
    }
    queue.recording = false;
    queue.stopped.is_none()
}

/// Records a ready chunk; gives back its buffer and line list, or the error it stops with.
fn record(recorder: &mut Recorder<'_>, work: Work) -> Result<(Vec<u8>, Option<Spent>), String> {
    let (mut chunk, from, to) = match work {
        Work::Staged { chunk, from, to } => (chunk, from, to),
        Work::Failed(why) => return Err(why),
    };
    let Recorder {
        pipeline,
        sampler,
        count,
        max_line,
        long_lines,
    } = recorder;
    let mut stderr = io::stderr();
    let staged_here = from == pipeline.year_state();
    let spent = chunk.with_dependent_mut(|bytes, staged| match staged {
        Some(lines) if staged_here => {
            if sampler.active() {
                for (staged, line) in lines.iter().zip(bytes.split_inclusive(|&b| b == b'\n')) {
                    let r = pipeline.record(staged);
                    sampler.note(r, line, &mut stderr);
                }
            } else {
                for staged in lines.iter() {
                    pipeline.record(staged);
                }
            }
            **count += lines.len() as u64;
            pipeline.set_year_state(to);
            Some(emptied(std::mem::take(lines)))
        }
        // Read from another year state, or not text, or with a long line: read again, here.
        staged => {
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                let line = match cut(line, *max_line) {
                    Some(cut) => {
                        **long_lines += 1;
                        cut
                    }
                    None => line,
                };
                sampler.process(pipeline, Line::Bytes(line), count, &mut stderr);
            }
            staged.take().map(emptied)
        }
    });
    Ok((chunk.into_owner(), spent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Clock;
    use crate::exposition::{Format, render};
    use crate::pipeline::PipelineConfig;
    use prometheus_client::registry::Registry;

    /// A log of about 40 chunks whose year turns twice (December, then January), with a line
    /// of invalid UTF-8 (a chunk of bytes), lines without an envelope, and many queue IDs
    /// that live across chunk boundaries.
    fn log() -> Vec<u8> {
        let mut data = Vec::new();
        // The second January is short, inside one chunk: a stager that does not take that
        // chunk goes from December to February and would not know the year turned.
        let months = [
            ("Nov", 25_000),
            ("Dec", 25_000),
            ("Jan", 25_000),
            ("Feb", 25_000),
            ("Dec", 25_000),
            ("Jan", 300),
            ("Feb", 25_000),
        ];
        let mut n = 0;
        for &(month, lines) in &months {
            for i in 0..lines {
                n += 1;
                let id = format!("4A{:08X}", n / 3);
                let time = format!(
                    "{month} {:2} {:02}:{:02}:{:02}",
                    1 + i % 28,
                    i / 3600 % 24,
                    i / 60 % 60,
                    i % 60
                );
                let line = match n % 3 {
                    0 => format!(
                        "{time} mx postfix/smtpd[{}]: {id}: client=h[192.0.2.{}]\n",
                        n % 50,
                        n % 200
                    ),
                    1 => format!(
                        "{time} mx postfix/qmgr[9]: {id}: from=<a@b.example>, size={n}, nrcpt=1 (queue active)\n"
                    ),
                    _ if n % 1_000 == 2 => {
                        format!("{time} mx postfix/qmgr[9]: {id}: removed \u{e9}\n")
                    }
                    _ => format!("{time} mx postfix/qmgr[9]: {id}: removed\n"),
                };
                data.extend_from_slice(line.as_bytes());
                if n == 60_000 {
                    data.extend_from_slice(
                        b"Jan  1 00:00:00 mx postfix/smtpd[1]: connect from \xff[192.0.2.1]\n",
                    );
                }
                if n % 7_777 == 0 {
                    data.extend_from_slice(b"no envelope here\n");
                }
            }
        }
        data
    }

    fn exposition(feed: &mut dyn FnMut(&mut Pipeline) -> u64) -> (String, u64) {
        let mut registry = Registry::default();
        let mut p = Pipeline::new(PipelineConfig::default(), &mut registry)
            .unwrap()
            .with_clock(Clock::new(None, (2026, 11)).with_fixed_offset(0));
        let lines = feed(&mut p);
        (render(&registry, Format::Prometheus), lines)
    }

    #[test]
    fn staged_replay_counts_as_line_by_line() {
        let data = log();
        let (one_by_one, lines) = exposition(&mut |p| {
            let mut n = 0;
            for line in data.split_inclusive(|b| *b == b'\n') {
                p.process_line(line);
                n += 1;
            }
            n
        });
        // Something was counted (an empty exposition would compare equal too).
        assert!(one_by_one.contains("pflog_lines_total"), "{one_by_one}");
        for stagers in [1, 2, 3, 5] {
            let (staged, count) = exposition(&mut |p| {
                let mut count = 0;
                let source = Box::new(io::Cursor::new(data.clone()));
                let mut sampler = UnsupportedSampler::new(0);
                let opts = ReplayOptions {
                    threads: stagers,
                    max_line: 65_536,
                };
                let long = &mut 0;
                replay_staged(p, source, "t", opts, &mut sampler, &mut count, long).unwrap();
                count
            });
            assert_eq!(count, lines, "{stagers} stagers");
            assert!(staged == one_by_one, "{stagers} stagers");
        }
    }

    /// Replays `data` with two workers from a source that, at the end of `data`, answers
    /// `at_end()` instead of "end of input"; the result and the lines counted.
    fn replay_until_end(
        data: Vec<u8>,
        at_end: fn() -> io::Result<usize>,
    ) -> (Result<(), String>, u64) {
        struct Source(io::Cursor<Vec<u8>>, fn() -> io::Result<usize>);
        impl Read for Source {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                match self.0.read(out)? {
                    0 => (self.1)(),
                    n => Ok(n),
                }
            }
        }
        let mut registry = Registry::default();
        let mut p = Pipeline::new(PipelineConfig::default(), &mut registry).unwrap();
        let mut count = 0;
        let source = Box::new(Source(io::Cursor::new(data), at_end));
        let sampler = &mut UnsupportedSampler::new(0);
        let opts = ReplayOptions {
            threads: 2,
            max_line: 65_536,
        };
        let result = replay_staged(&mut p, source, "t", opts, sampler, &mut count, &mut 0);
        (result, count)
    }

    #[test]
    fn a_read_error_ends_the_replay_after_the_lines_before_it() {
        let data = log();
        let lines = data.split_inclusive(|b| *b == b'\n').count() as u64;
        let (result, count) = replay_until_end(data, || Err(io::Error::other("disk on fire")));
        assert_eq!(result, Err("t: disk on fire".to_string()));
        assert_eq!(count, lines);
    }

    #[test]
    fn a_panicking_read_ends_the_replay_with_an_error() {
        let (result, _) = replay_until_end(log(), || panic!("a reader bug"));
        assert_eq!(result, Err("t: a reading thread failed".to_string()));
    }
}
