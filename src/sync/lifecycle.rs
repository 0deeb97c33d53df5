//! The lifecycle of one run: it starts (stored RUNNING, announced), makes
//! one attempt (headers, transport detection, discovery), stores the result
//! or the failure in one transaction, and is announced again finished. An
//! upstream failure is a FAILED run, never an error; errors are storage
//! failures only, and even then the run does not stay RUNNING.

use serde_json::Value;
use url::Url;

use crate::error::{Error, UpstreamFailure};
use crate::registry::audit::{AuditEvent, FieldChange};
use crate::registry::canonical::definition_hash;
use crate::registry::oauth::Requester;
use crate::registry::runs::{
    CapabilityOutcome, CapabilityResult, Changes, Outcome, Results, SyncFailure, SyncRun, Trigger,
};
use crate::registry::servers::{CapabilityKind, LastError, McpServer, ServerInfo, Transport};
use crate::registry::{new_id, now_micros};
use crate::store::{NewCapability, SyncSuccess};
use crate::sync::client::{Discovery, DiscoveryError, Listing, Wire, discover};
use crate::sync::engine::{SyncEvent, Syncer};

/// Why an attempt did not produce a discovery.
pub enum AttemptFailure {
    /// The upstream (or its token endpoint) failed, or a header cannot be sent.
    Upstream(DiscoveryError),
    /// A sealed header or the credentials cannot be opened.
    Credentials(String),
}

impl AttemptFailure {
    /// Returns the failure to record and its message.
    fn into_parts(self) -> (SyncFailure, String) {
        match self {
            Self::Upstream(err) => (err.failure.into(), err.message),
            Self::Credentials(message) => (SyncFailure::CredentialsUnusable, message),
        }
    }
}

/// The server's url, parsed (it was checked when stored).
pub(crate) fn stored_url(server: &McpServer) -> Result<Url, AttemptFailure> {
    Url::parse(&server.url).map_err(|err| {
        AttemptFailure::Upstream(DiscoveryError {
            failure: UpstreamFailure::ProtocolError,
            message: format!("the stored url does not parse: {err}"),
        })
    })
}

/// A discovery in which a list failed: why, and what each list did.
type Failure = Box<(SyncFailure, String, Results)>;

impl Syncer {
    /// Syncs `server` now and stores the run; upstream failures are a FAILED
    /// run, not an error. Errors are storage failures only.
    /// A sync a caller asked for comes with its audit event, stored with
    /// the RUNNING run.
    pub async fn sync(
        &self,
        server: &McpServer,
        trigger: Trigger,
        audit: Option<AuditEvent>,
    ) -> Result<SyncRun, Error> {
        let _one_at_a_time = self.inner.locks.lock(&server.id).await;
        let run = self.start(server, trigger, audit).await?;
        let finished = match self.attempt_and_store(server, &run).await {
            Ok(finished) => finished,
            Err(err) => {
                // Never leave the run RUNNING because its result was lost.
                if let Err(also) = self
                    .inner
                    .store
                    .fail_unstored_run(&run.id, now_micros())
                    .await
                {
                    tracing::error!(run_id = %run.id, error = %also, "cannot mark an unstored sync run failed");
                }
                return Err(err);
            }
        };
        self.finished(&finished);
        Ok(finished)
    }

    /// Stores a new RUNNING run of `server` (with `audit`, naming the run,
    /// in the same transaction) and announces it.
    async fn start(
        &self,
        server: &McpServer,
        trigger: Trigger,
        audit: Option<AuditEvent>,
    ) -> Result<SyncRun, Error> {
        let run = SyncRun {
            id: new_id("sync"),
            server_id: server.id.clone(),
            scope: server.scope().to_owned(),
            server_name: server.name.clone(),
            trigger,
            started_at: now_micros(),
            finished_at: None,
            outcome: Outcome::Running,
            transport: None,
            protocol_version: String::new(),
            results: Results::default(),
            changes: Changes::default(),
            error: None,
            instance_id: self.inner.instance_id.clone(),
        };
        let audit = audit.map(|event| AuditEvent {
            changes: vec![FieldChange {
                field: "sync_run_id".into(),
                old: None,
                new: Some(Value::String(run.id.clone())),
                secret: false,
            }],
            ..event
        });
        self.inner
            .store
            .insert_sync_run(&run, audit.as_ref())
            .await?;
        // Nobody watching is not an error.
        let _ = self.inner.events.send(SyncEvent { run: run.clone() });
        Ok(run)
    }

    /// Logs, counts and announces a stored finished run.
    fn finished(&self, finished: &SyncRun) {
        tracing::info!(
            server_id = %finished.server_id,
            run_id = %finished.id,
            outcome = ?finished.outcome,
            trigger = ?finished.trigger,
            "sync finished"
        );
        metrics::counter!(
            "mcp_registry_syncs_total",
            "outcome" => match finished.outcome { Outcome::Succeeded => "succeeded", _ => "failed" },
            "reason" => finished.error.as_ref().map_or("NONE", |e| e.reason.as_str()),
        )
        .increment(1);
        if let Some(end) = finished.finished_at {
            metrics::histogram!("mcp_registry_sync_duration_seconds")
                .record((end - finished.started_at) as f64 / 1e6);
        }
        let _ = self.inner.events.send(SyncEvent {
            run: finished.clone(),
        });
    }

    /// Connects, discovers and stores the outcome of `run`.
    async fn attempt_and_store(&self, server: &McpServer, run: &SyncRun) -> Result<SyncRun, Error> {
        let run = run.clone();
        Ok(match self.attempt(server).await {
            Ok(discovery) => match success(discovery) {
                Ok(success) => self.inner.store.finish_sync_success(&run, success).await?,
                Err(failure) => {
                    let (failure, message, results) = *failure;
                    self.fail(run, failure, message, results).await?
                }
            },
            Err(failed) => {
                let (failure, message) = failed.into_parts();
                self.fail(run, failure, message, Results::default()).await?
            }
        })
    }

    /// Stores `run` as FAILED, with the server's error.
    async fn fail(
        &self,
        run: SyncRun,
        reason: SyncFailure,
        message: String,
        results: Results,
    ) -> Result<SyncRun, Error> {
        let at = now_micros();
        let failed = SyncRun {
            finished_at: Some(at),
            outcome: Outcome::Failed,
            results,
            error: Some(LastError {
                reason,
                message,
                occurred_at: at,
                sync_run_id: run.id.clone(),
            }),
            ..run
        };
        self.inner.store.finish_sync_failure(&failed).await?;
        Ok(failed)
    }

    /// Opens the credentials and discovers; when the server refuses them,
    /// once more if they can be renewed (an OAuth token refreshed). A sync
    /// acts for no end user ([`Requester::Sync`]).
    async fn attempt(&self, server: &McpServer) -> Result<Discovery, AttemptFailure> {
        let credentials = &self.inner.credentials;
        let headers = credentials.headers(server, Requester::Sync).await?;
        match self.attempt_with(server, &headers).await {
            Err(AttemptFailure::Upstream(err)) if err.failure == UpstreamFailure::AuthFailed => {
                if (credentials.after_refusal(server, Some(&headers), Requester::Sync)).await? {
                    let headers = credentials.headers(server, Requester::Sync).await?;
                    return self.attempt_with(server, &headers).await;
                }
                Err(AttemptFailure::Upstream(err))
            }
            other => other,
        }
    }

    /// Connects with the detected transport when there is one, and detects
    /// again when that no longer works (except after an auth failure).
    async fn attempt_with(
        &self,
        server: &McpServer,
        headers: &reqwest::header::HeaderMap,
    ) -> Result<Discovery, AttemptFailure> {
        let url = stored_url(server)?;
        let settings = &self.inner.settings;
        let configured = match server.transport {
            Transport::StreamableHttp => Wire::StreamableHttp,
            Transport::Sse => Wire::Sse,
            Transport::Auto => Wire::Auto,
        };
        let detected = match (server.transport, server.detected_transport) {
            (Transport::Auto, Some(Transport::StreamableHttp)) => Some(Wire::StreamableHttp),
            (Transport::Auto, Some(Transport::Sse)) => Some(Wire::Sse),
            _ => None,
        };
        let client = &self.inner.client;
        if let Some(wire) = detected {
            match discover(
                client,
                &url,
                headers,
                wire,
                &settings.limits,
                &settings.policy,
            )
            .await
            {
                Ok(found) => return Ok(found),
                Err(err) if err.failure == UpstreamFailure::AuthFailed => {
                    return Err(AttemptFailure::Upstream(err));
                }
                Err(err) => {
                    tracing::debug!(server_id = %server.id, error = %err, "detected transport failed; detecting again")
                }
            }
        }
        // A refused token is dealt with by the caller (`attempt`).
        discover(
            client,
            &url,
            headers,
            configured,
            &settings.limits,
            &settings.policy,
        )
        .await
        .map_err(AttemptFailure::Upstream)
    }
}

/// Turns a discovery into what to store, or into a failure when a list failed.
fn success(discovery: Discovery) -> Result<SyncSuccess, Failure> {
    let kinds = [
        (CapabilityKind::Tool, &discovery.tools, "name"),
        (CapabilityKind::Prompt, &discovery.prompts, "name"),
        (CapabilityKind::Resource, &discovery.resources, "uri"),
        (
            CapabilityKind::ResourceTemplate,
            &discovery.resource_templates,
            "uriTemplate",
        ),
    ];
    let mut results = Vec::with_capacity(4);
    let mut capabilities = Vec::with_capacity(4);
    let mut failed = None;
    for (kind, listing, key) in kinds {
        let (result, items) = match listing {
            Listing::Listed { items, pages } => (
                CapabilityResult {
                    outcome: CapabilityOutcome::Ok,
                    count: u32::try_from(items.len()).unwrap_or(u32::MAX),
                    pages: *pages,
                    error_message: String::new(),
                },
                items
                    .iter()
                    .map(|item| NewCapability {
                        kind,
                        key: item[key].as_str().unwrap_or_default().to_owned(),
                        definition_hash: definition_hash(item),
                        definition: item.clone(),
                    })
                    .collect(),
            ),
            Listing::NotAnnounced | Listing::NotSupported => (
                CapabilityResult {
                    outcome: CapabilityOutcome::NotSupported,
                    count: 0,
                    pages: 0,
                    error_message: String::new(),
                },
                Vec::new(),
            ),
            Listing::Failed(message) => {
                failed.get_or_insert_with(|| message.clone());
                (
                    CapabilityResult {
                        outcome: CapabilityOutcome::Failed,
                        count: 0,
                        pages: 0,
                        error_message: message.clone(),
                    },
                    Vec::new(),
                )
            }
        };
        results.push(result);
        capabilities.push((kind, items));
    }
    let mut results = results.into_iter();
    let mut next = || results.next().unwrap_or_else(CapabilityResult::skipped);
    let results = Results {
        tools: next(),
        prompts: next(),
        resources: next(),
        resource_templates: next(),
    };
    if let Some(message) = failed {
        return Err(Box::new((
            SyncFailure::UpstreamProtocolError,
            message,
            results,
        )));
    }
    let info = &discovery.server_info;
    let text = |key: &str| {
        info.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(SyncSuccess {
        at: now_micros(),
        server_info: ServerInfo {
            name: text("name"),
            version: text("version"),
            title: text("title"),
            protocol_version: discovery.protocol_version.clone(),
            instructions: discovery.instructions.clone(),
            capabilities: discovery.capabilities.clone(),
        },
        transport: match discovery.wire {
            Wire::Sse => Transport::Sse,
            Wire::StreamableHttp | Wire::Auto => Transport::StreamableHttp,
        },
        protocol_version: discovery.protocol_version,
        results,
        capabilities,
    })
}
