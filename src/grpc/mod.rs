//! The tonic layer: one file per service translating between protobuf and the
//! domain, the error mapping ([`status`]) and the request middleware
//! ([`middleware`]). Only this module (and [`crate::pb`]) knows protobuf types.

pub mod admin;
pub mod audit;
pub mod convert;
pub mod encoded;
pub mod health;
pub mod import;
pub mod json;
pub mod mcp_server;
pub mod middleware;
pub mod oauth;
pub mod pack;
pub mod secret;
pub mod server_json;
pub mod status;
pub mod sync;

use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::registry::{Caller, Micros};

include!(concat!(env!("OUT_DIR"), "/known_rpcs.rs"));

/// What a unary handler answers.
pub type Reply<T> = Result<Response<T>, Status>;

/// Returns the authenticated caller that the middleware attached to `request`.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| {
            Status::from(Error::internal(anyhow::anyhow!(
                "request reached a handler without an authenticated caller"
            )))
        })
}

/// Converts microseconds since the epoch to a protobuf timestamp.
pub fn timestamp(micros: Micros) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Converts optional microseconds to an optional protobuf timestamp.
pub fn opt_timestamp(micros: Option<Micros>) -> Option<prost_types::Timestamp> {
    micros.map(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_keep_microseconds_and_handle_negative_times() {
        let ts = timestamp(1_700_000_000_123_456);
        assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 123_456_000));
        let ts = timestamp(-1);
        assert_eq!((ts.seconds, ts.nanos), (-1, 999_999_000));
    }

    #[test]
    fn known_rpcs_list_every_service_of_the_contract() {
        for service in ["mcpregistry.v1.AdminService", "grpc.health.v1.Health"] {
            assert!(KNOWN_RPCS.iter().any(|(s, _)| *s == service), "{service}");
        }
    }
}
