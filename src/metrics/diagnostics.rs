//! Diagnostics: lines written at the `warning:`, `error:`, `fatal:` and `panic:` levels,
//! whatever else they say.

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
                "Lines written at a diagnostic level (warning, error, fatal, panic) by Postfix programs and the other daemons pflog reads, whatever else they say",
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
