//! `pflog serve`: follow the logs, feed the pipeline, answer scrapes.
//!
//! Sources (file followers, the journal) send batches of lines over one channel; a single
//! ingest thread owns the [`Pipeline`] and feeds it in arrival order, exactly as `replay` does;
//! the HTTP server renders the shared registry on each scrape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

use crate::cli::ServeArgs;
use crate::exposition;
use crate::http::{self, HttpOptions};
use crate::pipeline::Pipeline;
use crate::source::SourceMsg;
use crate::source::file::{FollowOptions, follow_file};
use crate::source::journal::follow_journal;
use crate::source::state::{FilePosition, State};

/// The default log when neither `--log` nor `--journal` is given.
pub const DEFAULT_LOG: &str = "/var/log/mail.log";
const STATE_SAVE_INTERVAL: Duration = Duration::from_secs(10);
const CHANNEL_MESSAGES: usize = 16;

struct Source {
    name: String,
    waiting_reported: bool,
    last_error: Option<String>,
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    let web_config = match &args.web_config {
        Some(path) => Some(http::load_web_config(path)?),
        None => None,
    };
    let mut logs = args.logs.clone();
    if logs.is_empty() && !args.journal {
        logs.push(PathBuf::from(DEFAULT_LOG));
    }
    let state = match &args.state_file {
        Some(p) => State::load(p)?,
        None => State::default(),
    };
    let mut resume_at = BTreeMap::new();
    for (name, p) in &state.files {
        let position = p.to_position().map_err(|e| {
            let file = args
                .state_file
                .as_deref()
                .unwrap_or(Path::new(""))
                .display();
            format!("state file {file}: {name}: {e}")
        })?;
        resume_at.insert(name.clone(), position);
    }
    let mut registry = Registry::default();
    let pipeline = Pipeline::new(args.pipeline.config(), &mut registry)?;
    let registry = Arc::new(registry);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;

    // Each message is up to one read of a source (256 KiB of lines); 16 of them in flight
    // bound the memory a fast writer can make us hold, and the sources simply wait for the
    // ingest thread.
    let (tx, rx) = mpsc::channel::<SourceMsg>(CHANNEL_MESSAGES);
    let mut sources: Vec<Source> = Vec::new();
    let follow = FollowOptions {
        from_start: args.from_start,
        max_line: args.max_line_bytes as usize,
        ..FollowOptions::default()
    };
    let mut tasks = Vec::new();
    for path in &logs {
        let id = sources.len();
        let name = path.display().to_string();
        let resume = resume_at.get(&name).copied();
        tasks.push(runtime.spawn(follow_file(
            id,
            path.clone(),
            follow.clone(),
            tx.clone(),
            resume,
        )));
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

    let alive = Arc::new(AtomicBool::new(true));
    for s in &sources {
        pipeline.metrics().sources().register(&s.name);
    }
    let health = pipeline.metrics().sources().health();
    let ingest = {
        let alive = alive.clone();
        let state_file = args.state_file.clone();
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("pflog-ingest".into())
            .spawn(move || {
                let result = ingest(pipeline, rx, sources, state, state_file.as_deref(), &handle);
                alive.store(false, Ordering::SeqCst);
                result
            })
            .map_err(|e| format!("starting the ingest thread: {e}"))?
    };

    let render: http::Render = {
        let registry = registry.clone();
        Arc::new(move |format| exposition::render(&registry, format))
    };
    // Healthy: the ingest thread runs and no source is failing (`source::health`).
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
    let served = runtime.block_on(async move {
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(http::serve(
            opts,
            render,
            healthy,
            shutdown_signal(),
            Some(bound_tx),
        ));
        if let Ok(addr) = bound_rx.await {
            eprintln!(
                "pflog: serving metrics on http{}://{addr}",
                if tls { "s" } else { "" }
            );
        }
        server
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    });
    // Stop the sources; the ingest thread sees the channel close, saves state and returns.
    // It is joined before the runtime shuts down: it waits on the runtime's timer.
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
    served.map_err(|e| format!("HTTP server on {}: {e}", args.listen_address))?;
    ingested
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("pflog: shutting down");
}

fn ingest(
    mut pipeline: Pipeline,
    mut rx: mpsc::Receiver<SourceMsg>,
    mut sources: Vec<Source>,
    mut state: State,
    state_file: Option<&Path>,
    runtime: &tokio::runtime::Handle,
) -> Result<(), String> {
    let mut last_save = Instant::now();
    let mut last_lines = Instant::now();
    let join_window =
        Duration::from_micros(pipeline.correlator().config().join_window.max(0) as u64);
    let mut held = false;
    let mut dirty = false;
    loop {
        // Wake up at least once per interval, so that a position is saved even when no line
        // follows it (a crash then re-reads at most one interval of lines).
        let next =
            runtime.block_on(async { tokio::time::timeout(STATE_SAVE_INTERVAL, rx.recv()).await });
        let msg = match next {
            Ok(Some(msg)) => Some(msg),
            Ok(None) => break,
            Err(_elapsed) => None,
        };
        match msg {
            None => {}
            Some(msg) => {
                last_lines = Instant::now();
                held = true;
                ingest_one(&mut pipeline, msg, &mut sources, &mut state, &mut dirty)
            }
        }
        // Outcomes held for late verdicts wait for log time to pass the join window; when no
        // line has come for that long, none is coming soon: report them.
        if held && last_lines.elapsed() >= join_window {
            pipeline.release_held();
            held = false;
        }
        if dirty && last_save.elapsed() >= STATE_SAVE_INTERVAL {
            if let Some(path) = state_file
                && let Err(e) = state.save(path)
            {
                eprintln!("pflog: {e}");
            }
            last_save = Instant::now();
            dirty = false;
        }
    }
    pipeline.release_held();
    match state_file {
        Some(path) => state.save(path),
        None => Ok(()),
    }
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
