//! Who a Flight SQL call comes from: basic credentials (checked against
//! the users' salted hashes) or a bearer token a handshake issued, valid
//! for an hour. Tokens are random, kept in memory only, and expired ones
//! are dropped whenever a new one is issued.

use crate::serve::users::Users;
use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a handshake's token stays valid.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct Tokens {
    live: Mutex<HashMap<String, (String, Instant)>>,
}

impl Tokens {
    /// A new token for `user`.
    pub fn issue(&self, user: String) -> String {
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, (_, until)| Instant::now() < *until);
        live.insert(token.clone(), (user, Instant::now() + TOKEN_LIFETIME));
        token
    }

    /// The user an `authorization` header names: a live token, or basic
    /// credentials that verify.
    pub fn user_of(&self, header: &str, users: &Users) -> Option<String> {
        if let Some(token) = header.strip_prefix("Bearer ") {
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            return match live.get(token) {
                Some((user, until)) if Instant::now() < *until => Some(user.clone()),
                _ => None,
            };
        }
        basic(header, users)
    }
}

fn basic(header: &str, users: &Users) -> Option<String> {
    let b64 = header.strip_prefix("Basic ")?;
    // Padded or not: the Go ADBC driver leaves the padding out.
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let raw = engine.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    users.verify(user, password).then(|| user.to_string())
}
