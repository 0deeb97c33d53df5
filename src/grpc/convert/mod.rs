//! Conversions between protobuf messages and domain values, one module per
//! service: `TryFrom<pb::…>` for inputs (every bad field reported at once as
//! a `BadRequest` violation under its full path), `From<…> for pb::…` for
//! outputs. Handlers in `crate::grpc` only call these and the domain.
//!
//! Conversions destructure messages without `..` where a new proto field
//! must be handled, so adding one is a compile error until it is.

pub mod admin;
pub mod audit;
pub mod capability;
pub mod import;
pub mod mcp_server;
pub mod oauth;
pub mod pack;
pub mod search;
pub mod secret;
pub mod sync;

use crate::error::{Error, Violations};
use crate::registry::admin::validate_id;
use crate::registry::{Caller, Micros, Owner, Subject};

/// A domain enum with a protobuf twin, declared with [`wire_enum!`].
pub trait WireEnum: Sized + Copy {
    /// The generated protobuf enum.
    type Pb: TryFrom<i32>;
    /// What the error message calls the field ("transport").
    const WHAT: &'static str;
    /// The protobuf names of the values a caller may send.
    fn names() -> Vec<&'static str>;
    /// The domain value of a protobuf value; `None` for the zero value.
    fn from_pb(value: Self::Pb) -> Option<Self>;
}

/// Declares the two directions between a domain enum and its protobuf twin
/// from one list of pairs: `From<Domain> for pb::X` and [`WireEnum`]. The
/// protobuf `*_UNSPECIFIED` value is not listed; it reads as `None`.
macro_rules! wire_enum {
    ($what:literal, $domain:ty => $pb:ty { $($d:ident = $p:ident),+ $(,)? }) => {
        impl From<$domain> for $pb {
            fn from(value: $domain) -> Self {
                match value {
                    $(<$domain>::$d => <$pb>::$p,)+
                }
            }
        }

        impl $crate::grpc::convert::WireEnum for $domain {
            type Pb = $pb;
            const WHAT: &'static str = $what;

            fn names() -> Vec<&'static str> {
                vec![$(<$pb>::$p.as_str_name()),+]
            }

            fn from_pb(value: $pb) -> Option<Self> {
                match value {
                    $(<$pb>::$p => Some(<$domain>::$d),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use wire_enum;

/// Reads an enum field: `Ok(None)` for the zero value (unspecified), an
/// error naming the accepted values for a number the contract does not know.
pub fn enum_field<D: WireEnum>(value: i32) -> Result<Option<D>, String> {
    match D::Pb::try_from(value) {
        Ok(known) => Ok(D::from_pb(known)),
        Err(_) => Err(format!(
            "is not a known {} ({})",
            D::WHAT,
            one_of(&D::names())
        )),
    }
}

/// Reads an enum field that must be set.
pub fn required_enum<D: WireEnum>(value: i32) -> Result<D, String> {
    enum_field(value)?.ok_or_else(|| format!("is required ({})", one_of(&D::names())))
}

/// Reads an enum field whose zero value means `default`.
pub fn enum_or<D: WireEnum>(value: i32, default: D) -> Result<D, String> {
    enum_field(value).map(|v| v.unwrap_or(default))
}

/// "A, B or C".
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Adds a violation unless `id` is an id of kind `prefix` (`mcp`, `pack`, …).
pub fn check_id(v: &mut Violations, field: &str, prefix: &str, id: &str) {
    if let Err(violation) = validate_id(field, prefix, id) {
        v.add(violation.field, violation.description);
    }
}

/// The `created_by_subject` / `mine` filters of a listing (`field` is the
/// path of `created_by_subject`, `mine` its sibling): the owner to list, with
/// `mine` resolved to the caller's own identity. Never both.
pub fn creator_filter(
    field: &str,
    created_by_subject: String,
    mine: bool,
    caller: &Caller,
    v: &mut Violations,
) -> Option<Owner> {
    match (created_by_subject.is_empty(), mine) {
        (true, false) => None,
        (true, true) => Some(caller.owner()),
        (false, false) => v
            .check(field, Subject::parse(created_by_subject))
            .map(|subject| Owner::Subject(subject.into_inner())),
        (false, true) => {
            v.add(field, "cannot be combined with mine");
            None
        }
    }
}

/// A `server_id` field that may be empty (meaning every server); a
/// violation under `server_id` unless it is empty or a server id.
pub fn optional_server_id(server_id: &str, v: &mut Violations) -> Option<String> {
    if server_id.is_empty() {
        return None;
    }
    check_id(v, "server_id", "mcp", server_id);
    Some(server_id.to_owned())
}

/// Seconds of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z, the range
/// of a valid protobuf `Timestamp`.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// Reads a protobuf timestamp as the first microsecond at or after it, so a
/// bound given in nanoseconds compares with microsecond times as it would
/// with nanosecond ones.
pub fn micros_at_or_after(t: &prost_types::Timestamp) -> Result<Micros, String> {
    if !TIMESTAMP_SECONDS.contains(&t.seconds) || !(0..1_000_000_000).contains(&t.nanos) {
        return Err(
            "is not a valid timestamp (nanos in 0..999999999, between years 1 and 9999)".into(),
        );
    }
    Ok(t.seconds * 1_000_000 + (i64::from(t.nanos) + 999) / 1_000)
}

/// Fails with INVALID_ARGUMENT unless `id` is an id of kind `prefix`.
pub fn id(field: &str, prefix: &str, id: String) -> Result<String, Error> {
    validate_id(field, prefix, &id).map_err(|v| Error::InvalidArgument(vec![v]))?;
    Ok(id)
}

/// An etag field: empty means none (the write is not conditional).
pub fn etag(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// Counts beyond `i32` (never in practice) are shown as `i32::MAX`.
pub fn count(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Returns the values of fields a conversion has checked; an internal error
/// if one is missing although no violation was reported (a bug).
pub fn checked<T>(value: Option<T>) -> Result<T, Error> {
    value.ok_or_else(|| Error::internal(anyhow::anyhow!("a validated field was lost")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_the_first_microsecond_at_or_after_them() {
        let at = |seconds, nanos| micros_at_or_after(&prost_types::Timestamp { seconds, nanos });
        assert_eq!(at(1, 0), Ok(1_000_000));
        assert_eq!(at(1, 1), Ok(1_000_001));
        assert_eq!(at(1, 999_999_999), Ok(2_000_000));
        assert_eq!(at(-1, 500_000_000), Ok(-500_000));
        assert!(at(0, -1).is_err());
        assert!(at(0, 1_000_000_000).is_err());
        assert!(at(253_402_300_800, 0).is_err());
        assert!(at(-62_135_596_801, 0).is_err());
    }
    use crate::pb;
    use crate::registry::servers::Transport;

    #[test]
    fn unknown_enum_numbers_name_the_accepted_values() {
        assert_eq!(
            enum_field::<Transport>(99),
            Err(
                "is not a known transport (TRANSPORT_AUTO, TRANSPORT_STREAMABLE_HTTP or \
                 TRANSPORT_SSE)"
                    .into()
            )
        );
    }

    #[test]
    fn the_zero_value_of_an_enum_reads_as_none() {
        assert_eq!(enum_field::<Transport>(0), Ok(None));
        assert_eq!(
            enum_field::<Transport>(pb::Transport::Sse as i32),
            Ok(Some(Transport::Sse))
        );
    }

    #[test]
    fn a_required_enum_refuses_the_zero_value() {
        assert!(
            required_enum::<crate::registry::Plan>(0).is_err_and(|e| e.starts_with("is required"))
        );
    }
}
