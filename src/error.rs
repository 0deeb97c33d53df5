//! The domain error type. Every fallible operation of the domain and the store
//! returns [`Error`]; `grpc::status` maps each variant to exactly one gRPC
//! status code and its details.

use std::fmt;

/// One invalid field of a request: the field path as the client sent it (for
/// example `organization.name`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why a sync against an upstream MCP server failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Connection refused, DNS failure, timeout, or an address the SSRF guard refused.
    Unreachable,
    /// The server answered with something that is not valid MCP.
    ProtocolError,
    /// The server refused the configured credentials.
    AuthFailed,
    /// The server's OAuth connection is missing or needs re-authorization
    /// (the authorization server refused its refresh token).
    AuthRequired,
}

impl UpstreamFailure {
    /// Returns the `ErrorInfo` reason of this failure.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unreachable => "UPSTREAM_UNREACHABLE",
            Self::ProtocolError => "UPSTREAM_PROTOCOL_ERROR",
            Self::AuthFailed => "UPSTREAM_AUTH_FAILED",
            Self::AuthRequired => "UPSTREAM_AUTH_REQUIRED",
        }
    }
}

/// Everything that can go wrong in a request, in terms the caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more request fields are invalid; all of them are listed.
    #[error("invalid argument: {}", describe_violations(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The caller presented no credentials or credentials that do not hold.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller is authenticated but its role does not allow the call.
    #[error("{0}")]
    PermissionDenied(String),
    /// The object does not exist, or is not visible to the caller.
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// An object with the same unique name already exists.
    #[error("{kind} named {name:?} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// The etag in the request is not the object's current etag.
    #[error("{kind} {id} was changed since it was read (etag mismatch)")]
    EtagMismatch { kind: &'static str, id: String },
    /// The organization's plan does not allow the change.
    #[error("{description}")]
    PlanLimitExceeded {
        /// Names the limit, for example `packs_per_organization`.
        subject: String,
        description: String,
    },
    /// The object is still referenced (for example a server used by packs).
    #[error("{0}")]
    InUse(String),
    /// The operation is not valid in the object's current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Stored credentials cannot be decrypted (wrong master key, or a
    /// ciphertext that belongs to another object).
    #[error("{0}")]
    CredentialsUnusable(String),
    /// A sync against the upstream MCP server failed; the run was recorded.
    #[error("{message}")]
    Upstream {
        failure: UpstreamFailure,
        message: String,
        /// The recorded run, sent as ErrorInfo metadata `sync_run_id`.
        sync_run_id: String,
    },
    /// A step of an OAuth authorization failed at the upstream: discovery,
    /// client registration, or the token endpoint (for example a refused
    /// authorization code); no sync run is involved.
    #[error("{message}")]
    OAuth {
        failure: UpstreamFailure,
        message: String,
    },
    /// The API key exceeded its rate limit; it may call again after `retry_after`.
    #[error("rate limit exceeded for this API key; retry in {} ms", retry_after.as_millis())]
    RateLimited { retry_after: std::time::Duration },
    /// A per-organization cap on open streams is reached.
    #[error("{0}")]
    TooManyWatchers(String),
    /// This replica is shutting down; the caller may retry elsewhere or later.
    #[error("{0}")]
    ShuttingDown(&'static str),
    /// The database cannot be reached; the caller may retry.
    #[error("storage unavailable")]
    StorageUnavailable(#[source] anyhow::Error),
    /// A bug or an unexpected condition; logged with its cause chain.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

fn describe_violations(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Builds an INVALID_ARGUMENT error for a single field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// Wraps an unexpected error.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

/// Collects field violations so that a request reports all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation of `field`.
    pub fn add(&mut self, field: impl Into<String>, description: impl fmt::Display) {
        self.0
            .push(FieldViolation::new(field, description.to_string()));
    }

    /// Returns the value of `result`, or records its error under `field`.
    pub fn check<T, E: fmt::Display>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err);
                None
            }
        }
    }

    /// Returns `Ok(())` when nothing was recorded, else INVALID_ARGUMENT with every violation.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }

    /// Returns whether any violation was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns how many violations were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match err {
            // The pool could not hand out a connection, or the connection broke:
            // the database is down or unreachable, which a retry may fix.
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                Self::StorageUnavailable(anyhow::Error::new(err))
            }
            DbErr::Exec(sea_orm::RuntimeErr::SqlxError(ref e))
            | DbErr::Query(sea_orm::RuntimeErr::SqlxError(ref e))
                if is_connection_error(e) =>
            {
                Self::StorageUnavailable(anyhow::Error::new(err))
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

/// Whether `code` is SQLite's SQLITE_BUSY or one of its extended codes
/// (the primary code is the low byte).
fn sqlite_busy(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(|code| code & 0xff == 5)
}

fn is_connection_error(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match err {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        // PostgreSQL going away under a connection: class 08 (connection
        // exception) and 57P0x (admin or crash shutdown, cannot connect now).
        // SQLite's SQLITE_BUSY (5, and its extended codes): another process
        // held the database's write lock past the busy timeout.
        E::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || sqlite_busy(&code)
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use sea_orm::sqlx::{Connection, Executor, SqliteConnection};

    use super::Error;

    /// Another process holding SQLite's write lock longer than the busy
    /// timeout is a retryable outage (UNAVAILABLE), not a bug (INTERNAL).
    #[tokio::test]
    async fn a_locked_sqlite_database_is_storage_unavailable() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("locked.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::ZERO);
        let mut holder = SqliteConnection::connect_with(&options)
            .await
            .expect("open");
        holder
            .execute("CREATE TABLE t (x INTEGER)")
            .await
            .expect("create");
        holder
            .execute("BEGIN IMMEDIATE")
            .await
            .expect("take the write lock");
        let mut other = SqliteConnection::connect_with(&options)
            .await
            .expect("open");
        let err = other
            .execute("INSERT INTO t VALUES (1)")
            .await
            .expect_err("the write lock is held");
        let err = Error::from(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
            err.into(),
        )));
        assert!(matches!(err, Error::StorageUnavailable(_)), "{err:?}");
    }
}
