//! The Admin UI's handshake: `auth: { sessionId }` of an earlier login, or `auth: { username,
//! password }` checked against a bcrypt hash or the API key (a new session is then issued).
//! Refused with exactly `invalid credentials`, the message the UI recognises.

use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::sessions::AdminSessions;
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
    #[serde(default, rename = "sessionId")]
    session_id: Option<String>,
}

/// What the Admin UI is told after an accepted login: the session to reconnect with.
#[derive(Clone)]
pub(super) struct IssuedSession(pub String);

/// Who may check credentials, and where sessions live.
pub(super) struct Gate {
    pub access: AdminAccess,
    pub throttle: LoginThrottle,
    pub sessions: AdminSessions,
    pub proxies: TrustedProxies,
}

/// Admits an admin socket; a login by password (or API key) gets a new session, kept in the
/// socket's extensions until the greeting sends it.
pub(super) async fn check(
    gate: &Gate,
    socket: &Socket,
    auth: Option<Value>,
) -> Result<(), InvalidCredentials> {
    let AdminAccess::Credentials { .. } = &gate.access else {
        return Ok(());
    };
    let login: Login = auth
        .and_then(|auth| serde_json::from_value(auth).ok())
        .unwrap_or_default();
    if let Some(id) = &login.session_id {
        if gate.sessions.is_valid(id).await {
            return Ok(());
        }
    }
    check_password(gate, socket, &login).await?;
    if let Some(id) = gate.sessions.issue().await {
        socket.extensions.insert(IssuedSession(id));
    }
    Ok(())
}

async fn check_password(
    gate: &Gate,
    socket: &Socket,
    login: &Login,
) -> Result<(), InvalidCredentials> {
    let AdminAccess::Credentials {
        username,
        password_hash,
        api_key,
    } = &gate.access
    else {
        return Ok(());
    };
    let (throttle, proxies) = (&gate.throttle, &gate.proxies);
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
            verify_aside(login.password.clone(), hash.clone()).await
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

/// bcrypt (slow on purpose) on a thread of its own at the lowest priority, so the sockets'
/// threads keep the CPU they need while it runs.
async fn verify_aside(password: String, hash: String) -> bool {
    let (done, result) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("admin-login".into())
        .spawn(move || {
            let me = rustix::thread::gettid();
            if let Err(e) = rustix::process::setpriority_process(Some(me), LOWEST_PRIORITY) {
                tracing::debug!("cannot lower the login check's priority: {e}");
            }
            let _ = done.send(bcrypt::verify(password, &hash).unwrap_or(false));
        });
    match spawned {
        Ok(_) => result.await.unwrap_or(false),
        Err(e) => {
            tracing::error!("cannot start a login check: {e}");
            false
        }
    }
}

/// nice 19.
const LOWEST_PRIORITY: i32 = 19;
