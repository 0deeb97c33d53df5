//! Credential encryption and secret hashing.
//!
//! Credentials are sealed with AES-256-GCM (`ring`): a fresh random 96-bit
//! nonce per encryption, caller-given associated data (the owning object's id,
//! so a ciphertext copied to another row does not open), and the id of the
//! master key stored in the ciphertext so that keys can rotate. The keyring
//! encrypts with its primary (first) key and decrypts with any of its keys.
//!
//! Ciphertext format (ASCII, safe to store in a text column):
//! `v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Length in bytes of a master key.
pub const KEY_LEN: usize = 32;

/// Why a ciphertext could not be opened or a key could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was sealed with unknown master key {0:?}")]
    UnknownKey(String),
    #[error("ciphertext does not open (wrong key, wrong associated data or tampered)")]
    Unopenable,
    #[error("random number generator failed")]
    Rng,
    #[error("{0}")]
    InvalidKey(String),
}

/// One master key and its id.
struct MasterKey {
    id: String,
    key: LessSafeKey,
}

/// The configured master keys. The first key seals; every key opens.
pub struct Keyring {
    keys: Vec<MasterKey>,
    /// Key for signing page tokens, derived from the primary master key so
    /// that every replica sharing the configuration accepts the others' tokens.
    token_key: hmac::Key,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Builds a keyring from `(id, key bytes)` pairs; the first pair is the primary key.
    pub fn new(keys: Vec<(String, [u8; KEY_LEN])>) -> Result<Self, CryptoError> {
        let Some((_, primary)) = keys.first() else {
            return Err(CryptoError::InvalidKey("no master key configured".into()));
        };
        // HMAC(primary, label) as the token key: independent of the encryption
        // use of the same key, stable across restarts and replicas.
        let derive = hmac::Key::new(hmac::HMAC_SHA256, primary);
        let token_key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&derive, b"mcp-registry page tokens v1").as_ref(),
        );
        let mut master_keys = Vec::with_capacity(keys.len());
        for (id, bytes) in keys {
            validate_key_id(&id)?;
            if master_keys.iter().any(|k: &MasterKey| k.id == id) {
                return Err(CryptoError::InvalidKey(format!(
                    "master key id {id:?} is configured twice"
                )));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| CryptoError::InvalidKey("master key must be 32 bytes".into()))?;
            master_keys.push(MasterKey {
                id,
                key: LessSafeKey::new(unbound),
            });
        }
        Ok(Self {
            keys: master_keys,
            token_key,
            rng: SystemRandom::new(),
        })
    }

    /// Parses keys written as `<id>:<base64 of 32 bytes>`, one per entry; the first is primary.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, CryptoError> {
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let (id, encoded) = entry.split_once(':').ok_or_else(|| {
                CryptoError::InvalidKey("master key must be written as <id>:<base64 key>".into())
            })?;
            let bytes = STANDARD
                .decode(encoded.trim())
                .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim()))
                .map_err(|_| {
                    CryptoError::InvalidKey(format!("master key {id:?} is not valid base64"))
                })?;
            let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
                CryptoError::InvalidKey(format!("master key {id:?} must decode to 32 bytes"))
            })?;
            keys.push((id.trim().to_owned(), bytes));
        }
        Self::new(keys)
    }

    /// Generates a fresh random key entry `<id>:<base64>` for a key file.
    pub fn generate_entry(id: &str) -> Result<String, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CryptoError::Rng)?;
        Ok(format!("{id}:{}", STANDARD.encode(bytes)))
    }

    /// Returns the ids of the configured keys, primary first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Encrypts `plaintext` with the primary key, bound to `associated_data`.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<String, CryptoError> {
        let key = &self.keys[0];
        let mut nonce_bytes = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce_bytes)
            .map_err(|_| CryptoError::Rng)?;
        let mut in_out = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(associated_data),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Unopenable)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + in_out.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&in_out);
        Ok(format!("v1:{}:{}", key.id, URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Whether `sealed` names the primary key (a ciphertext of an older key
    /// still opens, and is re-sealed when its owner is next written).
    pub fn sealed_with_primary(&self, sealed: &str) -> bool {
        let mut parts = sealed.splitn(3, ':');
        matches!(
            (parts.next(), parts.next()),
            (Some("v1"), Some(key_id)) if key_id == self.keys[0].id
        )
    }

    /// Decrypts a value made by [`Keyring::seal`] with the same associated data.
    pub fn open(&self, sealed: &str, associated_data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(key_id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_owned()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| CryptoError::Malformed)?;
        if blob.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Malformed)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = key
            .key
            .open_in_place(nonce, Aad::from(associated_data), &mut in_out)
            .map_err(|_| CryptoError::Unopenable)?;
        Ok(plaintext.to_vec())
    }

    /// Signs `message` for a page token.
    pub fn sign_token(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.token_key, message).as_ref().to_vec()
    }

    /// Checks a page-token signature in constant time.
    pub fn verify_token(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.token_key, message, tag).is_ok()
    }

    /// Fills `buf` with cryptographically secure random bytes.
    pub fn random(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.rng.fill(buf).map_err(|_| CryptoError::Rng)
    }
}

fn validate_key_id(id: &str) -> Result<(), CryptoError> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(CryptoError::InvalidKey(format!(
            "master key id {id:?} must be 1-64 characters of [A-Za-z0-9._-]"
        )))
    }
}

/// Hashes an API key secret for storage: hex SHA-256. Secrets are 256 random
/// bits, so a fast hash is enough (no password-style stretching needed).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(secret_digest(secret))
}

/// The SHA-256 of an API key secret: [`hash_secret`] before hex.
pub fn secret_digest(secret: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref());
    out
}

/// Compares two equal-purpose byte strings in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(ids: &[(&str, u8)]) -> Keyring {
        Keyring::new(
            ids.iter()
                .map(|(id, fill)| ((*id).to_owned(), [*fill; KEY_LEN]))
                .collect(),
        )
        .expect("valid keys")
    }

    #[test]
    fn sealed_value_opens_with_the_same_associated_data() {
        let ring = keyring(&[("k1", 1)]);
        let sealed = ring.seal(b"ghp_secret", b"mcp_1").expect("seal");
        assert!(sealed.starts_with("v1:k1:"));
        assert!(!sealed.contains("ghp_secret"));
        assert_eq!(ring.open(&sealed, b"mcp_1").expect("open"), b"ghp_secret");
    }

    #[test]
    fn each_encryption_uses_a_fresh_nonce() {
        let ring = keyring(&[("k1", 1)]);
        let a = ring.seal(b"same", b"ad").expect("seal");
        let b = ring.seal(b"same", b"ad").expect("seal");
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_associated_data_does_not_open() {
        let ring = keyring(&[("k1", 1)]);
        let sealed = ring.seal(b"token", b"mcp_1").expect("seal");
        assert_eq!(ring.open(&sealed, b"mcp_2"), Err(CryptoError::Unopenable));
    }

    #[test]
    fn tampered_ciphertext_does_not_open() {
        let ring = keyring(&[("k1", 1)]);
        let sealed = ring.seal(b"token", b"mcp_1").expect("seal");
        let (prefix, body) = sealed.rsplit_once(':').expect("format");
        let mut blob = URL_SAFE_NO_PAD.decode(body).expect("base64");
        let last = blob.len() - 1;
        blob[last] ^= 0x01;
        let tampered = format!("{prefix}:{}", URL_SAFE_NO_PAD.encode(&blob));
        assert_eq!(ring.open(&tampered, b"mcp_1"), Err(CryptoError::Unopenable));
        blob[last] ^= 0x01;
        blob[NONCE_LEN] ^= 0x80;
        let tampered = format!("{prefix}:{}", URL_SAFE_NO_PAD.encode(&blob));
        assert_eq!(ring.open(&tampered, b"mcp_1"), Err(CryptoError::Unopenable));
        assert_eq!(
            ring.open("v1:k1:AAAA", b"mcp_1"),
            Err(CryptoError::Malformed)
        );
        assert_eq!(ring.open("garbage", b"mcp_1"), Err(CryptoError::Malformed));
    }

    #[test]
    fn old_key_still_opens_after_rotation_and_new_key_seals() {
        let old = keyring(&[("k1", 1)]);
        let sealed_old = old.seal(b"token", b"mcp_1").expect("seal");
        let rotated = keyring(&[("k2", 2), ("k1", 1)]);
        assert_eq!(rotated.open(&sealed_old, b"mcp_1").expect("open"), b"token");
        let sealed_new = rotated.seal(b"token", b"mcp_1").expect("seal");
        assert!(sealed_new.starts_with("v1:k2:"));
        assert_eq!(
            old.open(&sealed_new, b"mcp_1"),
            Err(CryptoError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn a_key_with_the_same_id_but_other_bytes_does_not_open() {
        let sealed = keyring(&[("k1", 1)]).seal(b"token", b"ad").expect("seal");
        assert_eq!(
            keyring(&[("k1", 9)]).open(&sealed, b"ad"),
            Err(CryptoError::Unopenable)
        );
    }

    #[test]
    fn parse_reads_base64_entries_and_rejects_bad_ones() {
        let entry = Keyring::generate_entry("dev").expect("entry");
        let ring = Keyring::parse([entry.as_str(), "# comment", ""]).expect("parse");
        assert_eq!(ring.key_ids(), vec!["dev"]);
        assert!(Keyring::parse(["nocolon"]).is_err());
        assert!(Keyring::parse(["k:not base64!"]).is_err());
        assert!(Keyring::parse(["k:AAAA"]).is_err());
        assert!(Keyring::parse(Vec::<&str>::new()).is_err());
        assert!(Keyring::parse([entry.as_str(), entry.as_str()]).is_err());
        assert!(Keyring::parse(["bad id:AAAA"]).is_err());
    }

    #[test]
    fn token_signatures_verify_only_unchanged_messages() {
        let ring = keyring(&[("k1", 1)]);
        let tag = ring.sign_token(b"page");
        assert!(ring.verify_token(b"page", &tag));
        assert!(!ring.verify_token(b"pagf", &tag));
        assert!(!keyring(&[("k1", 2)]).verify_token(b"page", &tag));
    }

    #[test]
    fn only_ciphertexts_of_the_first_key_count_as_sealed_with_the_primary() {
        let old = keyring(&[("k1", 1)]).seal(b"v", b"sec_1").expect("seal");
        let rotated = keyring(&[("k2", 2), ("k1", 1)]);
        assert!(!rotated.sealed_with_primary(&old));
        let new = rotated.seal(b"v", b"sec_1").expect("seal");
        assert!(rotated.sealed_with_primary(&new));
        assert!(!rotated.sealed_with_primary("garbage"));
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let ring = keyring(&[("k1", 0x41)]);
        let printed = format!("{ring:?}");
        assert!(printed.contains("k1"));
        assert!(!printed.contains("AAAA"));
    }
}
