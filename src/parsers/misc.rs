//! Lines of Postfix programs that carry nothing to count, and the diagnostics every Postfix
//! program writes (`warning:`, `error:`, `fatal:`, `panic:`).

use crate::event::{Event, Level};

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

/// `warning: ...` and its siblings, in any Postfix program: a line no rule of its daemon read
/// as anything more.
pub fn diagnostic(message: &str) -> Option<Event<'_>> {
    level(message).map(Event::Diagnostic)
}

/// The level a message is written at when it says so first: Postfix's `warning: `, `error: `,
/// `fatal: `, `panic: ` (`msg_warn` and its siblings), and the same words in capitals or as
/// `err: ` (postgrey's `WARNING: `, policyd-weight's `err: `, syslog's short name). `None`
/// for any other message (those at the info level, nearly all).
///
/// Every line of a daemon of the table is read with this whatever else it is (a SASL failure
/// or a TLS problem logged as `warning: ` is a warning too), so a daemon added to the table
/// has its diagnostics counted without a rule of its own.
#[inline]
pub fn level(message: &str) -> Option<Level> {
    let b = message.as_bytes();
    // The first byte rules out nearly every line.
    let (level, word_len) = match b.first()? | 0x20 {
        b'w' => (Level::Warning, 7),
        b'e' if b.get(3) == Some(&b':') => (Level::Error, 3),
        b'e' => (Level::Error, 5),
        b'f' => (Level::Fatal, 5),
        b'p' => (Level::Panic, 5),
        _ => return None,
    };
    let (word, rest) = (b.get(..word_len)?, b.get(word_len..)?);
    let expected: &[u8] = match level {
        Level::Warning => b"warning",
        Level::Error if word_len == 3 => b"err",
        Level::Error => b"error",
        Level::Fatal => b"fatal",
        Level::Panic => b"panic",
    };
    let lower = word == expected;
    let upper = word
        .iter()
        .zip(expected)
        .all(|(a, b)| *a == b.to_ascii_uppercase());
    ((lower || upper) && rest.starts_with(b": ")).then_some(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_messages() {
        for (message, want) in [
            ("warning: hostname x does not resolve", Some(Level::Warning)),
            ("WARNING: cannot read", Some(Level::Warning)),
            ("error: open database", Some(Level::Error)),
            ("ERROR: x", Some(Level::Error)),
            ("err: could not connect", Some(Level::Error)),
            ("ERR: x", Some(Level::Error)),
            ("fatal: bad config", Some(Level::Fatal)),
            ("FATAL: x", Some(Level::Fatal)),
            ("panic: myfree", Some(Level::Panic)),
            ("warning:", None),
            ("warning:x", None),
            ("Warning: x", None),
            ("warnings: x", None),
            ("errors: x", None),
            ("4A1B2C3D4E: warning: header Subject: x", None),
            ("connect from a[192.0.2.1]", None),
            ("e", None),
            ("", None),
            ("w\u{e9}: x", None),
        ] {
            assert_eq!(level(message), want, "{message:?}");
        }
    }
}
