//! postscreen's connections and verdicts.

use super::Origin;
use super::family::{Counters, Registrar, label_set};

label_set! {
    struct PostscreenLabels { postfix_instance, service, action }
}

/// What postscreen did with a client (the `action` label).
#[derive(Debug, Clone, Copy)]
pub enum PostscreenAction {
    Connect,
    PassNew,
    PassOld,
    Dnsbl,
    Pregreet,
    Hangup,
    Allowlisted,
    Denylisted,
}

pub struct Postscreen {
    actions: Counters<PostscreenLabels>,
}

impl Postscreen {
    pub fn new(r: &mut Registrar<'_>) -> Postscreen {
        Postscreen {
            actions: r.counters(
                "postfix_postscreen_actions",
                "postscreen connections and verdicts (connect, pass_new, pass_old, dnsbl, pregreet, hangup, allowlisted, denylisted)",
            ),
        }
    }

    pub fn action(&mut self, o: Origin, action: PostscreenAction) {
        let action = match action {
            PostscreenAction::Connect => "connect",
            PostscreenAction::PassNew => "pass_new",
            PostscreenAction::PassOld => "pass_old",
            PostscreenAction::Dnsbl => "dnsbl",
            PostscreenAction::Pregreet => "pregreet",
            PostscreenAction::Hangup => "hangup",
            PostscreenAction::Allowlisted => "allowlisted",
            PostscreenAction::Denylisted => "denylisted",
        };
        self.actions
            .get(PostscreenLabels {
                postfix_instance: o.instance,
                service: o.service,
                action,
            })
            .inc();
    }
}
