//! The per-attempt secret a shim proves itself with.
//!
//! The engine mints one for each attempt it spawns and hands it to the shim
//! in its environment (never on its command line, which `ps` shows to every
//! user); the shim sends it in every `hello`, and the engine binds the
//! connection only when it matches. Everything else the shim says comes over
//! that bound connection, so nothing else carries it. The agent never sees
//! it: the shim keeps it out of the agent's environment.
//!
//! The journal keeps its SHA-256 ([`SecretDigest`]), not the secret, so a
//! new engine can check the hello of a worker an earlier engine spawned,
//! while the journal itself (readable by whoever can read the repository)
//! gives no one the means to pass as that worker.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// 128 random bits, as 32 hex digits.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptSecret(String);

impl AttemptSecret {
    /// A fresh secret from the operating system's random source.
    pub fn mint() -> Result<AttemptSecret, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(AttemptSecret(hex(&bytes)))
    }

    /// A secret as the shim read it from its environment (or a test wrote it).
    pub fn new(text: impl Into<String>) -> AttemptSecret {
        AttemptSecret(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

/// Never printed: logs and `Debug` output of messages show only that a
/// secret is there.
impl std::fmt::Debug for AttemptSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.0.is_empty() { "none" } else { "…" };
        write!(f, "AttemptSecret({shown})")
    }
}

/// The SHA-256 of an [`AttemptSecret`], in hex: what the engine keeps and
/// journals. Comparing digests leaks nothing worth timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretDigest(String);

impl SecretDigest {
    /// Whether `secret` is the one this is the digest of. An empty secret
    /// (an older shim's hello, which has none) matches nothing.
    pub fn matches(&self, secret: &AttemptSecret) -> bool {
        !secret.0.is_empty() && secret.digest() == *self
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_secrets_differ_and_match_only_their_own_digest() {
        let a = AttemptSecret::mint().unwrap();
        let b = AttemptSecret::mint().unwrap();
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(a, b);
        assert!(a.digest().matches(&a));
        assert!(!a.digest().matches(&b));
        assert!(!a.digest().matches(&AttemptSecret::default()));
    }

    #[test]
    fn the_digest_is_sha256_in_hex() {
        let d = AttemptSecret::new("abc").digest();
        assert_eq!(
            d,
            SecretDigest("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into())
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let s = AttemptSecret::new("hunter2hunter2");
        assert_eq!(format!("{s:?}"), "AttemptSecret(…)");
    }
}
