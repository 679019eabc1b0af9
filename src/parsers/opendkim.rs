//! OpenDKIM (`opendkim[PID]: JOBID: text`). The job ID is the MTA's: under Postfix, the queue
//! ID (`(unknown-jobid)` when the MTA gave none). Lines of `opendkim.c`:
//!
//! - verifying: `DKIM verification successful` (with `SyslogSuccess yes`), `bad signature data`,
//!   `no signature data` (with `LogWhy yes`), `key retrieval failed (s=S, d=D): '...' record not
//!   found` (no key: a permerror) or `...: '...' query timed out` (a temperror), `key revoked
//!   (s=S, d=D)`, `syntax error: ...`, `signature processing failed: ...`;
//!   `s=S d=D SSL error:...` is the detail of the `bad signature data` that follows it, and
//!   `LogResults yes` adds `signature=... domain=... result="..."` details: read, not counted.
//! - signing: `DKIM-Signature field added (s=selector, d=example.com)`.
//! - the rest is the filter's own progress (`not internal`, `not authenticated`, `no signing
//!   table match`, the start banner) and its errors.

use crate::event::{AuthCheck, AuthDaemon, AuthResult, AuthVerdict, Event, Level};
use crate::parsers::common::is_queue_id;
use crate::scan::Scan;

pub fn parse(message: &str) -> Option<Event<'_>> {
    let Some((job, text)) = job_and_text(message) else {
        // `OpenDKIM Filter v2.11.0 starting (args: ...)`, `... terminating`, config notes.
        return Some(Event::Other("info"));
    };
    let queue_id = is_queue_id(job).then_some(job);
    let result = |result| {
        Some(Event::Auth(AuthVerdict {
            queue_id,
            daemon: AuthDaemon::Opendkim,
            check: AuthCheck::Dkim,
            result,
        }))
    };
    if let Some(rest) = text.strip_prefix("DKIM-Signature field added (s=") {
        let (_selector, rest) = rest.split_once_fast(", d=")?;
        let domain = rest.strip_suffix(')')?;
        return Some(Event::DkimSigned { queue_id, domain });
    }
    match text {
        "DKIM verification successful" => return result(AuthResult::Pass),
        "bad signature data" => return result(AuthResult::Fail),
        "no signature data" => return result(AuthResult::None),
        _ => {}
    }
    if text.starts_with("key retrieval failed") {
        // DKIM_STAT_NOKEY (no key published) is logged with libopendkim's `'...' record not
        // found`; DKIM_STAT_KEYFAIL (the query failed) with any other DNS error.
        return result(if text.ends_with(" record not found") {
            AuthResult::Permerror
        } else {
            AuthResult::Temperror
        });
    }
    if text.starts_with("key revoked")
        || text.starts_with("syntax error: ")
        || text.starts_with("signature processing failed")
    {
        return result(AuthResult::Permerror);
    }
    if (text.starts_with("s=") && text.contains_fast(" SSL ")) || text.starts_with("SSL ") {
        return Some(Event::Other("ssl_detail"));
    }
    if text.starts_with("signature=") {
        return Some(Event::Other("results_detail"));
    }
    if text.starts_with("key data is not secure") {
        // `KEYNAME: key data is not secure: /tmp can be read or written by other users`.
        return Some(Event::Diagnostic(Level::Warning));
    }
    if text.contains_fast("internal error")
        || text.starts_with("resource unavailable")
        || text.starts_with("signature generation error")
        || text.starts_with("error loading key")
        || text.ends_with(" failed")
    {
        return Some(Event::Diagnostic(Level::Error));
    }
    Some(Event::Other("info"))
}

/// `JOBID: text`: the job ID is one word (a queue ID, `(unknown-jobid)`); lines of the filter
/// itself (`OpenDKIM Filter v2.11.0 starting`) have none.
fn job_and_text(message: &str) -> Option<(&str, &str)> {
    let (job, text) = message.split_once_fast(": ")?;
    (!job.is_empty() && job.len() <= 64 && !job.contains_fast(" ")).then_some((job, text))
}

#[cfg(test)]
mod tests {
    use crate::event::{AuthCheck, AuthDaemon, AuthResult, AuthVerdict, Event};
    use crate::parsers::Daemon;
    use crate::parsers::testing::{assert_events, assert_others};

    fn dkim(queue_id: Option<&str>, result: AuthResult) -> Event<'_> {
        Event::Auth(AuthVerdict {
            queue_id,
            daemon: AuthDaemon::Opendkim,
            check: AuthCheck::Dkim,
            result,
        })
    }

    /// The messages of `opendkim/opendkim.c` (OpenDKIM 2.11: `dkimf_libstatus`,
    /// `mlfi_eom`, `dkimf_log_ssl_errors`), with libopendkim's DNS errors (`dkim-keys.c`).
    #[test]
    fn results_and_signatures() {
        use AuthResult::{Fail, Pass, Permerror, Temperror};
        assert_events(
            Daemon::Opendkim,
            &[
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: DKIM verification successful",
                    dkim(Some("4C9F21A0B3"), Pass),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: bad signature data",
                    dkim(Some("4C9F21A0B3"), Fail),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: no signature data",
                    dkim(Some("4C9F21A0B3"), AuthResult::None),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: key retrieval failed (s=mail, d=nokey.example): 'mail._domainkey.nokey.example' record not found",
                    dkim(Some("4C9F21A0B3"), Permerror),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: key retrieval failed (s=mail, d=slow.example): 'mail._domainkey.slow.example' query timed out",
                    dkim(Some("4C9F21A0B3"), Temperror),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: key revoked (s=old, d=example.org)",
                    dkim(Some("4C9F21A0B3"), Permerror),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: syntax error: signature missing required tag",
                    dkim(Some("4C9F21A0B3"), Permerror),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: (unknown-jobid): DKIM verification successful",
                    dkim(None, Pass),
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: DKIM-Signature field added (s=mail, d=vmail.test)",
                    Event::DkimSigned {
                        queue_id: Some("4C9F21A0B3"),
                        domain: "vmail.test",
                    },
                ),
            ],
        );
    }

    #[test]
    fn chatter() {
        assert_others(
            Daemon::Opendkim,
            &[
                (
                    "Dec  5 10:00:00 mx opendkim[812]: OpenDKIM Filter v2.11.0 starting (args: -P /run/opendkim/opendkim.pid -p local:/run/opendkim/opendkim.sock)",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: mail.example.org [192.0.2.10] not internal",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: not authenticated",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: no signing table match for 'alice@example.org'",
                    "info",
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: s=mail d=example.org SSL error:04091068:rsa routines:int_rsa_verify:bad signature",
                    "ssl_detail",
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: signature=kR6b4Hk0 domain=example.org selector=mail result=\"signature verification failed\"",
                    "results_detail",
                ),
                (
                    // The real stack (fixtures/auth/mail.log): the job is the key's name.
                    "Dec  5 12:54:54 mail opendkim[17087]: e2e._domainkey.vmail.test: key data is not secure: /tmp can be read or written by other users",
                    "warning",
                ),
                (
                    "Dec  5 12:54:49 mail opendkim[17087]: OpenDKIM Filter v2.11.0 terminating with status 0, errno = 0",
                    "info",
                ),
                (
                    "Dec  5 12:54:51 mail opendkim[17087]: BC35199233A: s=e2e d=pass.test a=rsa-sha1 SSL ",
                    "ssl_detail",
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: error loading key 'mail'",
                    "error",
                ),
                (
                    "Dec  5 10:00:02 mx opendkim[812]: 4C9F21A0B3: signature generation error: key too short",
                    "error",
                ),
            ],
        );
    }
}
