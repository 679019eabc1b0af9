//! Daemon parsers: one file per daemon, each turning a message into a typed [`Event`].
//!
//! Every daemon pflog reads is declared once, in the [`daemons!`] table below: its parser,
//! the program names it logs under, and whether it is a Postfix program. The dispatch, the
//! program-name lookup, the fuzz targets and the corpus tests all iterate that table. Dispatch
//! is on the daemon first, so a line meets at most the rules of its own daemon.

use crate::envelope::Program;
use crate::event::Event;

pub mod bounce;
pub mod cleanup;
pub mod common;
pub mod delivery;
pub mod misc;
pub mod opendkim;
pub mod opendmarc;
pub mod pickup;
pub mod policyd_spf;
pub mod policyd_weight;
pub mod postgrey;
pub mod postscreen;
pub mod postsuper;
pub mod qmgr;
pub mod rspamd;
pub mod smtpd;
#[cfg(test)]
pub(crate) mod testing;

/// The outcome of parsing one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Parsed<'a> {
    /// Understood.
    Event(Event<'a>),
    /// From a program pflog knows, but no rule understood it.
    Unsupported,
    /// From a program pflog does not follow (dovecot, amavis, cron, ...).
    Ignored,
}

/// One daemon of the table: how its lines are found and read.
#[derive(Debug, Clone, Copy)]
pub struct DaemonSpec {
    pub daemon: Daemon,
    /// Program names (the syslog tag's last part: `smtpd` of `postfix/smtpd`) and the
    /// `program` label of `pflog_lines_total` each is counted under.
    pub programs: &'static [(&'static str, &'static str)],
}

/// Declares the daemons: the [`Daemon`] enum, the [`DAEMONS`] table and the static dispatch
/// of [`parse_into`] (a `match`, so that each parser's event is built where it is to stay).
///
/// `Name => parser, postfix|foreign, ["program", "alias" as "label", ...];`
macro_rules! daemons {
    ($(
        $(#[$doc:meta])*
        $name:ident => $parse:path, $kind:ident, [$($program:literal $(as $label:literal)?),+ $(,)?];
    )+) => {
        /// Which parser handles a line. Declared with its programs in [`DAEMONS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Daemon {
            $($(#[$doc])* $name,)+
            /// Any program not in the table: its lines are counted as `ignored`.
            Foreign,
        }

        /// Every daemon pflog reads, in a fixed order (the fuzz target's selector byte is the
        /// index in [`Daemon::ALL`]: a new daemon goes at the end, so that the daemons before
        /// it keep their selectors).
        pub const DAEMONS: &[DaemonSpec] = &[$(
            DaemonSpec {
                daemon: Daemon::$name,
                programs: &[$(($program, daemons!(@label $program $(, $label)?))),+],
            },
        )+];

        impl Daemon {
            /// Every daemon of the table, in its order, then [`Daemon::Foreign`].
            pub const ALL: [Daemon; [$(stringify!($name)),+].len() + 1] =
                [$(Daemon::$name,)+ Daemon::Foreign];

            /// A Postfix program: its `warning:`/`error:`/... lines are diagnostics.
            pub fn is_postfix(self) -> bool {
                match self {
                    $(Daemon::$name => daemons!(@postfix $kind),)+
                    Daemon::Foreign => false,
                }
            }
        }

        fn dispatch<'a>(daemon: Daemon, message: &'a str, event: &mut Option<Event<'a>>) -> bool {
            match daemon {
                $(Daemon::$name => *event = $parse(message),)+
                Daemon::Foreign => {
                    *event = None;
                    return false;
                }
            }
            true
        }
    };
    (@label $program:literal) => { $program };
    (@label $program:literal, $label:literal) => { $label };
    (@postfix postfix) => { true };
    (@postfix foreign) => { false };
}

daemons! {
    Smtpd => smtpd::parse, postfix, ["smtpd"];
    Postscreen => postscreen::parse, postfix, ["postscreen"];
    Cleanup => cleanup::parse, postfix, ["cleanup"];
    Qmgr => qmgr::parse, postfix, ["qmgr", "nqmgr" as "qmgr", "oqmgr" as "qmgr"];
    Pickup => pickup::parse, postfix, ["pickup"];
    Bounce => bounce::parse, postfix, ["bounce", "defer", "trace"];
    Postsuper => postsuper::parse, postfix, ["postsuper"];
    /// smtp, lmtp, local, virtual, pipe, error, relay, retry, discard, and any Postfix
    /// service with a name of its own (a pipe transport called `dovecot`, ...).
    Delivery => delivery::parse, postfix, [
        "smtp", "lmtp", "local", "virtual", "pipe", "error", "retry", "discard", "relay",
    ];
    /// Postfix programs with nothing to count (master, anvil, scache, postfix-script, ...).
    PostfixMisc => misc::parse, postfix, [
        "master", "anvil", "scache", "tlsmgr", "tlsproxy", "verify", "trivial-rewrite",
        "proxymap", "dnsblog", "postfix-script", "postlog", "postlogd", "sendmail", "postdrop",
        "postqueue", "postmap", "postalias",
    ];
    Postgrey => postgrey::parse, foreign, ["postgrey"];
    PolicydWeight => policyd_weight::parse, foreign, ["policyd-weight"];
    Rspamd => rspamd::parse, foreign, ["rspamd"];
    /// postfix-policyd-spf-python; `postfix/policyd-spf` (a tag with an instance) is the same
    /// program.
    PolicydSpf => policyd_spf::parse, foreign, ["policyd-spf"];
    Opendkim => opendkim::parse, foreign, ["opendkim"];
    Opendmarc => opendmarc::parse, foreign, ["opendmarc"];
}

/// The daemon of a program and the `program` label of `pflog_lines_total`: a name of the
/// table, `postfix_other` (a Postfix service of a name of its own), or `other`. Callers
/// remember the answer per program name, so this runs once per name, not per line.
pub fn daemon_of(program: &Program<'_>) -> (Daemon, &'static str) {
    for spec in DAEMONS {
        if let Some((_, label)) = spec.programs.iter().find(|(p, _)| *p == program.daemon) {
            return (spec.daemon, label);
        }
    }
    if program.instance.is_some() {
        // Its lines are delivery lines when they are anything.
        (Daemon::Delivery, "postfix_other")
    } else {
        (Daemon::Foreign, "other")
    }
}

/// Parses one message of `daemon`.
pub fn parse(daemon: Daemon, message: &str) -> Parsed<'_> {
    let mut event = None;
    match (parse_into(daemon, message, &mut event), event) {
        (_, Some(e)) => Parsed::Event(e),
        (true, None) => Parsed::Unsupported,
        (false, None) => Parsed::Ignored,
    }
}

/// [`parse`] in place: the event is written into `event` (`None`: not understood), and the
/// answer says whether pflog follows the program at all (`false`: ignored). Each parser's
/// result is assigned where it is to stay, so that the event is built there rather than built
/// and then copied.
pub fn parse_into<'a>(daemon: Daemon, message: &'a str, event: &mut Option<Event<'a>>) -> bool {
    if !dispatch(daemon, message, event) {
        return false;
    }
    if event.is_none() && daemon.is_postfix() {
        *event = misc::diagnostic(message);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program name belongs to one daemon only, and a label is never another daemon's.
    #[test]
    fn the_table_names_each_program_once() {
        let mut seen = std::collections::HashMap::new();
        for spec in DAEMONS {
            for (program, label) in spec.programs {
                assert_eq!(seen.insert(*program, spec.daemon), None, "{program}");
                let owner = DAEMONS
                    .iter()
                    .find(|s| s.programs.iter().any(|(p, _)| p == label))
                    .map(|s| s.daemon);
                assert_eq!(owner, Some(spec.daemon), "{program} as {label}");
            }
        }
    }

    #[test]
    fn programs_find_their_daemon() {
        for (tag, daemon, label) in [
            ("postfix/smtpd", Daemon::Smtpd, "smtpd"),
            ("postfix-out/oqmgr", Daemon::Qmgr, "qmgr"),
            ("postfix/defer", Daemon::Bounce, "defer"),
            ("postfix/dovecot", Daemon::Delivery, "postfix_other"),
            ("postgrey", Daemon::Postgrey, "postgrey"),
            (
                "postfix/policyd-weight",
                Daemon::PolicydWeight,
                "policyd-weight",
            ),
            ("policyd-spf", Daemon::PolicydSpf, "policyd-spf"),
            ("postfix/policyd-spf", Daemon::PolicydSpf, "policyd-spf"),
            ("opendkim", Daemon::Opendkim, "opendkim"),
            ("opendmarc", Daemon::Opendmarc, "opendmarc"),
            ("dovecot", Daemon::Foreign, "other"),
        ] {
            assert_eq!(daemon_of(&Program::split(tag)), (daemon, label), "{tag}");
        }
    }
}
