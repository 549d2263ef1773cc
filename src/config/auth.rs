//! Settings of authentication: the mode and its key are one value, so `jwt` cannot run keyless.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::SettingError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthKind {
    None,
    Jwt,
}

/// How `jwt` mode checks signatures.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256.
    Secret(String),
    /// RS256 / ES256 public key, PEM.
    PublicKeyPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::Secret(_) => f.write_str("Secret(***)"),
            JwtKey::PublicKeyPem(_) => f.write_str("PublicKeyPem"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Anyone who reaches the port is a user (`sub` from the handshake's `user_id`).
    None,
    /// Every socket and request carries a token signed with `key`.
    Jwt { key: JwtKey, leeway: Duration },
}

/// Validated authentication: the mode, and the back ends' API key (either mode).
#[derive(Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub api_key: Option<String>,
}

#[derive(Clone, Args)]
pub struct AuthArgs {
    #[arg(long, env = "RAGCAST_AUTH", value_enum, default_value = "none")]
    pub auth: AuthKind,

    #[arg(long, env = "RAGCAST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM public key (RSA → RS256, EC P-256 → ES256) for `jwt` mode, instead of a secret.
    #[arg(
        long,
        env = "RAGCAST_JWT_PUBLIC_KEY_FILE",
        conflicts_with = "jwt_secret"
    )]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Seconds of clock skew tolerated on a token's `exp` and `nbf`; a connected socket's session
    /// ends at `exp` plus this.
    #[arg(long, env = "RAGCAST_JWT_LEEWAY_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub jwt_leeway_secs: u64,

    #[arg(long, env = "RAGCAST_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl AuthArgs {
    pub fn settings(self) -> Result<AuthSettings, SettingError> {
        let mode = match self.auth {
            AuthKind::None => AuthMode::None,
            AuthKind::Jwt => AuthMode::Jwt {
                key: self.jwt_key()?,
                leeway: Duration::from_secs(self.jwt_leeway_secs),
            },
        };
        Ok(AuthSettings {
            mode,
            api_key: self.api_key.filter(|k| !k.is_empty()),
        })
    }

    fn jwt_key(&self) -> Result<JwtKey, SettingError> {
        if let Some(path) = &self.jwt_public_key_file {
            let invalid = |reason| {
                SettingError::new(
                    "--jwt-public-key-file",
                    "RAGCAST_JWT_PUBLIC_KEY_FILE",
                    reason,
                )
            };
            let pem = std::fs::read(path)
                .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
            crate::auth::Authenticator::from_public_key_pem(&pem, None).map_err(invalid)?;
            return Ok(JwtKey::PublicKeyPem(pem));
        }
        match self.jwt_secret.as_deref() {
            Some(secret) if !secret.is_empty() => Ok(JwtKey::Secret(secret.to_owned())),
            _ => Err(SettingError::new(
                "--jwt-secret",
                "RAGCAST_JWT_SECRET",
                "`--auth jwt` needs a secret (or --jwt-public-key-file)",
            )),
        }
    }
}
