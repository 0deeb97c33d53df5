//! The one mapping from domain errors to `tonic::Status`.
//!
//! Every status carries `google.rpc.ErrorInfo` (reason in UPPER_SNAKE_CASE,
//! domain `mcpregistry`) and `google.rpc.RequestInfo` with the id of the
//! request, which the logs carry too. INVALID_ARGUMENT adds a `BadRequest` with
//! every field violation; PLAN_LIMIT_EXCEEDED adds a `QuotaFailure`.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::{Error, UpstreamFailure};

/// The `domain` of every `ErrorInfo` this service sends.
pub const ERROR_DOMAIN: &str = "mcpregistry";

/// The request id task-local lives in [`crate::telemetry`], where the domain
/// (audit events) reads it too; re-exported for the adapters.
pub use crate::telemetry::current_request_id;

/// Longest message, field name or description an error carries. Errors
/// travel in HTTP/2 headers (`grpc-message`, `grpc-status-details-bin`), and
/// clients refuse header blocks past 16 KiB or so: an error that quoted a
/// huge input would reach the client as a reset stream instead.
const MAX_ERROR_TEXT: usize = 1024;
/// Most field violations one BadRequest lists, and the longest field path
/// and description of each: the whole detail stays far below 16 KiB.
const MAX_VIOLATIONS: usize = 16;
const MAX_FIELD_TEXT: usize = 128;
const MAX_DESCRIPTION_TEXT: usize = 256;

/// Cuts `text` to [`MAX_ERROR_TEXT`] bytes (on a character boundary), marking the cut.
pub fn clip(text: String) -> String {
    clip_to(text, MAX_ERROR_TEXT)
}

fn clip_to(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// Builds a status with `ErrorInfo` and `RequestInfo` plus whatever `extra` adds.
pub fn status_with(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    extra: impl FnOnce(&mut ErrorDetails),
) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    details.set_request_info(current_request_id(), "");
    extra(&mut details);
    Status::with_error_details(code, clip(message.into()), details)
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        // Exhaustive on purpose: a new variant must decide its status here.
        match err {
            Error::InvalidArgument(violations) => {
                let message = err_message(&violations);
                status_with(Code::InvalidArgument, "INVALID_ARGUMENT", message, |d| {
                    for v in violations.into_iter().take(MAX_VIOLATIONS) {
                        d.add_bad_request_violation(
                            clip_to(v.field, MAX_FIELD_TEXT),
                            clip_to(v.description, MAX_DESCRIPTION_TEXT),
                        );
                    }
                })
            }
            Error::Unauthenticated(message) => {
                status_with(Code::Unauthenticated, "UNAUTHENTICATED", message, |_| {})
            }
            Error::PermissionDenied(message) => {
                status_with(Code::PermissionDenied, "PERMISSION_DENIED", message, |_| {})
            }
            err @ Error::NotFound { .. } => {
                status_with(Code::NotFound, "NOT_FOUND", err.to_string(), |_| {})
            }
            err @ Error::AlreadyExists { .. } => status_with(
                Code::AlreadyExists,
                "ALREADY_EXISTS",
                err.to_string(),
                |_| {},
            ),
            err @ Error::EtagMismatch { .. } => {
                status_with(Code::Aborted, "ETAG_MISMATCH", err.to_string(), |_| {})
            }
            Error::PlanLimitExceeded {
                subject,
                description,
            } => status_with(
                Code::FailedPrecondition,
                "PLAN_LIMIT_EXCEEDED",
                description.clone(),
                |d| {
                    d.add_quota_failure_violation(subject, description);
                },
            ),
            Error::InUse(message) => {
                status_with(Code::FailedPrecondition, "IN_USE", message, |_| {})
            }
            Error::FailedPrecondition(message) => status_with(
                Code::FailedPrecondition,
                "FAILED_PRECONDITION",
                message,
                |_| {},
            ),
            Error::CredentialsUnusable(message) => status_with(
                Code::FailedPrecondition,
                "CREDENTIALS_UNUSABLE",
                message,
                |_| {},
            ),
            Error::Upstream {
                failure,
                message,
                sync_run_id,
            } => {
                let mut details = ErrorDetails::new();
                details.set_error_info(
                    failure.reason(),
                    ERROR_DOMAIN,
                    HashMap::from([("sync_run_id".to_owned(), sync_run_id)]),
                );
                details.set_request_info(current_request_id(), "");
                Status::with_error_details(upstream_code(failure), clip(message), details)
            }
            Error::OAuth { failure, message } => {
                // The authorization server refusing a registration or a
                // code is not an outage: a person must act.
                let code = match failure {
                    UpstreamFailure::AuthFailed => Code::FailedPrecondition,
                    other => upstream_code(other),
                };
                status_with(code, failure.reason(), message, |_| {})
            }
            Error::RateLimited { retry_after } => {
                let message = err.to_string();
                status_with(Code::ResourceExhausted, "RATE_LIMITED", message, |d| {
                    d.set_retry_info(Some(retry_after));
                })
            }
            Error::TooManyWatchers(message) => status_with(
                Code::ResourceExhausted,
                "TOO_MANY_WATCHERS",
                message,
                |_| {},
            ),
            Error::ShuttingDown(message) => {
                status_with(Code::Unavailable, "SHUTTING_DOWN", message, |_| {})
            }
            Error::StorageUnavailable(cause) => {
                tracing::error!(error = format!("{cause:#}"), "storage unavailable");
                status_with(
                    Code::Unavailable,
                    "STORAGE_UNAVAILABLE",
                    "the database is unavailable, retry later",
                    |_| {},
                )
            }
            Error::Internal(cause) => {
                // The cause chain goes to the log only: it may name tables,
                // paths or hosts that are none of the caller's business.
                tracing::error!(error = format!("{cause:#}"), "internal error");
                status_with(
                    Code::Internal,
                    "INTERNAL",
                    "internal error; the service logs hold the details under the request id",
                    |_| {},
                )
            }
        }
    }
}

/// The code of a sync's upstream failure: the server cannot be used now
/// (UNAVAILABLE), except when a person must act first: an OAuth connection to
/// make (again).
fn upstream_code(failure: UpstreamFailure) -> Code {
    match failure {
        UpstreamFailure::Unreachable | UpstreamFailure::ProtocolError => Code::Unavailable,
        UpstreamFailure::AuthRequired => Code::FailedPrecondition,
        UpstreamFailure::AuthFailed => Code::Unavailable,
    }
}

fn err_message(violations: &[crate::error::FieldViolation]) -> String {
    match violations {
        [one] => format!("invalid {}: {}", one.field, one.description),
        many => format!("{} invalid fields; see the BadRequest detail", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldViolation;

    #[test]
    fn errors_that_quote_huge_inputs_stay_small() {
        let huge = "é".repeat(20_000);
        let status = Status::from(Error::NotFound {
            kind: "tool",
            id: huge.clone(),
        });
        assert!(status.message().len() < 1200, "{}", status.message().len());
        let status = Status::from(Error::InvalidArgument(
            (0..100)
                .map(|i| FieldViolation::new(format!("f{i}{huge}"), huge.clone()))
                .collect(),
        ));
        assert!(status.message().len() < 1200);
        assert!(
            status.details().len() < 10_000,
            "{}",
            status.details().len()
        );
    }

    #[tokio::test]
    async fn invalid_argument_lists_every_violation_with_the_request_id() {
        let scope = crate::telemetry::RequestScope {
            id: "req-1".to_owned(),
            rpc: "Test",
        };
        let status = crate::telemetry::REQUEST
            .scope(scope, async {
                Status::from(Error::InvalidArgument(vec![
                    FieldViolation::new("a", "is required"),
                    FieldViolation::new("b", "is too long"),
                ]))
            })
            .await;
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("bad request");
        assert_eq!(bad.field_violations.len(), 2);
        assert_eq!(bad.field_violations[1].field, "b");
        let info = details.error_info().expect("error info");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("INVALID_ARGUMENT", "mcpregistry")
        );
        assert_eq!(
            details.request_info().expect("request info").request_id,
            "req-1"
        );
    }

    #[test]
    fn every_reason_sent_is_documented_in_error_reason() {
        let errors = vec![
            Error::invalid("f", "bad"),
            Error::Unauthenticated("no"),
            Error::PermissionDenied("no".into()),
            Error::NotFound {
                kind: "x",
                id: "1".into(),
            },
            Error::AlreadyExists {
                kind: "x",
                name: "n".into(),
            },
            Error::EtagMismatch {
                kind: "x",
                id: "1".into(),
            },
            Error::PlanLimitExceeded {
                subject: "packs".into(),
                description: "d".into(),
            },
            Error::InUse("m".into()),
            Error::FailedPrecondition("m".into()),
            Error::CredentialsUnusable("m".into()),
            Error::Upstream {
                failure: UpstreamFailure::Unreachable,
                message: "m".into(),
                sync_run_id: "sync_1".into(),
            },
            Error::Upstream {
                failure: UpstreamFailure::ProtocolError,
                message: "m".into(),
                sync_run_id: "sync_1".into(),
            },
            Error::Upstream {
                failure: UpstreamFailure::AuthFailed,
                message: "m".into(),
                sync_run_id: "sync_1".into(),
            },
            Error::Upstream {
                failure: UpstreamFailure::AuthRequired,
                message: "m".into(),
                sync_run_id: "sync_1".into(),
            },
            Error::OAuth {
                failure: UpstreamFailure::AuthFailed,
                message: "m".into(),
            },
            Error::ShuttingDown("stopping"),
            Error::RateLimited {
                retry_after: std::time::Duration::from_millis(5),
            },
            Error::TooManyWatchers("m".into()),
            Error::StorageUnavailable(anyhow::anyhow!("down")),
            Error::internal(anyhow::anyhow!("bug")),
        ];
        for err in errors {
            let status = Status::from(err);
            let details = status.get_error_details();
            let reason = &details.error_info().expect("error info").reason;
            assert!(
                crate::pb::ErrorReason::from_str_name(&format!("ERROR_REASON_{reason}")).is_some(),
                "reason {reason} is not in errors.proto"
            );
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status = Status::from(Error::internal(anyhow::anyhow!("table secrets is on fire")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secrets"));
    }

    #[test]
    fn plan_limits_carry_a_quota_failure() {
        let status = Status::from(Error::PlanLimitExceeded {
            subject: "packs_per_organization".into(),
            description: "the free plan allows 1 pack".into(),
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.get_error_details();
        assert_eq!(
            details.error_info().expect("info").reason,
            "PLAN_LIMIT_EXCEEDED"
        );
        assert_eq!(
            details.quota_failure().expect("quota").violations[0].subject,
            "packs_per_organization"
        );
    }
}
