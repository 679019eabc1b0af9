//! Rejects of any Postfix service, and milter verdicts.

use super::Origin;
use super::family::{Capped, Counters, Registrar, label_set};
use crate::event::{Reject, RejectKind};

label_set! {
    struct RejectLabels { postfix_instance, service, stage, code, reason }
}
label_set! {
    struct MilterLabels { postfix_instance, service, stage, action }
}

pub struct Rejects {
    rejects: Counters<RejectLabels>,
    milter_actions: Counters<MilterLabels>,
    stage: Capped,
    code: Capped,
    milter_stage: Capped,
}

impl Rejects {
    pub fn new(r: &mut Registrar<'_>) -> Rejects {
        Rejects {
            rejects: r.counters(
                "postfix_rejects",
                "Reject lines of any Postfix service, by SMTP stage, reply code and reason class",
            ),
            milter_actions: r.counters(
                "postfix_milter_actions",
                "Milter verdicts (milter-reject, milter-discard, milter-hold)",
            ),
            stage: r.cap("postfix_rejects_total", "stage"),
            code: r.cap("postfix_rejects_total", "code"),
            milter_stage: r.cap("postfix_milter_actions_total", "stage"),
        }
    }

    pub fn reject(&mut self, o: Origin, r: &Reject<'_>) {
        // Every kind interns its stage (not only the counted ones): the cap's order of first
        // appearance decides which values become `other`.
        let stage = self.stage.get(r.stage);
        let counted = match r.kind {
            RejectKind::Reject | RejectKind::MilterReject => true,
            RejectKind::RejectWarning
            | RejectKind::MilterDiscard
            | RejectKind::MilterHold
            | RejectKind::Discard
            | RejectKind::Hold
            | RejectKind::Warning
            | RejectKind::OtherAction => false,
        };
        if counted {
            let code = if r.code.is_empty() {
                "other"
            } else {
                self.code.get(r.code)
            };
            self.rejects
                .get(RejectLabels {
                    postfix_instance: o.instance,
                    service: o.service,
                    stage,
                    code,
                    reason: r.reason.name(),
                })
                .inc();
        }
        let milter_action = match r.kind {
            RejectKind::MilterReject if r.code.starts_with('4') => "tempfail",
            RejectKind::MilterReject => "reject",
            RejectKind::MilterDiscard => "discard",
            RejectKind::MilterHold => "hold",
            RejectKind::Reject
            | RejectKind::RejectWarning
            | RejectKind::Discard
            | RejectKind::Hold
            | RejectKind::Warning
            | RejectKind::OtherAction => return,
        };
        let stage = self.milter_stage.get(r.stage);
        self.milter_actions
            .get(MilterLabels {
                postfix_instance: o.instance,
                service: o.service,
                stage,
                action: milter_action,
            })
            .inc();
    }
}
