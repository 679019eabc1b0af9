//! Replay over several threads. The reader thread numbers chunks of whole lines; whichever
//! stager thread is free takes the next one and stages its lines (envelope, event, reject
//! reason: the part of a line that needs no shared state); the pipeline's thread puts the
//! staged chunks back in order and records their lines. The numbers are those of
//! [`Pipeline::process_text`] on every line: it is the same stage and the same record.
//!
//! A stager's clock only knows the lines it staged; the year of a BSD timestamp depends on the
//! lines before it (December, then January). Each staged chunk says which year state it was
//! read from; when that is not the pipeline's own (the first chunk of each stager after the
//! first, a new year in a chunk it skipped), the pipeline reads the chunk again itself.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crossbeam_channel::{Receiver, Sender};

use self_cell::self_cell;

use super::{Line, UnsupportedSampler, read_chunks};
use crate::envelope::YearState;
use crate::pipeline::{Pipeline, Staged, Stager};

/// The lines of a chunk, staged.
type StagedLines<'a> = Vec<Staged<'a>>;

/// A chunk's staged lines, or `None` when it is not UTF-8 throughout (then its lines go
/// through `process_line` on the pipeline's thread, as in the one-thread path).
type MaybeStaged<'a> = Option<StagedLines<'a>>;

/// An emptied [`StagedLines`] on its way back to a stager, so that its memory is reused (a new
/// one per chunk cost a page fault per 4 KiB written).
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

/// What a stager thread hands back for one chunk.
enum Work {
    Staged {
        chunk: StagedChunk,
        /// The year state the chunk was read from, and the one after its last line.
        from: YearState,
        to: YearState,
    },
    Failed(String),
}

/// Chunks in flight (being read, staged, or waiting to be recorded) per stager. Any stager
/// takes the next chunk, so one slow chunk holds up nothing but its own record.
const IN_FLIGHT_PER_STAGER: usize = 3;

/// Feeds `source` through `pipeline` with `stagers` stager threads (at least 1).
pub(super) fn replay_staged(
    pipeline: &mut Pipeline,
    source: Box<dyn Read + Send>,
    name: &str,
    stagers: usize,
    sampler: &mut UnsupportedSampler,
    count: &mut u64,
) -> Result<(), String> {
    let cannot = |e: io::Error| format!("{name}: cannot start a thread: {e}");
    let in_flight = stagers * IN_FLIGHT_PER_STAGER;
    // Numbered chunks to the stagers, numbered work back (in any order), chunk buffers and
    // emptied line lists back for reuse. The buffers bound everything: the reader waits for
    // one when `in_flight` are out, so no queue can hold more.
    let (chunks_tx, chunks) = crossbeam_channel::bounded::<(u64, ReadChunk)>(in_flight);
    let (done, work) = crossbeam_channel::bounded::<(u64, Work)>(in_flight);
    let (buffers_back, buffers) = crossbeam_channel::bounded::<Vec<u8>>(in_flight);
    let (lines_back, spent_lines) = crossbeam_channel::bounded::<Spent>(in_flight);
    for _ in 0..stagers {
        let (name, stager, chunks, done, spent_lines) = (
            name.to_string(),
            pipeline.stager(),
            chunks.clone(),
            done.clone(),
            spent_lines.clone(),
        );
        std::thread::Builder::new()
            .name("pflog-stage".into())
            .spawn(move || stage_chunks(&name, stager, &chunks, &done, &spent_lines))
            .map_err(cannot)?;
    }
    // The stagers hold the only senders of work: it ends when they all have.
    drop(done);
    let reader_name = name.to_string();
    std::thread::Builder::new()
        .name("pflog-read".into())
        .spawn(move || {
            let (mut made, mut number) = (0, 0);
            let mut next_buffer = || {
                if made < in_flight {
                    made += 1;
                    Some(Vec::new())
                } else {
                    buffers.recv().ok()
                }
            };
            read_chunks(source, &reader_name, &mut next_buffer, &mut |chunk| {
                number += 1;
                chunks_tx.send((number - 1, chunk)).is_ok()
            });
        })
        .map_err(cannot)?;

    let mut stderr = io::stderr();
    // Work that came before its turn, by number.
    let mut early: BTreeMap<u64, Work> = BTreeMap::new();
    let mut next = 0;
    loop {
        let work = match early.remove(&next) {
            Some(w) => w,
            None => match work.recv() {
                Ok((n, w)) if n == next => w,
                Ok((n, w)) => {
                    early.insert(n, w);
                    continue;
                }
                // All stagers are done and all their work is in: the input is done.
                Err(_) => return Ok(()),
            },
        };
        next += 1;
        let (mut chunk, from, to) = match work {
            Work::Staged { chunk, from, to } => (chunk, from, to),
            Work::Failed(e) => return Err(e),
        };
        let staged_here = from == pipeline.year_state();
        chunk.with_dependent_mut(|bytes, staged| match staged {
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
                *count += lines.len() as u64;
                let _ = lines_back.try_send(emptied(std::mem::take(lines)));
                pipeline.set_year_state(to);
            }
            // Read from another year state, or not text: read again, here.
            _ => {
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    sampler.process(pipeline, Line::Bytes(line), count, &mut stderr);
                }
            }
        });
        let _ = buffers_back.try_send(chunk.into_owner());
    }
}

/// What the reader hands out: a chunk of whole lines, or why reading stopped.
type ReadChunk = Result<Vec<u8>, String>;

fn stage_chunks(
    name: &str,
    mut stager: Stager,
    chunks: &Receiver<(u64, ReadChunk)>,
    done: &Sender<(u64, Work)>,
    spent_lines: &Receiver<Spent>,
) {
    for (number, chunk) in chunks {
        // A panic here would leave the pipeline waiting for this chunk for ever: it ends the
        // replay with an error instead (the panic message is printed as usual).
        let staged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            stage_chunk(&mut stager, chunk, spent_lines)
        }));
        let work = staged.unwrap_or_else(|_| {
            Work::Failed(format!("{name}: a parsing thread failed (chunk {number})"))
        });
        if done.send((number, work)).is_err() {
            return;
        }
    }
}

fn stage_chunk(stager: &mut Stager, chunk: ReadChunk, spent_lines: &Receiver<Spent>) -> Work {
    match chunk {
        Ok(bytes) => {
            let from = stager.year_state();
            let chunk = StagedChunk::new(bytes, |bytes| {
                let text = simdutf8::basic::from_utf8(bytes).ok()?;
                let mut lines: StagedLines<'_> = spent_lines
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(text.len() / 128));
                let mut start = 0;
                // A `\n` always ends a character: each line is a str slice.
                for end in memchr::memchr_iter(b'\n', bytes) {
                    let line = &text[start..=end];
                    lines.push(stager.stage(line));
                    start = end + 1;
                }
                if start < text.len() {
                    lines.push(stager.stage(&text[start..]));
                }
                Some(lines)
            });
            let to = stager.year_state();
            Work::Staged { chunk, from, to }
        }
        Err(e) => Work::Failed(e),
    }
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
