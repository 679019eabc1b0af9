//! Replay over several threads. Each worker thread in turn reads the next chunk of whole lines
//! (under a lock, so chunks are numbered in order), stages its lines (envelope, event, reject
//! reason: the part of a line that needs no shared state), then waits for the chunk's turn and
//! records its lines in the pipeline (correlator and metrics, in log order). A chunk is read,
//! staged and recorded on one thread, so its bytes and staged lines are still in that core's
//! cache; handing chunks from a reader thread to stagers to a recording thread cost as much
//! again in cache misses and thread switches (`benches/README.md`, "Fifth round"). The numbers
//! are those of [`Pipeline::process_text`] on every line: it is the same stage and record.
//!
//! A worker's clock only knows the lines it staged; the year of a BSD timestamp depends on the
//! lines before it (December, then January). Each staged chunk says which year state it was
//! read from; when that is not the pipeline's own (the first chunk of each worker after the
//! first, a new year in a chunk it skipped), it is read again through the pipeline's stager.

use std::io::{self, Read};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::{ChunkReader, Line, UnsupportedSampler};
use crate::pipeline::{Pipeline, Staged, Stager};

/// A staged line list between chunks, empty, so that its memory is reused (a new one per chunk
/// cost a page fault per 4 KiB written).
type Spare = Vec<Staged<'static>>;

/// `lines`, emptied, in the same allocation, with another lifetime.
fn emptied<'a, 'b>(mut lines: Vec<Staged<'a>>) -> Vec<Staged<'b>> {
    lines.clear();
    // Collecting a `vec::IntoIter` in place keeps its allocation when the element layout is
    // the same, as it is here: only the lifetime changes, and there are no elements.
    lines.into_iter().map(|_| unreachable!("emptied")).collect()
}

static WAIT_IN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static WAIT_TURN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The input, read by one worker at a time.
struct Input {
    reader: ChunkReader,
    /// The number of the next chunk read.
    next: u64,
}

/// The pipeline and what goes with it, taken in turn.
struct Turn<'p> {
    pipeline: &'p mut Pipeline,
    sampler: &'p mut UnsupportedSampler,
    count: &'p mut u64,
    /// The number of the chunk whose turn it is.
    next: u64,
    /// Why the replay stopped early; the workers leave at their next turn.
    stopped: Option<String>,
}

struct Shared<'p> {
    input: Mutex<Input>,
    turn: Mutex<Turn<'p>>,
    turn_changed: Condvar,
}

/// A lock whose holder may have panicked: the replay is then stopped first (see [`work`]), and
/// what the holder left is only read to leave.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'p> Shared<'p> {
    /// Waits for chunk `number`'s turn; `None` when the replay stopped.
    fn wait_for(&self, number: u64) -> Option<MutexGuard<'_, Turn<'p>>> {
        let mut turn = lock(&self.turn);
        while turn.next != number && turn.stopped.is_none() {
            turn = self.turn_changed.wait(turn).unwrap_or_else(|e| e.into_inner());
        }
        turn.stopped.is_none().then_some(turn)
    }

    fn stop(&self, why: String) {
        lock(&self.turn).stopped.get_or_insert(why);
        self.turn_changed.notify_all();
    }

    fn stopped(&self) -> bool {
        lock(&self.turn).stopped.is_some()
    }
}

/// Feeds `source` through `pipeline` with `workers` threads (at least 1; this one is one).
pub(super) fn replay_staged(
    pipeline: &mut Pipeline,
    source: Box<dyn Read + Send>,
    name: &str,
    workers: usize,
    sampler: &mut UnsupportedSampler,
    count: &mut u64,
) -> Result<(), String> {
    let stagers: Vec<Stager> = (0..workers.max(1)).map(|_| pipeline.stager()).collect();
    let shared = Shared {
        input: Mutex::new(Input {
            reader: ChunkReader::new(source, name.to_string()),
            next: 0,
        }),
        turn: Mutex::new(Turn {
            pipeline,
            sampler,
            count,
            next: 0,
            stopped: None,
        }),
        turn_changed: Condvar::new(),
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
                shared.stop(format!("{name}: cannot start a thread: {e}"));
            }
        }
        work(name, here, &shared);
    });
    if std::env::var_os("PFLOG_WAITS").is_some() { eprintln!("wait input {} us, turn {} us", WAIT_IN.load(std::sync::atomic::Ordering::Relaxed), WAIT_TURN.load(std::sync::atomic::Ordering::Relaxed)); }
    match shared.turn.into_inner().unwrap_or_else(|e| e.into_inner()).stopped {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// One worker: takes chunks until the input ends or the replay stopped.
fn work(name: &str, mut stager: Stager, shared: &Shared<'_>) {
    let (mut buf, mut spare): (Vec<u8>, Spare) = (Vec::new(), Vec::new());
    while !shared.stopped() {
        let t0 = std::time::Instant::now();
        let (number, read) = {
            let mut input = lock(&shared.input);
            WAIT_IN.fetch_add(t0.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
            let number = input.next;
            match input.reader.next_chunk(&mut buf) {
                Ok(false) => return,
                read => {
                    input.next += 1;
                    (number, read)
                }
            }
        };
        // A panic here would leave the other workers waiting for this chunk's turn for ever:
        // it stops the replay with an error instead (the panic message is printed as usual).
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match read {
            Ok(_) => take_chunk(&mut stager, number, &buf, &mut spare, shared),
            Err(e) => {
                if shared.wait_for(number).is_some() {
                    shared.stop(e);
                }
            }
        }));
        if done.is_err() {
            shared.stop(format!("{name}: a parsing thread failed (chunk {number})"));
            return;
        }
    }
}

/// Stages chunk `number` and records it in its turn (unless the replay stopped).
fn take_chunk(
    stager: &mut Stager,
    number: u64,
    bytes: &[u8],
    spare: &mut Spare,
    shared: &Shared<'_>,
) {
    let from = stager.year_state();
    // Not UTF-8 throughout (rare): its lines go through `process_line` in its turn, as in the
    // one-thread path.
    let staged = simdutf8::basic::from_utf8(bytes).ok().map(|text| {
        let mut lines: Vec<Staged<'_>> = emptied(std::mem::take(spare));
        lines.reserve(text.len() / 128);
        let mut start = 0;
        // A `\n` always ends a character: each line is a str slice.
        for end in memchr::memchr_iter(b'\n', bytes) {
            lines.push(stager.stage(&text[start..=end]));
            start = end + 1;
        }
        if start < text.len() {
            lines.push(stager.stage(&text[start..]));
        }
        lines
    });
    let to = stager.year_state();
    let t0 = std::time::Instant::now();
    let w = shared.wait_for(number);
    WAIT_TURN.fetch_add(t0.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
    let Some(mut turn) = w else {
        return;
    };
    let Turn {
        pipeline,
        sampler,
        count,
        ..
    } = &mut *turn;
    let mut stderr = io::stderr();
    match staged {
        Some(lines) if from == pipeline.year_state() => {
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
            *spare = emptied(lines);
        }
        // Read from another year state, or not text: read again, here.
        staged => {
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                sampler.process(pipeline, Line::Bytes(line), count, &mut stderr);
            }
            if let Some(lines) = staged {
                *spare = emptied(lines);
            }
        }
    }
    turn.next += 1;
    drop(turn);
    shared.turn_changed.notify_all();
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
                replay_staged(p, source, "t", stagers, &mut sampler, &mut count).unwrap();
                count
            });
            assert_eq!(count, lines, "{stagers} stagers");
            assert!(staged == one_by_one, "{stagers} stagers");
        }
    }

    #[test]
    fn a_read_error_ends_the_replay_after_the_lines_before_it() {
        struct FailAfter(io::Cursor<Vec<u8>>);
        impl Read for FailAfter {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                match self.0.read(out)? {
                    0 => Err(io::Error::other("disk on fire")),
                    n => Ok(n),
                }
            }
        }
        let data = log();
        let lines = data.split_inclusive(|b| *b == b'\n').count() as u64;
        let mut registry = Registry::default();
        let mut p = Pipeline::new(PipelineConfig::default(), &mut registry).unwrap();
        let mut count = 0;
        let source = Box::new(FailAfter(io::Cursor::new(data)));
        let err = replay_staged(
            &mut p,
            source,
            "t",
            2,
            &mut UnsupportedSampler::new(0),
            &mut count,
        );
        assert_eq!(err, Err("t: disk on fire".to_string()));
        assert_eq!(count, lines);
    }
}
