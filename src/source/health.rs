//! Whether each source is being read, for `/healthz`.
//!
//! A source is healthy while it is starting, reading, or waiting for its file to be created; it
//! is failing from the moment it reports an error (permission denied, a path that is not a
//! regular file, a read error, `journalctl` that cannot start or exits) until it reads again
//! ([`SourceMsg::Recovered`], or anything it read). serve is healthy when no source is failing.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::SourceMsg;

/// Shared by the ingest thread (which tells it what the sources report) and `/healthz`.
#[derive(Clone, Default)]
pub struct SourceHealth {
    sources: Arc<Mutex<Vec<(String, State)>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Starting,
    Reading,
    Waiting,
    Failing { message: String, since: Instant },
}

/// Longest error message quoted in the report.
const MESSAGE_MAX: usize = 200;

impl SourceHealth {
    pub fn register(&self, name: &str) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if !sources.iter().any(|(n, _)| n == name) {
            sources.push((name.to_string(), State::Starting));
        }
    }

    /// Notes what source `name` reported.
    pub fn observe(&self, name: &str, msg: &SourceMsg) {
        let state = match msg {
            SourceMsg::Lines { .. }
            | SourceMsg::Rotated { .. }
            | SourceMsg::Truncated { .. }
            | SourceMsg::LineTooLong { .. }
            | SourceMsg::JournalCursor { .. }
            | SourceMsg::Recovered { .. } => State::Reading,
            SourceMsg::Waiting { .. } => State::Waiting,
            SourceMsg::Error { message, .. } => State::Failing {
                message: message.clone(),
                since: Instant::now(),
            },
        };
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let Some((_, current)) = sources.iter_mut().find(|(n, _)| n == name) else {
            return;
        };
        // A failing source that fails again is failing since the first error.
        if let (State::Failing { since, .. }, State::Failing { message, .. }) = (&*current, &state)
        {
            *current = State::Failing {
                message: message.clone(),
                since: *since,
            };
        } else {
            *current = state;
        }
    }

    /// Whether no source is failing, and one line per source: `NAME: STATE`.
    pub fn check(&self) -> (bool, String) {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let mut healthy = true;
        let mut report = String::new();
        for (name, state) in sources.iter() {
            report.push_str(name);
            report.push_str(": ");
            match state {
                State::Starting => report.push_str("starting"),
                State::Reading => report.push_str("reading"),
                State::Waiting => report.push_str("waiting for the file to appear"),
                State::Failing { message, since } => {
                    healthy = false;
                    // File messages start with the path, which is the name.
                    let message = message
                        .strip_prefix(name.as_str())
                        .and_then(|m| m.strip_prefix(": "))
                        .unwrap_or(message);
                    let message = message.lines().next().unwrap_or("");
                    let mut cut = message.len().min(MESSAGE_MAX);
                    while !message.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    report.push_str(&format!(
                        "failing for {}s: {}",
                        since.elapsed().as_secs(),
                        &message[..cut]
                    ));
                }
            }
            report.push('\n');
        }
        (healthy, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_until_read_again() {
        let h = SourceHealth::default();
        h.register("/var/log/mail.log");
        h.register("/var/log/rspamd.log");
        h.register("journal");
        assert_eq!(
            h.check(),
            (
                true,
                "/var/log/mail.log: starting\n/var/log/rspamd.log: starting\njournal: starting\n"
                    .into()
            )
        );
        h.observe("/var/log/rspamd.log", &SourceMsg::Waiting { source: 1 });
        h.observe(
            "journal",
            &SourceMsg::JournalCursor {
                source: 2,
                cursor: "c".into(),
            },
        );
        let error = |m: &str| SourceMsg::Error {
            source: 0,
            message: m.into(),
        };
        h.observe(
            "/var/log/mail.log",
            &error("/var/log/mail.log: Permission denied (os error 13)"),
        );
        let (healthy, report) = h.check();
        assert!(!healthy);
        assert_eq!(
            report,
            "/var/log/mail.log: failing for 0s: Permission denied (os error 13)\n\
             /var/log/rspamd.log: waiting for the file to appear\njournal: reading\n"
        );
        h.observe("/var/log/mail.log", &error("x\ny"));
        assert!(
            h.check()
                .1
                .starts_with("/var/log/mail.log: failing for 0s: x\n")
        );
        h.observe("/var/log/mail.log", &SourceMsg::Recovered { source: 0 });
        assert_eq!(
            h.check(),
            (
                true,
                "/var/log/mail.log: reading\n/var/log/rspamd.log: waiting for the file to appear\n\
                 journal: reading\n"
                    .into()
            )
        );
        // Long messages are cut, on a character boundary.
        h.observe("journal", &error(&"é".repeat(300)));
        let (healthy, report) = h.check();
        assert!(!healthy);
        assert!(report.ends_with(&format!("journal: failing for 0s: {}\n", "é".repeat(100))));
    }
}
