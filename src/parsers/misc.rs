//! Lines of Postfix programs that carry nothing to count, and the diagnostics every Postfix
//! program writes (`warning:`, `error:`, `fatal:`, `panic:`).

use crate::event::{Event, Level};
use crate::scan::Scan;

/// master, anvil, scache, postfix-script, ...: every line is understood as `Other`.
pub fn parse(message: &str) -> Option<Event<'_>> {
    diagnostic(message).or(Some(Event::Other(misc_kind(message))))
}

fn misc_kind(message: &str) -> &'static str {
    if message.starts_with("statistics:") {
        "statistics"
    } else if message.starts_with("daemon started") || message.starts_with("starting the Postfix") {
        "start"
    } else if message.starts_with("terminating") || message.starts_with("stopping the Postfix") {
        "stop"
    } else if message.starts_with("reload") || message.starts_with("refreshing the Postfix") {
        "reload"
    } else {
        "info"
    }
}

/// `warning: ...` and its siblings, in any Postfix program.
pub fn diagnostic(message: &str) -> Option<Event<'_>> {
    let level = message.split_once_fast(": ").map(|(l, _)| l)?;
    Some(Event::Diagnostic(match level {
        "warning" => Level::Warning,
        "error" => Level::Error,
        "fatal" => Level::Fatal,
        "panic" => Level::Panic,
        _ => return None,
    }))
}
