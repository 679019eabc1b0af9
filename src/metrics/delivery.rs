//! Delivery attempts of the delivery agents (smtp, lmtp, local, virtual, pipe, ...).

use super::Origin;
use super::family::{Capped, Counters, Durations, Registrar, label_set};
use crate::event::Delivery;

label_set! {
    struct StatusLabels { postfix_instance, service, status }
}
label_set! {
    struct StageLabels { postfix_instance, service, stage }
}

/// The parts of `delays=a/b/c/d`, in order.
const STAGES: [&str; 4] = ["before_qmgr", "in_qmgr", "conn_setup", "transmission"];

pub struct Deliveries {
    deliveries: Counters<StatusLabels>,
    delay: Durations<StatusLabels>,
    stage_delay: Durations<StageLabels>,
    status: Capped,
}

impl Deliveries {
    pub fn new(r: &mut Registrar<'_>) -> Deliveries {
        Deliveries {
            deliveries: r.counters(
                "postfix_deliveries",
                "Delivery attempts by delivery agent and status",
            ),
            delay: r.durations(
                "postfix_delivery_delay_seconds",
                "Total delay of delivery attempts (delay=)",
            ),
            stage_delay: r.durations(
                "postfix_delivery_stage_delay_seconds",
                "Delays of successful deliveries by stage (delays=a/b/c/d)",
            ),
            status: r.cap("postfix_deliveries_total", "status"),
        }
    }

    /// The extremes of `postfix_delivery_delay_seconds{status="sent"}`, series by series, with
    /// their service.
    pub fn sent_delay_extremes(&self, mut f: impl FnMut(&str, super::Range)) {
        self.delay.each(|labels, h| {
            if labels.status == "sent"
                && let Some(range) = h.extremes()
            {
                f(labels.service, range);
            }
        });
    }

    pub fn attempt(&mut self, o: Origin, d: &Delivery<'_>) {
        let status = self.status.get(d.status);
        let labels = StatusLabels {
            postfix_instance: o.instance,
            service: o.service,
            status,
        };
        self.deliveries.get(labels).inc();
        if let Some(delay) = d.delay {
            self.delay.observe(labels, delay);
        }
        if let (Some(delays), "sent") = (d.delays, d.status) {
            for (stage, v) in STAGES.into_iter().zip(delays) {
                self.stage_delay.observe(
                    StageLabels {
                        postfix_instance: o.instance,
                        service: o.service,
                        stage,
                    },
                    v,
                );
            }
        }
    }
}
