//! Reading the systemd journal through `journalctl --output=json`.
//!
//! Each JSON record becomes one synthetic classic log line in RFC 3339 form, so the normal
//! envelope parser reads it:
//! `2026-11-23T12:34:56.123456+00:00 mx1 postfix/smtpd[123]: connect from ...`.
//!
//! When following, `journalctl` is restarted with exponential backoff if it dies, continuing
//! after the cursor of the last record read (`--after-cursor`), so a restart neither loses nor
//! repeats records; a restarted `journalctl` that keeps running for the shortest backoff is
//! reported as [`SourceMsg::Recovered`].

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc::Sender;

use super::SourceMsg;
use super::file::Splitter;

/// The match used when none is given: syslog facility `mail`.
pub const DEFAULT_MATCH: &str = "SYSLOG_FACILITY=2";

/// How to run `journalctl`.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// The program (default `journalctl`).
    pub program: PathBuf,
    /// Follow new records (`--follow`, starting at the end with `--lines=0`) and restart the
    /// program when it exits; without it the program is run once and its output read to the end
    /// (e.g. with `--file X` in `extra_args`).
    pub follow: bool,
    /// Journal matches, e.g. `SYSLOG_FACILITY=2` or `_SYSTEMD_UNIT=postfix@-.service`.
    pub matches: Vec<String>,
    /// More arguments, placed before the matches (e.g. `--directory`, `--file`, `--merge`).
    pub extra_args: Vec<String>,
    /// Longest JSON record read (default 1 MiB); longer ones are skipped ([`SourceMsg::LineTooLong`]).
    pub max_record: usize,
    /// First and longest wait before restarting a program that exited (1 s .. 60 s).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Start after this cursor (saved by a previous run) instead of at the end.
    pub after_cursor: Option<String>,
    /// Send [`SourceMsg::JournalCursor`] after each read that moved the cursor.
    pub report_cursor: bool,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            program: PathBuf::from("journalctl"),
            follow: true,
            matches: vec![DEFAULT_MATCH.to_string()],
            extra_args: Vec::new(),
            max_record: 1 << 20,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            after_cursor: None,
            report_cursor: false,
        }
    }
}

/// Follows the journal with `journalctl --follow --output=json --all --lines=0 [matches]`
/// (default match: [`DEFAULT_MATCH`]), or `--after-cursor=C` instead of `--lines=0` when
/// resuming after a saved cursor, until `tx` is closed or the future is dropped; reports its
/// cursor ([`SourceMsg::JournalCursor`]).
pub async fn follow_journal(
    source: usize,
    matches: Vec<String>,
    extra_args: Vec<String>,
    after_cursor: Option<String>,
    tx: Sender<SourceMsg>,
) {
    let mut opts = JournalOptions {
        extra_args,
        after_cursor,
        report_cursor: true,
        ..JournalOptions::default()
    };
    if !matches.is_empty() {
        opts.matches = matches;
    }
    run_journal(source, opts, tx).await;
}

/// Runs `journalctl` per `opts` and sends its records as lines; see [`JournalOptions::follow`].
pub async fn run_journal(source: usize, opts: JournalOptions, tx: Sender<SourceMsg>) {
    let mut cursor: Option<String> = opts.after_cursor.clone();
    let mut backoff = opts.backoff_min;
    // An error was reported and no run since lasted `backoff_min`.
    let mut failing = false;
    loop {
        let started = Instant::now();
        let cursor_before = cursor.clone();
        let outcome = {
            let run = run_once(source, &opts, &tx, &mut cursor);
            tokio::pin!(run);
            let settled = tokio::time::sleep(opts.backoff_min);
            tokio::pin!(settled);
            loop {
                tokio::select! {
                    outcome = &mut run => break outcome,
                    () = tx.closed() => return,
                    () = &mut settled, if failing => {
                        failing = false;
                        if tx.send(SourceMsg::Recovered { source }).await.is_err() {
                            return;
                        }
                    }
                }
            }
        };
        let mut message = match outcome {
            Ok(None) => None,
            Ok(Some(problem)) => Some(problem),
            Err(Closed) => return,
        };
        // A cursor journalctl cannot seek to (its journal files were rotated away or vacuumed
        // since it was saved) would fail every restart: start at the end instead.
        if let Some(m) = &mut message
            && cursor.is_some()
            && cursor == cursor_before
            && m.contains("cursor")
        {
            cursor = None;
            m.push_str(" (cursor dropped: continuing at the end of the journal)");
        }
        if !opts.follow {
            if let Some(message) = message {
                let _ = tx.send(SourceMsg::Error { source, message }).await;
            }
            return;
        }
        if started.elapsed() >= opts.backoff_max {
            backoff = opts.backoff_min;
        }
        let message = format!(
            "{}; restarting in {}s",
            message.unwrap_or_else(|| format!("{} exited", opts.program.display())),
            backoff.as_secs_f64()
        );
        if tx.send(SourceMsg::Error { source, message }).await.is_err() {
            return;
        }
        failing = true;
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = tx.closed() => return,
        }
        backoff = (backoff * 2).min(opts.backoff_max);
    }
}

struct Closed;

/// The command line for one run.
fn args(opts: &JournalOptions, cursor: Option<&str>) -> Vec<String> {
    let mut args = vec!["--output=json".to_string(), "--all".to_string()];
    if opts.follow {
        args.push("--follow".to_string());
        match cursor {
            Some(c) => args.push(format!("--after-cursor={c}")),
            None => args.push("--lines=0".to_string()),
        }
    }
    args.extend(opts.extra_args.iter().cloned());
    args.extend(opts.matches.iter().cloned());
    args
}

/// One run of the program. `Ok(Some(problem))`: it could not start or exited with an error.
async fn run_once(
    source: usize,
    opts: &JournalOptions,
    tx: &Sender<SourceMsg>,
    cursor: &mut Option<String>,
) -> Result<Option<String>, Closed> {
    let mut child = match Command::new(&opts.program)
        .args(args(opts, cursor.as_deref()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Ok(Some(format!("{}: {e}", opts.program.display()))),
    };
    // Keep the end of what it says on stderr, for the error message.
    let stderr_tail = Arc::new(Mutex::new(Vec::<u8>::new()));
    let stderr_task = child.stderr.take().map(|mut stderr| {
        let tail = stderr_tail.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                t.extend_from_slice(&buf[..n]);
                let excess = t.len().saturating_sub(2048);
                t.drain(..excess);
            }
        })
    });
    let Some(stdout) = child.stdout.take() else {
        return Ok(Some("no stdout".to_string()));
    };
    let mut reader = BufReader::with_capacity(256 * 1024, stdout);
    let mut splitter = Splitter::default();
    loop {
        let buf = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => return Ok(Some(format!("{}: {e}", opts.program.display()))),
        };
        if buf.is_empty() {
            break;
        }
        let mut records = Vec::new();
        let too_long = splitter.push(buf, opts.max_record, &mut records);
        let n = buf.len();
        reader.consume(n);
        for _ in 0..too_long {
            tx.send(SourceMsg::LineTooLong { source })
                .await
                .map_err(|_| Closed)?;
        }
        let mut lines = Vec::with_capacity(records.len());
        let cursor_before = opts.report_cursor.then(|| cursor.clone());
        for record in &records {
            let Ok(value) = serde_json::from_slice::<Value>(record) else {
                continue;
            };
            if let Some(c) = value.get("__CURSOR").and_then(Value::as_str) {
                *cursor = Some(c.to_string());
            }
            if let Some(line) = record_to_line(&value) {
                lines.push(line);
            }
        }
        if !lines.is_empty() {
            tx.send(SourceMsg::Lines {
                source,
                lines,
                position: None,
            })
            .await
            .map_err(|_| Closed)?;
        }
        if let Some(before) = cursor_before
            && *cursor != before
            && let Some(c) = cursor.clone()
        {
            tx.send(SourceMsg::JournalCursor { source, cursor: c })
                .await
                .map_err(|_| Closed)?;
        }
    }
    let status = child.wait().await;
    if let Some(task) = stderr_task {
        let _ = task.await;
    }
    let stderr = {
        let t = stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&t).trim().replace('\n', " | ")
    };
    let program = opts.program.display();
    Ok(match status {
        Ok(s) if s.success() => None,
        Ok(s) if stderr.is_empty() => Some(format!("{program} exited with {s}")),
        Ok(s) => Some(format!("{program} exited with {s}: {stderr}")),
        Err(e) => Some(format!("{program}: {e}")),
    })
}

/// Maps one `journalctl --output=json` record to a classic log line:
/// `{__REALTIME_TIMESTAMP as RFC 3339 UTC with µs} {_HOSTNAME} {SYSLOG_IDENTIFIER}[{_PID}]: {MESSAGE}`.
///
/// `MESSAGE` may be a string or (non-UTF-8 data) an array of byte values; newlines in it become
/// spaces. Without `SYSLOG_IDENTIFIER` the identifier is `_COMM`; without a PID the `[pid]` is
/// left out; without `_HOSTNAME` the host is `localhost`. `None` for anything that is not a JSON
/// object with a timestamp and a message.
pub fn journal_record_to_line(json: &[u8]) -> Option<Vec<u8>> {
    let value: Value = serde_json::from_slice(json).ok()?;
    record_to_line(&value)
}

fn record_to_line(record: &Value) -> Option<Vec<u8>> {
    let record = record.as_object()?;
    let field = |name: &str| record.get(name).and_then(field_bytes);
    let micros: i64 = std::str::from_utf8(&field("__REALTIME_TIMESTAMP")?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let time = chrono::DateTime::from_timestamp_micros(micros)?;
    let mut message = field("MESSAGE")?;
    while message.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        message.pop();
    }
    for b in &mut message {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    let word = |bytes: Vec<u8>| -> Vec<u8> {
        bytes
            .into_iter()
            .map(|b| if b.is_ascii_whitespace() { b'_' } else { b })
            .collect()
    };
    let host = field("_HOSTNAME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| b"localhost".to_vec(), word);
    let ident = field("SYSLOG_IDENTIFIER")
        .filter(|i| !i.is_empty())
        .or_else(|| field("_COMM").filter(|i| !i.is_empty()))
        .map_or_else(|| b"unknown".to_vec(), word);
    let pid = field("_PID")
        .or_else(|| field("SYSLOG_PID"))
        .filter(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));

    let mut line = Vec::with_capacity(64 + message.len());
    line.extend_from_slice(
        time.format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
            .to_string()
            .as_bytes(),
    );
    line.push(b' ');
    line.extend_from_slice(&host);
    line.push(b' ');
    line.extend_from_slice(&ident);
    if let Some(pid) = pid {
        line.push(b'[');
        line.extend_from_slice(&pid);
        line.push(b']');
    }
    line.extend_from_slice(b": ");
    line.extend_from_slice(&message);
    Some(line)
}

/// A field's value: a string, an array of byte values (binary data), or, for a field that occurs
/// more than once, an array of those, of which the first is taken. `null` (too large, without
/// `--all`) is `None`.
fn field_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Array(items) if items.iter().all(Value::is_number) => items
            .iter()
            .map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        Value::Array(items) => items.first().and_then(field_bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(json: &str) -> Option<String> {
        journal_record_to_line(json.as_bytes()).map(|l| String::from_utf8_lossy(&l).into_owned())
    }

    #[test]
    fn full_record() {
        let json = r#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"mx1","SYSLOG_IDENTIFIER":"postfix/smtpd","_PID":"123","SYSLOG_PID":"999","MESSAGE":"connect from a[1.2.3.4]","_COMM":"smtpd"}"#;
        assert_eq!(
            line(json).unwrap(),
            "2023-11-14T22:13:20.123456+00:00 mx1 postfix/smtpd[123]: connect from a[1.2.3.4]"
        );
    }

    #[test]
    fn fallbacks() {
        let json = r#"{"__REALTIME_TIMESTAMP":"0","_COMM":"qmgr","SYSLOG_PID":"7","MESSAGE":"x"}"#;
        assert_eq!(
            line(json).unwrap(),
            "1970-01-01T00:00:00.000000+00:00 localhost qmgr[7]: x"
        );
        let json = r#"{"__REALTIME_TIMESTAMP":"1","_HOSTNAME":"h","MESSAGE":"m"}"#;
        assert_eq!(
            line(json).unwrap(),
            "1970-01-01T00:00:00.000001+00:00 h unknown: m"
        );
    }

    #[test]
    fn binary_message_and_newlines() {
        let json = r#"{"__REALTIME_TIMESTAMP":"1700000000000000","_HOSTNAME":"mx1","SYSLOG_IDENTIFIER":"postfix/cleanup","_PID":"5","MESSAGE":[65,0,255,10,66,10]}"#;
        let l = journal_record_to_line(json.as_bytes()).unwrap();
        assert!(l.ends_with(b"postfix/cleanup[5]: A\0\xff B"), "{l:?}");
    }

    #[test]
    fn multi_valued_field_takes_first() {
        let json = r#"{"__REALTIME_TIMESTAMP":"1700000000000000","SYSLOG_IDENTIFIER":["a","b"],"MESSAGE":[[104,105],"x"]}"#;
        assert!(line(json).unwrap().ends_with(" localhost a: hi"));
    }

    #[test]
    fn rejects() {
        assert_eq!(line("not json"), None);
        assert_eq!(line("[]"), None);
        assert_eq!(line(r#"{"MESSAGE":"no time"}"#), None);
        assert_eq!(
            line(r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":null}"#),
            None,
            "a message left out for size"
        );
        assert_eq!(
            line(r#"{"__REALTIME_TIMESTAMP":"1","MESSAGE":[1,300]}"#),
            None
        );
    }

    #[test]
    fn the_envelope_parser_reads_it() {
        let json = r#"{"__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"mx1","SYSLOG_IDENTIFIER":"postfix/smtpd","_PID":"123","MESSAGE":"connect from a[1.2.3.4]"}"#;
        let l = line(json).unwrap();
        let mut clock = crate::envelope::Clock::new(None, (2023, 11));
        let parsed = crate::envelope::parse(&l, &mut clock).expect("parses");
        assert_eq!(parsed.timestamp, 1_700_000_000_123_456);
        assert_eq!(parsed.host, "mx1");
        assert_eq!(parsed.program, "postfix/smtpd");
        assert_eq!(parsed.pid, Some(123));
        assert_eq!(parsed.message, "connect from a[1.2.3.4]");
    }

    #[test]
    fn command_line() {
        let mut opts = JournalOptions::default();
        assert_eq!(
            args(&opts, None),
            [
                "--output=json",
                "--all",
                "--follow",
                "--lines=0",
                "SYSLOG_FACILITY=2"
            ]
        );
        assert_eq!(args(&opts, Some("s=1"))[3], "--after-cursor=s=1");
        opts.follow = false;
        opts.extra_args = vec!["--file".into(), "x.journal".into()];
        assert_eq!(
            args(&opts, None),
            [
                "--output=json",
                "--all",
                "--file",
                "x.journal",
                "SYSLOG_FACILITY=2"
            ]
        );
    }
}
