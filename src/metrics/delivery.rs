//! Delivery attempts of the delivery agents (smtp, lmtp, local, virtual, pipe, ...).

use super::Origin;
use super::family::{Capped, Counters, Histograms, Registrar, label_set, latency_histogram};
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
    delay: Histograms<StatusLabels>,
    stage_delay: Histograms<StageLabels>,
    status: Capped,
}

impl Deliveries {
    pub fn new(r: &mut Registrar<'_>) -> Deliveries {
        Deliveries {
            deliveries: r.counters(
                "postfix_deliveries",
                "Delivery attempts by delivery agent and status",
            ),
            delay: r.histograms(
                "postfix_delivery_delay_seconds",
                "Total delay of delivery attempts (delay=)",
                latency_histogram,
            ),
            stage_delay: r.histograms(
                "postfix_delivery_stage_delay_seconds",
                "Delays of successful deliveries by stage (delays=a/b/c/d)",
                latency_histogram,
            ),
            status: r.cap("postfix_deliveries_total", "status"),
        }
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
            self.delay.get(labels).observe(delay);
        }
        if let (Some(delays), "sent") = (d.delays, d.status) {
            for (stage, v) in STAGES.into_iter().zip(delays) {
                self.stage_delay
                    .get(StageLabels {
                        postfix_instance: o.instance,
                        service: o.service,
                        stage,
                    })
                    .observe(v);
            }
        }
    }
}
