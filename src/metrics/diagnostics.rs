//! Diagnostics: `warning:`, `error:`, `fatal:` and `panic:` lines.

use super::Origin;
use super::family::{Counters, Registrar, label_set};
use crate::event::Level;

label_set! {
    struct LevelLabels { postfix_instance, service, level }
}

pub struct Diagnostics {
    log_messages: Counters<LevelLabels>,
}

impl Diagnostics {
    pub fn new(r: &mut Registrar<'_>) -> Diagnostics {
        Diagnostics {
            log_messages: r.counters(
                "postfix_log_messages",
                "Diagnostics written by Postfix programs (warning, error, fatal, panic)",
            ),
        }
    }

    pub fn diagnostic(&mut self, o: Origin, level: Level) {
        let level = match level {
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
            Level::Panic => "panic",
        };
        self.log_messages
            .get(LevelLabels {
                postfix_instance: o.instance,
                service: o.service,
                level,
            })
            .inc();
    }
}
