//! Helpers for the parsers' unit tests: whole syslog lines through the envelope, the daemon
//! dispatch and its parser, and the table checks the daemon test modules share.

use crate::envelope::{self, Clock, Program};
use crate::event::{Event, Level};
use crate::parsers::{self, Daemon, Parsed, daemon_of};

/// Runs a whole syslog line through the envelope, the daemon dispatch and its parser.
pub(crate) fn parsed(line: &str) -> (Daemon, Parsed<'_>) {
    let mut clock = Clock::new(Some(2024), (2024, 12)).with_fixed_offset(0);
    let envelope = envelope::parse(line, &mut clock).unwrap_or_else(|| panic!("envelope: {line}"));
    let (daemon, _) = daemon_of(&Program::split(envelope.program));
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

/// The event a table's `kind` names: a diagnostic by its level (`warning`, `error`, `fatal`,
/// `panic`), else `Event::Other(kind)`.
pub(crate) fn kind_event(kind: &'static str) -> Event<'static> {
    match kind {
        "warning" => Event::Diagnostic(Level::Warning),
        "error" => Event::Diagnostic(Level::Error),
        "fatal" => Event::Diagnostic(Level::Fatal),
        "panic" => Event::Diagnostic(Level::Panic),
        _ => Event::Other(kind),
    }
}

/// Each line gives the event of its `kind` ([`kind_event`]) under `daemon`'s parser.
pub(crate) fn assert_others(daemon: Daemon, cases: &[(&str, &'static str)]) {
    for &(line, kind) in cases {
        assert_eq!(event_of(daemon, line), kind_event(kind), "{line}");
    }
}

/// Generated `key=value<sep>` lists of up to `max_fields` fields, cut short anywhere half of
/// the time (for proptests of the field scanners).
pub(crate) fn field_lists(
    keys: Vec<&'static str>,
    values: impl proptest::strategy::Strategy<Value = String>,
    seps: Vec<&'static str>,
    max_fields: usize,
) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let field = (
        prop::sample::select(keys),
        values,
        prop::sample::select(seps),
    );
    (
        prop::collection::vec(field, 0..max_fields),
        any::<proptest::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(fields, cut, truncate)| {
            let mut s = String::new();
            for (key, value, sep) in fields {
                s.push_str(key);
                s.push('=');
                s.push_str(&value);
                s.push_str(sep);
            }
            if truncate && !s.is_empty() {
                s.truncate(cut.index(s.len()));
            }
            s
        })
}
