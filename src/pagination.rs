//! Page sizes and page tokens.
//!
//! A page token is an opaque keyset cursor: the sort key of the last item
//! returned, signed with HMAC-SHA256 over the query it belongs to. A token that
//! was altered, forged, or reused with other filters fails verification and
//! the request is INVALID_ARGUMENT. Because the cursor is a key, not an
//! offset, the cost of a page does not grow with its depth.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crypto::Keyring;
use crate::error::Violations;

/// Page size used when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page size; larger requests are clamped to it.
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Bytes of the HMAC tag kept in a token (128 bits).
const TAG_LEN: usize = 16;
/// Upper bound on the length of a token we are willing to decode.
/// Longest token accepted: more than any token [`PageTokens::encode`] makes
/// for a key of up to 16 KiB (JSON escaping can grow it sixfold, base64 by a
/// third), so a cursor on a long resource URI still pages on.
const MAX_TOKEN_LEN: usize = 160 * 1024;

/// A validated page request: how many items, and after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<K> {
    pub limit: u64,
    pub after: Option<K>,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    /// Sort key of the last item when more items follow, else `None`.
    pub next: Option<K>,
    /// Number of items matching the query across all pages.
    pub total: u64,
}

impl<K> PageRequest<K> {
    /// Cuts rows fetched with `limit + 1` to one page: when the extra row is
    /// there, more items follow and the cursor is the key of the page's last row.
    pub fn cut<R>(&self, rows: &mut Vec<R>, key: impl Fn(&R) -> K) -> Option<K> {
        if rows.len() as u64 > self.limit {
            rows.truncate(self.limit as usize);
            rows.last().map(key)
        } else {
            None
        }
    }
}

/// Signs and verifies page tokens for one kind of query.
pub struct PageTokens<'a> {
    keyring: &'a Keyring,
    /// Everything that defines the query except the cursor (resource kind,
    /// caller's organization, filters), so a token cannot move between queries.
    query: String,
}

impl<'a> PageTokens<'a> {
    pub fn new(keyring: &'a Keyring, query: impl Into<String>) -> Self {
        Self {
            keyring,
            query: query.into(),
        }
    }

    /// Validates `page_size` and `page_token`, recording violations under those field names.
    pub fn parse<K: DeserializeOwned>(
        &self,
        page_size: i32,
        page_token: &str,
        violations: &mut Violations,
    ) -> PageRequest<K> {
        let limit = match page_size {
            size if size < 0 => {
                violations.add("page_size", "must not be negative");
                DEFAULT_PAGE_SIZE
            }
            0 => DEFAULT_PAGE_SIZE,
            size => (size as u64).min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            match self.decode(page_token) {
                Some(key) => Some(key),
                None => {
                    violations.add(
                        "page_token",
                        "is not a page token of this query (altered, or issued for other parameters)",
                    );
                    None
                }
            }
        };
        PageRequest { limit, after }
    }

    /// Encodes the cursor `key` as a token for this query.
    pub fn encode<K: Serialize>(&self, key: &K) -> String {
        // Serializing a plain key (strings, numbers) cannot fail; an empty
        // token would only end the listing early, never expose anything.
        let payload = serde_json::to_vec(key).unwrap_or_default();
        let tag = self.keyring.sign_token(&self.message(&payload));
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        )
    }

    fn decode<K: DeserializeOwned>(&self, token: &str) -> Option<K> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_LEN {
            return None;
        }
        let full = self.keyring.sign_token(&self.message(&payload));
        if !crate::crypto::constant_time_eq(&full[..TAG_LEN], &tag) {
            return None;
        }
        serde_json::from_slice(&payload).ok()
    }

    fn message(&self, payload: &[u8]) -> Vec<u8> {
        let mut message = Vec::with_capacity(self.query.len() + 1 + payload.len());
        message.extend_from_slice(self.query.as_bytes());
        message.push(0);
        message.extend_from_slice(payload);
        message
    }

    /// Returns the `next_page_token` for a page: empty when it is the last.
    pub fn next_token<K: Serialize>(&self, next: Option<&K>) -> String {
        next.map(|key| self.encode(key)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KEY_LEN;

    fn keyring() -> Keyring {
        Keyring::new(vec![("k".into(), [7; KEY_LEN])]).expect("keyring")
    }

    #[test]
    fn page_size_defaults_clamps_and_rejects_negatives() {
        let keyring = keyring();
        let tokens = PageTokens::new(&keyring, "q");
        let mut v = Violations::new();
        assert_eq!(
            tokens.parse::<String>(0, "", &mut v).limit,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(tokens.parse::<String>(5, "", &mut v).limit, 5);
        assert_eq!(
            tokens.parse::<String>(5000, "", &mut v).limit,
            MAX_PAGE_SIZE
        );
        assert!(v.is_empty());
        tokens.parse::<String>(-1, "", &mut v);
        assert!(!v.is_empty());
    }

    #[test]
    fn token_round_trips_for_the_same_query() {
        let keyring = keyring();
        let tokens = PageTokens::new(&keyring, "organizations");
        let token = tokens.encode(&"org_123".to_string());
        let mut v = Violations::new();
        let page = tokens.parse::<String>(10, &token, &mut v);
        assert!(v.is_empty());
        assert_eq!(page.after.as_deref(), Some("org_123"));
    }

    #[test]
    fn token_of_another_query_or_altered_is_rejected() {
        let keyring = keyring();
        let token = PageTokens::new(&keyring, "keys?org=a").encode(&"key_1".to_string());
        let other = PageTokens::new(&keyring, "keys?org=b");
        let mut v = Violations::new();
        assert_eq!(other.parse::<String>(10, &token, &mut v).after, None);
        assert!(!v.is_empty());

        let same = PageTokens::new(&keyring, "keys?org=a");
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(b"\"key_9\""),
            token.split_once('.').expect("dot").1
        );
        for bad in [
            forged.as_str(),
            "x",
            "a.b",
            ".",
            "%%%.%%%",
            &"a".repeat(5000),
        ] {
            let mut v = Violations::new();
            assert_eq!(same.parse::<String>(10, bad, &mut v).after, None, "{bad}");
            assert!(!v.is_empty(), "{bad}");
        }
    }
}
