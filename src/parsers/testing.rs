//! Helpers for the parsers' unit tests: whole syslog lines through the envelope, the daemon
//! dispatch and its parser, and the table checks the daemon test modules share.

use crate::envelope::{self, Clock, Program};
use crate::event::Event;
use crate::parsers::{self, Daemon, Parsed, classify};

/// Runs a whole syslog line through the envelope, the daemon dispatch and its parser.
pub(crate) fn parsed(line: &str) -> (Daemon, Parsed<'_>) {
    let mut clock = Clock::new(Some(2024), (2024, 12)).with_fixed_offset(0);
    let envelope = envelope::parse(line, &mut clock).unwrap_or_else(|| panic!("envelope: {line}"));
    let (daemon, _) = classify(&Program::split(envelope.program));
    (daemon, parsers::parse(daemon, envelope.message))
}

/// The event of a line that must be understood by `daemon`'s parser.
pub(crate) fn event_of(daemon: Daemon, line: &str) -> Event<'_> {
    match parsed(line) {
        (d, Parsed::Event(e)) if d == daemon => e,
        other => panic!("{line}\n  -> {other:?}"),
    }
}

/// Each line gives its event under `daemon`'s parser.
pub(crate) fn assert_events(daemon: Daemon, cases: &[(&str, Event<'_>)]) {
    for &(line, expected) in cases {
        assert_eq!(event_of(daemon, line), expected, "{line}");
    }
}

/// Each line gives `Event::Other(kind)` under `daemon`'s parser.
pub(crate) fn assert_others(daemon: Daemon, cases: &[(&str, &'static str)]) {
    for &(line, kind) in cases {
        assert_eq!(event_of(daemon, line), Event::Other(kind), "{line}");
    }
}

/// A generated `key=value<sep>` list, cut short at `cut` when `truncate` (for proptests of the
/// field scanners).
pub(crate) fn field_list<K: AsRef<str>, V: AsRef<str>, S: AsRef<str>>(
    fields: Vec<(K, V, S)>,
    cut: proptest::sample::Index,
    truncate: bool,
) -> String {
    let mut s = String::new();
    for (key, value, sep) in fields {
        s.push_str(key.as_ref());
        s.push('=');
        s.push_str(value.as_ref());
        s.push_str(sep.as_ref());
    }
    if truncate && !s.is_empty() {
        s.truncate(cut.index(s.len()));
    }
    s
}
