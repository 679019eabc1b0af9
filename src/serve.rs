//! `pflog serve`: follow the logs, feed the pipeline, answer scrapes.
//!
//! Sources (file followers, the journal) send batches of lines over one channel; a single
//! ingest thread owns the [`Pipeline`] and feeds it in arrival order, exactly as `replay` does;
//! the HTTP server renders the shared registry on each scrape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::cli::ServeArgs;
use crate::exposition;
use crate::http::{self, HttpOptions};
use crate::pipeline::Pipeline;
use crate::source::SourceMsg;
use crate::source::file::{FileIdentity, FollowOptions, follow_file, initial_position};
use crate::source::journal::follow_journal;
use crate::source::state::{FilePosition, Loaded, State};

/// The default log when neither `--log` nor `--journal` is given.
pub const DEFAULT_LOG: &str = "/var/log/mail.log";
/// A position is saved at most this long after its lines were counted: after SIGKILL or a
/// crash, at most the lines counted in this last stretch are read again.
pub const STATE_SAVE_DELAY: Duration = Duration::from_secs(1);
const CHANNEL_MESSAGES: usize = 16;

struct Source {
    name: String,
    waiting_reported: bool,
    last_error: Option<String>,
}

/// What the signal handler asks of the ingest thread.
enum Control {
    /// Write the state file now (SIGHUP, SIGUSR1), saying so on stderr with this word.
    Save(&'static str),
}

/// Checks the flags of `serve` that clap cannot: a failure is a bad flag (exit status 2),
/// found before anything is read.
pub fn check_args(args: &ServeArgs) -> Result<(), String> {
    if let Some(path) = &args.state_file {
        State::check_writable(path)?;
    }
    Ok(())
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    // First of all: from here on, no signal of these ends pflog without its state saved.
    let signals = {
        let _entered = runtime.enter();
        Signals::install().map_err(|e| format!("installing signal handlers: {e}"))?
    };
    let web_config = match &args.web_config {
        Some(path) => Some(http::load_web_config(path)?),
        None => None,
    };
    let mut logs = args.logs.clone();
    if logs.is_empty() && !args.journal {
        logs.push(PathBuf::from(DEFAULT_LOG));
    }
    let logs = distinct_files(logs);
    let mut state = match &args.state_file {
        Some(p) => match State::load(p)? {
            Loaded::Missing => State::default(),
            Loaded::Read(state) => state,
            Loaded::SetAside { problem, moved_to } => {
                eprintln!(
                    "pflog: state file {} is corrupt ({problem}): moved to {}; starting without it",
                    p.display(),
                    moved_to.display()
                );
                State::default()
            }
        },
        None => State::default(),
    };
    // Every file's position from the start, not from its first line: lines written after this
    // are read after a restart even if pflog stops before any arrives.
    let mut resume_at = Vec::new();
    for path in &logs {
        let name = path.display().to_string();
        let position = match state.files.get(&name) {
            Some(p) => Some(p.to_position().map_err(|e| format!("{name}: {e}"))?),
            // Unreadable now: the follower reports it and keeps trying; nothing to save yet.
            None => initial_position(path, args.from_start).ok(),
        };
        if let Some(p) = &position {
            state
                .files
                .insert(name.clone(), FilePosition::from_position(p));
        }
        resume_at.push((path.clone(), name, position));
    }
    let mut registry = Registry::default();
    let pipeline = Pipeline::new(args.pipeline.config(), &mut registry)?;
    let registry = Arc::new(registry);

    // The listener is bound before any line is read: a start that fails (the port is taken)
    // reads nothing and leaves the state file as it was.
    let alive = Arc::new(AtomicBool::new(true));
    let render: http::Render = {
        let registry = registry.clone();
        Arc::new(move |format| exposition::render(&registry, format))
    };
    // Healthy: the ingest thread runs and no source is failing (`source::health`).
    let health = pipeline.metrics().sources().health();
    let healthy: http::Healthy = {
        let alive = alive.clone();
        Arc::new(move || {
            let (healthy, mut report) = health.check();
            let alive = alive.load(Ordering::SeqCst);
            if !alive {
                report.insert_str(0, "ingest: stopped\n");
            }
            http::Health {
                healthy: healthy && alive,
                report,
            }
        })
    };
    let tls = web_config.as_ref().is_some_and(|c| c.tls.is_some());
    let opts = HttpOptions {
        listen: args.listen_address.clone(),
        telemetry_path: args.telemetry_path.clone(),
        web_config,
        ..HttpOptions::default()
    };
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (force_tx, mut force_rx) = watch::channel(false);
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel::<Control>();
    let wake = Arc::new(AtomicU64::new(0));
    runtime.spawn(signals.run(stop_tx, force_tx, ctl_tx, wake.clone()));
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let mut server = runtime.spawn(http::serve(
        opts,
        render,
        healthy,
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        },
        Some(bound_tx),
    ));
    let http_failed = |e: String| format!("HTTP server on {}: {e}", args.listen_address);
    match runtime.block_on(bound_rx) {
        Ok(addr) => eprintln!(
            "pflog: serving metrics on http{}://{addr}",
            if tls { "s" } else { "" }
        ),
        Err(_) => {
            // It ended before binding: that is its error.
            let outcome = runtime.block_on(&mut server).map_err(|e| e.to_string())?;
            return Err(http_failed(match outcome {
                Ok(()) => "stopped before listening".to_string(),
                Err(e) => e.to_string(),
            }));
        }
    }

    // Each message is up to one read of a source (256 KiB of lines); 16 of them in flight
    // bound the memory a fast writer can make us hold, and the sources simply wait for the
    // ingest thread.
    let (tx, rx) = mpsc::channel::<SourceMsg>(CHANNEL_MESSAGES);
    let mut sources: Vec<Source> = Vec::new();
    let follow = FollowOptions {
        from_start: args.from_start,
        max_line: args.max_line_bytes as usize,
        wake,
        ..FollowOptions::default()
    };
    let mut tasks = Vec::new();
    for (path, name, resume) in resume_at {
        let id = sources.len();
        tasks.push(runtime.spawn(follow_file(id, path, follow.clone(), tx.clone(), resume)));
        sources.push(Source {
            name,
            waiting_reported: false,
            last_error: None,
        });
    }
    if args.journal {
        let id = sources.len();
        tasks.push(runtime.spawn(follow_journal(
            id,
            args.journal_matches.clone(),
            Vec::new(),
            state.journal_cursor.clone(),
            tx.clone(),
        )));
        sources.push(Source {
            name: "journal".into(),
            waiting_reported: false,
            last_error: None,
        });
    }
    drop(tx);

    for s in &sources {
        pipeline.metrics().sources().register(&s.name);
    }
    let ingest = {
        let alive = alive.clone();
        let state_file = args.state_file.clone();
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("pflog-ingest".into())
            .spawn(move || {
                let result = ingest(
                    pipeline,
                    rx,
                    ctl_rx,
                    sources,
                    state,
                    state_file.as_deref(),
                    &handle,
                );
                alive.store(false, Ordering::SeqCst);
                result
            })
            .map_err(|e| format!("starting the ingest thread: {e}"))?
    };

    let served = runtime.block_on(async {
        tokio::select! {
            outcome = &mut server => outcome.map_err(|e| e.to_string())?.map_err(|e| e.to_string()),
            _ = force_rx.wait_for(|force| *force) => {
                // Connections still open are dropped, not waited for.
                server.abort();
                Ok(())
            }
        }
    });
    // Stop the sources; the ingest thread sees the channel close, counts what they had sent,
    // saves state and returns. It is joined before the runtime shuts down: it waits on the
    // runtime's timer.
    for t in &tasks {
        t.abort();
    }
    runtime.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let ingested = ingest
        .join()
        .map_err(|_| "the ingest thread panicked".to_string());
    runtime.shutdown_timeout(Duration::from_secs(2));
    let ingested = ingested?;
    served.map_err(http_failed)?;
    ingested
}

/// The `--log` paths without repeats of one file (the same path twice, `X` and `dir/../X`, a
/// symbolic or hard link to `X`): each file is followed once, under the first name given; a
/// repeat is said once on stderr.
fn distinct_files(logs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen: HashMap<FileIdentity, PathBuf> = HashMap::new();
    let mut distinct = Vec::new();
    for path in logs {
        match seen.get(&FileIdentity::of(&path)) {
            Some(first) => eprintln!(
                "pflog: --log {} is the same file as {}: followed once",
                path.display(),
                first.display()
            ),
            None => {
                seen.insert(FileIdentity::of(&path), path.clone());
                distinct.push(path);
            }
        }
    }
    distinct
}

/// The signals `serve` handles, installed at its start (until then the default action, which
/// ends the process, applies).
///
/// - SIGTERM, SIGINT: orderly stop: the listener closes, requests in flight get their grace,
///   the state is saved. A second SIGTERM or SIGINT stops at once (the HTTP grace is cut short;
///   the state is still saved, it holds only counted lines); a third exits without saving.
/// - SIGQUIT: stop at once, state saved (as a second SIGTERM).
/// - SIGHUP: every followed path is looked at again now (a rotated or recreated file is picked
///   up without waiting for the next poll), and the state is saved; pflog goes on.
/// - SIGUSR1: the state is saved now; pflog goes on.
/// - SIGUSR2: ignored (said on stderr).
struct Signals {
    term: Signal,
    int: Signal,
    quit: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
        })
    }

    async fn run(
        mut self,
        stop: watch::Sender<bool>,
        force: watch::Sender<bool>,
        ctl: mpsc::UnboundedSender<Control>,
        wake: Arc<AtomicU64>,
    ) {
        let mut stops = 0;
        loop {
            let now = tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
                _ = self.quit.recv() => "SIGQUIT",
                _ = self.hup.recv() => "SIGHUP",
                _ = self.usr1.recv() => "SIGUSR1",
                _ = self.usr2.recv() => "SIGUSR2",
            };
            match now {
                "SIGHUP" => {
                    wake.fetch_add(1, Ordering::SeqCst);
                    let _ = ctl.send(Control::Save("SIGHUP: followed paths looked at again,"));
                }
                "SIGUSR1" => {
                    let _ = ctl.send(Control::Save("SIGUSR1:"));
                }
                "SIGUSR2" => eprintln!("pflog: SIGUSR2 ignored"),
                _ => {
                    stops += 1;
                    if stops == 1 && now != "SIGQUIT" {
                        eprintln!("pflog: shutting down ({now})");
                    } else if stops <= 2 {
                        eprintln!("pflog: shutting down ({now}): stopping now");
                        let _ = force.send(true);
                    } else {
                        eprintln!("pflog: {now} again: exiting without saving state");
                        std::process::exit(1);
                    }
                    let _ = stop.send(true);
                }
            }
        }
    }
}

fn ingest(
    mut pipeline: Pipeline,
    mut rx: mpsc::Receiver<SourceMsg>,
    mut ctl: mpsc::UnboundedReceiver<Control>,
    mut sources: Vec<Source>,
    mut state: State,
    state_file: Option<&Path>,
    runtime: &tokio::runtime::Handle,
) -> Result<(), String> {
    enum Next {
        Msg(SourceMsg),
        Control(Control),
        Quiet,
        End,
    }
    // The starting positions are saved at once.
    let mut last_save: Option<Instant> = None;
    let mut dirty = true;
    let mut ctl_open = true;
    // Outcomes held for late rspamd verdicts wait for log time to pass the join window; when
    // no line has come for that long in wall time, none is coming soon: they are reported.
    let join_window =
        Duration::from_micros(pipeline.correlator().config().join_window.max(0) as u64);
    let mut last_lines = Instant::now();
    let mut held = false;
    let save = |state: &State| match state_file {
        Some(path) => state.save(path),
        None => Ok(()),
    };
    loop {
        // When a position waits to be saved, wake up in time to save it even if no line
        // follows.
        let wait = match (dirty, last_save) {
            (true, Some(at)) => STATE_SAVE_DELAY.saturating_sub(at.elapsed()),
            (true, None) => Duration::ZERO,
            (false, _) => Duration::from_secs(3600),
        };
        let wait = if held {
            wait.min(join_window.saturating_sub(last_lines.elapsed()))
        } else {
            wait
        };
        let next = runtime.block_on(async {
            tokio::select! {
                biased;
                c = ctl.recv(), if ctl_open => c.map_or(Next::Quiet, Next::Control),
                m = tokio::time::timeout(wait, rx.recv()) => match m {
                    Ok(Some(msg)) => Next::Msg(msg),
                    Ok(None) => Next::End,
                    Err(_elapsed) => Next::Quiet,
                },
            }
        });
        match next {
            Next::End => break,
            Next::Quiet => ctl_open = !ctl.is_closed(),
            Next::Msg(msg) => {
                last_lines = Instant::now();
                held = true;
                ingest_one(&mut pipeline, msg, &mut sources, &mut state, &mut dirty);
            }
            Next::Control(Control::Save(why)) => {
                match save(&state) {
                    Ok(()) => eprintln!("pflog: {why} state saved"),
                    Err(e) => eprintln!("pflog: {e}"),
                }
                last_save = Some(Instant::now());
                dirty = false;
            }
        }
        if held && last_lines.elapsed() >= join_window {
            pipeline.release_held();
            held = false;
        }
        if dirty && last_save.is_none_or(|at| at.elapsed() >= STATE_SAVE_DELAY) {
            if let Err(e) = save(&state) {
                eprintln!("pflog: {e}");
            }
            last_save = Some(Instant::now());
            dirty = false;
        }
    }
    pipeline.release_held();
    save(&state)
}

/// `process_line` never panics on any input (fuzzed); should a bug make it panic anyway, that
/// one line is lost, not the whole ingest thread (which would freeze every metric while the
/// process lives on). The first few are reported.
fn process_guarded(pipeline: &mut Pipeline, line: &[u8]) {
    use std::sync::atomic::AtomicU64;
    static PANICS: AtomicU64 = AtomicU64::new(0);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pipeline.process_line(line);
    }));
    if outcome.is_err() {
        let n = PANICS.fetch_add(1, Ordering::Relaxed);
        if n < 10 {
            eprintln!(
                "pflog: bug: a line made the pipeline panic and was skipped: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(300)])
            );
        }
    }
}

fn ingest_one(
    pipeline: &mut Pipeline,
    msg: SourceMsg,
    sources: &mut [Source],
    state: &mut State,
    dirty: &mut bool,
) {
    pipeline
        .metrics()
        .sources()
        .observe(&sources[msg.source()].name, &msg);
    match msg {
        SourceMsg::Lines {
            source,
            lines,
            position,
        } => {
            for line in &lines {
                process_guarded(pipeline, line);
            }
            if let Some(p) = position {
                state.files.insert(
                    sources[source].name.clone(),
                    FilePosition::from_position(&p),
                );
                *dirty = true;
            }
        }
        SourceMsg::Rotated { source } | SourceMsg::Truncated { source } => {
            pipeline.metrics().sources().rotated(&sources[source].name);
        }
        SourceMsg::LineTooLong { source } => {
            pipeline
                .metrics()
                .sources()
                .long_line(&sources[source].name);
        }
        SourceMsg::Waiting { source } => {
            let s = &mut sources[source];
            if !s.waiting_reported {
                s.waiting_reported = true;
                eprintln!("pflog: waiting for {} to appear", s.name);
            }
        }
        SourceMsg::Error { source, message } => {
            let s = &mut sources[source];
            pipeline.metrics().sources().error(&s.name);
            if s.last_error.as_deref() != Some(message.as_str()) {
                eprintln!("pflog: {}: {message}", s.name);
                s.last_error = Some(message);
            }
        }
        SourceMsg::Recovered { source } => {
            let s = &mut sources[source];
            if s.last_error.take().is_some() {
                eprintln!("pflog: {}: reading again", s.name);
            }
        }
        SourceMsg::JournalCursor { cursor, .. } => {
            state.journal_cursor = Some(cursor);
            *dirty = true;
        }
    }
}
