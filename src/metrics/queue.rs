//! Messages entering and leaving the queue: new queue IDs, sizes and recipient counts as qmgr
//! reports them, non-delivery notifications, expiry.

use super::Origin;
use super::family::{Counters, Histograms, Instance, InstanceService, Registrar};
use super::histogram::Histogram;

const SIZE_BUCKETS: &[f64] = &[
    1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0, 67108864.0,
];
const RECIPIENT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0, 1000.0];

fn size_histogram() -> Histogram {
    Histogram::new(SIZE_BUCKETS.iter().copied())
}
fn recipient_histogram() -> Histogram {
    Histogram::new(RECIPIENT_BUCKETS.iter().copied())
}

pub struct Queue {
    received: Counters<InstanceService>,
    size: Histograms<Instance>,
    recipients: Histograms<Instance>,
    bounces: Counters<Instance>,
    expired: Counters<Instance>,
}

impl Queue {
    pub fn new(r: &mut Registrar<'_>) -> Queue {
        Queue {
            received: r.counters(
                "postfix_messages_received",
                "New queue IDs from smtpd client= or pickup",
            ),
            size: r.histograms(
                "postfix_message_size_bytes",
                "Message sizes as qmgr reports them (size=)",
                size_histogram,
            ),
            recipients: r.histograms(
                "postfix_message_recipients",
                "Recipients per message as qmgr reports them (nrcpt=)",
                recipient_histogram,
            ),
            bounces: r.counters(
                "postfix_bounces",
                "Sender non-delivery notifications created by bounce",
            ),
            expired: r.counters(
                "postfix_qmgr_expired",
                "Messages returned to sender after the maximal queue lifetime",
            ),
        }
    }

    /// smtpd `client=` or pickup: a new queue ID.
    pub fn received(&mut self, o: Origin) {
        self.received.get(o.labels()).inc();
    }

    /// qmgr `from=<...>, size=N, nrcpt=K (queue active)`.
    pub fn active(&mut self, o: Origin, size: u64, nrcpt: u32) {
        let i = o.instance_labels();
        self.size.get(i).observe(size as f64);
        self.recipients.get(i).observe(f64::from(nrcpt));
    }

    /// A sender non-delivery notification.
    pub fn bounce(&mut self, o: Origin) {
        self.bounces.get(o.instance_labels()).inc();
    }

    pub fn expired(&mut self, o: Origin) {
        self.expired.get(o.instance_labels()).inc();
    }
}
