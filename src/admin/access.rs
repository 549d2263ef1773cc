//! The Admin UI's handshake: `auth: { username, password }` checked against a bcrypt hash or the
//! API key. Refused with exactly `invalid credentials`, the message the UI recognises.

use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::throttle::LoginThrottle;
use super::AdminAccess;
use crate::net::TrustedProxies;
use crate::socket::Socket;

#[derive(Debug, thiserror::Error)]
#[error("invalid credentials")]
pub struct InvalidCredentials;

/// What the UI sends as `auth` (empty strings when its fields are empty).
#[derive(Debug, Default, Deserialize)]
struct Login {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn check(
    access: &AdminAccess,
    throttle: &LoginThrottle,
    proxies: &TrustedProxies,
    socket: &Socket,
    auth: Option<Value>,
) -> Result<(), InvalidCredentials> {
    let AdminAccess::Credentials {
        username,
        password_hash,
        api_key,
    } = access
    else {
        return Ok(());
    };
    let login: Login = auth
        .and_then(|auth| serde_json::from_value(auth).ok())
        .unwrap_or_default();
    let by_key = api_key
        .as_deref()
        .is_some_and(|key| bool::from(key.as_bytes().ct_eq(login.password.as_bytes())));
    if by_key {
        return Ok(());
    }
    let ip = proxies.client_of(socket.req_parts()).map(|c| c.ip);
    let slot = throttle.admit(ip).await.map_err(|_| InvalidCredentials)?;
    let by_password = match password_hash {
        Some(hash) if login.username == *username => {
            let (password, hash) = (login.password.clone(), hash.clone());
            // bcrypt is slow on purpose: off the runtime's threads.
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
        }
        _ => false,
    };
    slot.finish(by_password);
    if by_password {
        Ok(())
    } else {
        metrics::counter!("ragcast_admin_logins_refused_total").increment(1);
        tracing::warn!(user = login.username, ip = ?ip, "Admin UI login refused");
        Err(InvalidCredentials)
    }
}
