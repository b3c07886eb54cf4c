//! Who may connect: the pipeline's `access.users`, each with a password
//! from `TOUCHPOINT_PASSWORD_<USER>` or from the secrets file the server is
//! given (never from the YAML). Passwords are kept only as SCRAM-SHA-256
//! salted hashes, made at start with a fresh salt.

use super::Error;
use crate::access::Policy;
use async_trait::async_trait;
use pgwire::api::auth::sasl::scram::gen_salted_password;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::PgWireResult;
use rand::RngCore;
use std::collections::HashMap;
use std::path::Path;

/// SCRAM's iteration count (PostgreSQL's default).
pub const ITERATIONS: usize = 4096;

/// `TOUCHPOINT_PASSWORD_<USER>`: the user's name upper-cased, `-` as `_`.
pub fn password_var(user: &str) -> String {
    format!(
        "TOUCHPOINT_PASSWORD_{}",
        user.to_ascii_uppercase().replace('-', "_")
    )
}

/// Every declared user's salted password.
#[derive(Debug)]
pub struct Users {
    salted: HashMap<String, (Vec<u8>, Vec<u8>)>,
}

impl Users {
    /// Load every user's password; a user without one stops the server
    /// (it could never log in, and a typo should not pass silently).
    pub fn load(policy: &Policy, secrets: Option<&Path>) -> Result<Users, Error> {
        if policy.users.is_empty() {
            return Err(Error::NoUsers);
        }
        let file = match secrets {
            Some(p) => read_secrets(p)?,
            None => HashMap::new(),
        };
        let mut salted = HashMap::new();
        for (user, _) in &policy.users {
            let password = std::env::var(password_var(user))
                .ok()
                .filter(|p| !p.is_empty())
                .or_else(|| file.get(user).cloned())
                .ok_or_else(|| Error::NoPassword { user: user.clone() })?;
            let mut salt = vec![0u8; 16];
            rand::rng().fill_bytes(&mut salt);
            let hash = gen_salted_password(&password, &salt, ITERATIONS);
            salted.insert(user.clone(), (salt, hash));
        }
        Ok(Users { salted })
    }
}

impl Users {
    /// Whether `password` is `user`'s (Flight SQL's basic authentication),
    /// compared in constant time.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        use subtle::ConstantTimeEq;
        match self.salted.get(user) {
            Some((salt, hash)) => {
                let given = gen_salted_password(password, salt, ITERATIONS);
                given.ct_eq(hash).into()
            }
            None => {
                // Spend the same time on an unknown user.
                let _ = gen_salted_password(password, b"0123456789abcdef", ITERATIONS);
                false
            }
        }
    }
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        match login.user().and_then(|u| self.salted.get(u)) {
            Some((salt, hash)) => Ok(Password::new(Some(salt.clone()), hash.clone())),
            // An unknown user is refused exactly as a wrong password is, so
            // a client cannot probe which names exist.
            None => {
                let mut salt = vec![0u8; 16];
                let mut hash = vec![0u8; 32];
                rand::rng().fill_bytes(&mut salt);
                rand::rng().fill_bytes(&mut hash);
                Ok(Password::new(Some(salt), hash))
            }
        }
    }
}

/// A secrets file: `user: password` lines (YAML). It must be readable by
/// its owner only.
fn read_secrets(path: &Path) -> Result<HashMap<String, String>, Error> {
    let err = |reason: String| Error::Secrets {
        path: path.display().to_string(),
        reason,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| err(e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "it is readable by others (mode {:o}); run `chmod 600` on it",
                mode & 0o777
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    // Never echo the parser's message: it may quote a password.
    serde_yaml::from_str::<HashMap<String, String>>(&text)
        .map_err(|_| err("it is not a YAML mapping of user names to passwords".into()))
}
