//! Mail authentication: SPF, DKIM, DMARC and ARC results, DKIM signatures, DMARC
//! dispositions, of policyd-spf, opendkim, opendmarc and rspamd.
//!
//! One module for the four daemons: they report into the same families, told apart by the
//! `daemon` label, so each family is declared, registered and labelled in one place.

use super::family::{Capped, Counters, Registrar, label_set};
use crate::event::{AuthCheck, AuthDaemon, AuthResult, AuthVerdict, DmarcDisposition, RspamdAuth};

label_set! {
    struct ResultLabels { daemon, check, result }
}
label_set! {
    struct SignatureLabels { daemon, domain }
}
label_set! {
    struct DispositionLabels { daemon, disposition }
}

/// Longest domain name (RFC 1035): a signing domain is lower-cased in a buffer this long.
const MAX_DOMAIN: usize = 255;

pub struct Auth {
    results: Counters<ResultLabels>,
    signatures: Counters<SignatureLabels>,
    dispositions: Counters<DispositionLabels>,
    domain: Capped,
}

impl Auth {
    pub fn new(r: &mut Registrar<'_>) -> Auth {
        Auth {
            results: r.counters(
                "mail_auth_results",
                "SPF, DKIM, DMARC and ARC verification results by daemon, check and result",
            ),
            signatures: r.counters(
                "mail_dkim_signatures",
                "DKIM signatures added, by daemon and signing domain",
            ),
            dispositions: r.counters(
                "mail_dmarc_dispositions",
                "DMARC policy dispositions by daemon (what the sender's policy asks for)",
            ),
            domain: r.cap("mail_dkim_signatures_total", "domain"),
        }
    }

    /// A result line of policyd-spf, opendkim or opendmarc.
    pub fn verdict(&mut self, v: &AuthVerdict<'_>) {
        self.result(v.daemon, v.check, v.result);
    }

    /// The authentication symbols of one rspamd scan: one result per check it names.
    pub fn rspamd(&mut self, a: &RspamdAuth) {
        for (check, result) in [
            (AuthCheck::Spf, a.spf),
            (AuthCheck::Dkim, a.dkim),
            (AuthCheck::Dmarc, a.dmarc),
            (AuthCheck::Arc, a.arc),
        ] {
            if let Some(result) = result {
                self.result(AuthDaemon::Rspamd, check, result);
            }
        }
        if let Some(d) = a.dmarc_policy {
            self.dispositions
                .get(DispositionLabels {
                    daemon: daemon_label(AuthDaemon::Rspamd),
                    disposition: disposition_label(d),
                })
                .inc();
        }
    }

    /// opendkim's `DKIM-Signature field added (s=..., d=DOMAIN)`.
    pub fn signed(&mut self, daemon: AuthDaemon, domain: &str) {
        let mut buf = [0u8; MAX_DOMAIN];
        let domain = if domain.bytes().any(|b| b.is_ascii_uppercase()) && domain.len() <= MAX_DOMAIN
        {
            let lower = &mut buf[..domain.len()];
            lower.copy_from_slice(domain.as_bytes());
            lower.make_ascii_lowercase();
            // ASCII case changes keep UTF-8 valid.
            std::str::from_utf8(lower).unwrap_or(domain)
        } else {
            domain
        };
        let domain = self.domain.get(domain);
        self.signatures
            .get(SignatureLabels {
                daemon: daemon_label(daemon),
                domain,
            })
            .inc();
    }

    fn result(&mut self, daemon: AuthDaemon, check: AuthCheck, result: AuthResult) {
        self.results
            .get(ResultLabels {
                daemon: daemon_label(daemon),
                check: check_label(check),
                result: result_label(result),
            })
            .inc();
    }
}

fn daemon_label(d: AuthDaemon) -> &'static str {
    match d {
        AuthDaemon::PolicydSpf => "policyd-spf",
        AuthDaemon::Opendkim => "opendkim",
        AuthDaemon::Opendmarc => "opendmarc",
        AuthDaemon::Rspamd => "rspamd",
    }
}

/// The `check` label, here and on `postfix_message_auth_outcomes_total`.
pub fn check_label(c: AuthCheck) -> &'static str {
    match c {
        AuthCheck::Spf => "spf",
        AuthCheck::SpfHelo => "spf_helo",
        AuthCheck::Dkim => "dkim",
        AuthCheck::Dmarc => "dmarc",
        AuthCheck::Arc => "arc",
    }
}

/// The `result` label, here and on `postfix_message_auth_outcomes_total`.
pub fn result_label(r: AuthResult) -> &'static str {
    match r {
        AuthResult::Pass => "pass",
        AuthResult::Fail => "fail",
        AuthResult::Softfail => "softfail",
        AuthResult::Neutral => "neutral",
        AuthResult::None => "none",
        AuthResult::Temperror => "temperror",
        AuthResult::Permerror => "permerror",
        AuthResult::Policy => "policy",
        AuthResult::Other => "other",
    }
}

fn disposition_label(d: DmarcDisposition) -> &'static str {
    match d {
        DmarcDisposition::None => "none",
        DmarcDisposition::Quarantine => "quarantine",
        DmarcDisposition::Reject => "reject",
    }
}
