//! TLS connections in (smtpd) and out (smtp, lmtp).

use super::Origin;
use super::family::{Capped, Counters, Registrar, label_set};
use crate::event::{Direction, Tls, Trust};

label_set! {
    struct TlsLabels { postfix_instance, service, direction, trust, protocol, cipher }
}

pub struct TlsMetrics {
    connections: Counters<TlsLabels>,
    protocol: Capped,
    cipher: Capped,
}

impl TlsMetrics {
    pub fn new(r: &mut Registrar<'_>) -> TlsMetrics {
        TlsMetrics {
            connections: r.counters(
                "postfix_tls_connections",
                "TLS connections established, inbound (smtpd) and outbound (smtp, lmtp)",
            ),
            protocol: r.cap("postfix_tls_connections_total", "protocol"),
            cipher: r.cap("postfix_tls_connections_total", "cipher"),
        }
    }

    pub fn established(&mut self, o: Origin, tls: &Tls<'_>) {
        let protocol = self.protocol.get(tls.protocol);
        let cipher = self.cipher.get(tls.cipher);
        self.connections
            .get(TlsLabels {
                postfix_instance: o.instance,
                service: o.service,
                direction: direction(tls.direction),
                trust: trust(tls.trust),
                protocol,
                cipher,
            })
            .inc();
    }
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

fn trust(t: Trust) -> &'static str {
    match t {
        Trust::Anonymous => "anonymous",
        Trust::Untrusted => "untrusted",
        Trust::Trusted => "trusted",
        Trust::Verified => "verified",
    }
}
