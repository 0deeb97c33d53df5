//! The call record of one gateway `tools/call`: a [`Recorder`] is made when
//! the call arrives, learns the tool and the outcome as the call goes, and
//! hands the record to the [`CallLog`] when it is dropped, so every exit
//! records one, a client's cancellation (the call's future dropped)
//! included. Never the arguments or the result.

use std::time::Instant;

use crate::registry::audit::{CallOutcome, ToolCall};
use crate::registry::call_log::CallLog;
use crate::registry::packs::Pack;
use crate::registry::{Caller, new_id, now_micros};

/// A call record being filled in.
pub struct Recorder<'a> {
    log: &'a CallLog,
    /// `Some` until the recorder is dropped.
    call: Option<ToolCall>,
    started: Instant,
}

impl<'a> Recorder<'a> {
    /// Starts the record of a call of `called_name` through `pack`; until an
    /// outcome is set, it says the call was cancelled.
    pub fn start(log: &'a CallLog, caller: &Caller, pack: &Pack, called_name: &str) -> Self {
        Self {
            log,
            call: Some(ToolCall {
                id: new_id("call"),
                organization_id: pack.organization_id.clone(),
                at: now_micros(),
                key_id: caller.actor().to_owned(),
                pack_id: pack.id.clone(),
                pack_version: pack.version,
                server_id: String::new(),
                tool_name: String::new(),
                called_name: crate::gateway::clip(called_name, 200),
                outcome: CallOutcome::Error,
                detail: "cancelled".into(),
                duration_micros: 0,
                request_id: crate::telemetry::current_request_id(),
            }),
            started: Instant::now(),
        }
    }

    /// The member server and upstream tool the name resolved to.
    pub fn tool(&mut self, server_id: &str, tool_name: &str) {
        if let Some(call) = &mut self.call {
            server_id.clone_into(&mut call.server_id);
            tool_name.clone_into(&mut call.tool_name);
        }
    }

    /// How the call ended: `detail` is the error kind or refusal reason.
    pub fn outcome(&mut self, outcome: CallOutcome, detail: &str) {
        if let Some(call) = &mut self.call {
            call.outcome = outcome;
            detail.clone_into(&mut call.detail);
        }
    }
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        if let Some(mut call) = self.call.take() {
            let micros = self.started.elapsed().as_micros();
            call.duration_micros = i64::try_from(micros).unwrap_or(i64::MAX);
            self.log.record(call);
        }
    }
}
