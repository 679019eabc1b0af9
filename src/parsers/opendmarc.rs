//! OpenDMARC (`opendmarc[PID]: JOBID: text`; under Postfix the job ID is the queue ID). Lines
//! of `opendmarc/opendmarc.c` (1.4):
//!
//! - the DMARC result of each message: `JOBID: example.org pass` (`fail`, `none`, `temperror`):
//!   the From domain and the result. OpenDMARC does not log its disposition: a reject is in
//!   the reply Postfix logs (`milter-reject: END-OF-MESSAGE ...: 5.7.1 rejected by DMARC policy
//!   for example.org`, reason class `dmarc`), a quarantine in Postfix's `milter-hold`.
//! - its own SPF check (built with SPF): `JOBID: SPF(mailfrom): example.org pass` (`helo`;
//!   `none`, `tempfail`, `fail`, `permerror`).
//! - the rest is progress (`ARC pass, policy pass > overriding DMARC fail`, `ignoring mail
//!   from ...`, `RFC5322 requirement error`, the start banner) and errors.

use crate::event::{AuthCheck, AuthDaemon, AuthResult, AuthVerdict, Event, Level};
use crate::parsers::common::is_queue_id;
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    let Some((job, text)) = message
        .split_once_fast(": ")
        .filter(|(job, _)| !job.is_empty() && job.len() <= 64 && !job.contains_fast(" "))
    else {
        // `OpenDMARC Filter v1.4.2 starting (args: ...)`, `ignoring connection from ...`.
        return Some(Event::Other("info"));
    };
    let queue_id = is_queue_id(job).then_some(job);
    let verdict = |check, result| {
        Some(Event::Auth(AuthVerdict {
            queue_id,
            daemon: AuthDaemon::Opendmarc,
            check,
            result,
        }))
    };
    if let Some(rest) = text.strip_prefix("SPF(") {
        let (mode, rest) = rest.split_once_fast("): ")?;
        let check = match mode {
            "mailfrom" => AuthCheck::Spf,
            "helo" => AuthCheck::SpfHelo,
            _ => return None,
        };
        let (_domain, word) = rest.rsplit_once(' ')?;
        return verdict(check, AuthResult::from_word(word));
    }
    // `DOMAIN RESULT`: two words, the second one of OpenDMARC's four.
    if let Some((domain, word)) = text.split_once(' ')
        && !domain.is_empty()
        && matches!(word, "pass" | "fail" | "none" | "temperror")
    {
        return verdict(AuthCheck::Dmarc, AuthResult::from_word(word));
    }
    if text.ends_with(" failed") || text.contains_fast("(): ") {
        return Some(Event::Diagnostic(Level::Error));
    }
    Some(Event::Other("info"))
}

#[cfg(test)]
mod tests {
    use crate::event::{AuthCheck, AuthDaemon, AuthResult, AuthVerdict, Event};
    use crate::parsers::Daemon;
    use crate::parsers::testing::{assert_events, assert_others};

    fn dmarc(queue_id: Option<&str>, check: AuthCheck, result: AuthResult) -> Event<'_> {
        Event::Auth(AuthVerdict {
            queue_id,
            daemon: AuthDaemon::Opendmarc,
            check,
            result,
        })
    }

    /// `syslog(LOG_INFO, "%s: %s %s", jobid, fromdomain, aresult)` and
    /// `"%s: SPF(%s): %s %s"` of `mlfi_eom` (OpenDMARC 1.4.2).
    #[test]
    fn results() {
        use AuthCheck::{Dmarc, Spf, SpfHelo};
        use AuthResult::{Fail, Pass, Temperror};
        assert_events(
            Daemon::Opendmarc,
            &[
                (
                    // The real stack (fixtures/auth/mail.log).
                    "Dec  5 12:54:53 mail opendmarc[17120]: 913B799200C: dmarcreject.test fail",
                    dmarc(Some("913B799200C"), Dmarc, Fail),
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: example.org pass",
                    dmarc(Some("4C9F21A0B3"), Dmarc, Pass),
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: spoofed.example fail",
                    dmarc(Some("4C9F21A0B3"), Dmarc, Fail),
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: nodmarc.example none",
                    dmarc(Some("4C9F21A0B3"), Dmarc, AuthResult::None),
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: slow.example temperror",
                    dmarc(Some("4C9F21A0B3"), Dmarc, Temperror),
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: SPF(mailfrom): example.org pass",
                    dmarc(Some("4C9F21A0B3"), Spf, Pass),
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: SPF(helo): mail.example.org tempfail",
                    dmarc(Some("4C9F21A0B3"), SpfHelo, Temperror),
                ),
            ],
        );
    }

    #[test]
    fn chatter() {
        assert_others(
            Daemon::Opendmarc,
            &[
                (
                    "Dec  5 10:00:00 mx opendmarc[813]: OpenDMARC Filter v1.4.2 starting (args: -p local:/run/opendmarc/opendmarc.sock)",
                    "info",
                ),
                (
                    // The real stack (Debian bookworm, fixtures/auth/mail.log).
                    "Dec  5 12:54:49 mail opendmarc[17120]: additional trusted authentication services: mail.pflog.test",
                    "info",
                ),
                (
                    "Dec  5 12:54:59 mail opendmarc[17120]: OpenDMARC Filter v1.4.2 terminating with status 0, errno = 0",
                    "info",
                ),
                (
                    "Dec  5 10:00:01 mx opendmarc[813]: ignoring connection from localhost",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: ignoring mail from mail.example.org",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: ARC pass, policy pass > overriding DMARC fail",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: RFC5322 requirement error: missing From field; accepting",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendmarc[813]: 4C9F21A0B3: smfi_setreply() failed",
                    "error",
                ),
            ],
        );
    }
}
