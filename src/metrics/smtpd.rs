//! smtpd sessions: connections, sessions that ended without QUIT, failed logins.

use super::Origin;
use super::family::{Capped, Counters, InstanceService, Registrar, label_set};

label_set! {
    struct LostLabels { postfix_instance, service, after }
}
label_set! {
    struct SaslLabels { postfix_instance, service, method }
}

pub struct Smtpd {
    connections: Counters<InstanceService>,
    lost_connections: Counters<LostLabels>,
    sasl_failures: Counters<SaslLabels>,
    sasl_method: Capped,
}

impl Smtpd {
    pub fn new(r: &mut Registrar<'_>) -> Smtpd {
        Smtpd {
            connections: r.counters(
                "postfix_smtpd_connections",
                "Connections accepted by smtpd (connect from)",
            ),
            lost_connections: r.counters(
                "postfix_smtpd_lost_connections",
                "Sessions that ended without QUIT, by the last command (lost connection / timeout / too many errors after X)",
            ),
            sasl_failures: r.counters(
                "postfix_smtpd_sasl_auth_failures",
                "SASL authentication failures",
            ),
            sasl_method: r.cap("postfix_smtpd_sasl_auth_failures_total", "method"),
        }
    }

    pub fn connect(&mut self, o: Origin) {
        self.connections.get(o.labels()).inc();
    }

    /// `lost connection after X`, and also `timeout after X` and `too many errors after X`,
    /// which end a session as abruptly.
    pub fn lost_connection(&mut self, o: Origin, after: &str) {
        self.lost_connections
            .get(LostLabels {
                postfix_instance: o.instance,
                service: o.service,
                after: lost_after(after).unwrap_or("other"),
            })
            .inc();
    }

    pub fn sasl_failure(&mut self, o: Origin, method: &str) {
        let method = self.sasl_method.get(method);
        self.sasl_failures
            .get(SaslLabels {
                postfix_instance: o.instance,
                service: o.service,
                method,
            })
            .inc();
    }
}

/// The bounded set of `after` values of lost connections.
fn lost_after(after: &str) -> Option<&'static str> {
    Some(match after {
        "CONNECT" => "CONNECT",
        "EHLO" => "EHLO",
        "HELO" => "HELO",
        "STARTTLS" => "STARTTLS",
        "AUTH" => "AUTH",
        "MAIL" => "MAIL",
        "RCPT" => "RCPT",
        "DATA" => "DATA",
        "BDAT" => "BDAT",
        "END-OF-MESSAGE" => "END-OF-MESSAGE",
        "RSET" => "RSET",
        "QUIT" => "QUIT",
        "NOOP" => "NOOP",
        "VRFY" => "VRFY",
        "ETRN" => "ETRN",
        "UNKNOWN" => "UNKNOWN",
        _ => {
            // `DATA (0 bytes)` and `AUTH (SASL authentication failed)` carry details.
            let word = after.split([' ', '(']).next().unwrap_or("");
            if word.len() == after.len() {
                return None;
            }
            return lost_after(word);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_after_is_bounded() {
        assert_eq!(lost_after("DATA (0 bytes)"), Some("DATA"));
        assert_eq!(
            lost_after("AUTH (SASL authentication failed)"),
            Some("AUTH")
        );
        assert_eq!(lost_after("attacker-text"), None);
    }
}
