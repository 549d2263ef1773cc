//! Admin UI sessions: after a password login the UI gets `session` with an id, and after a
//! reload it connects with `auth: { sessionId }` instead of asking for the password again.
//! Ids are random (128 bits), last a day, are kept in memory and, with several nodes, in Redis;
//! they belong to the password they were issued under, so changing `--admin-password-hash`
//! revokes them all.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

/// How long a session lasts (the Admin UI's own default).
const SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

pub struct AdminSessions {
    local: Mutex<HashMap<String, Instant>>,
    cluster: Cluster,
    /// Of the password hash the sessions were issued under.
    password: u64,
}

impl AdminSessions {
    pub fn new(cluster: Cluster, password_hash: Option<&str>) -> Self {
        let mut hasher = DefaultHasher::new();
        password_hash.hash(&mut hasher);
        Self {
            local: Mutex::default(),
            cluster,
            password: hasher.finish(),
        }
    }

    fn key(&self, id: &str) -> String {
        format!("admin-session:{:016x}:{id}", self.password)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session id, good on every node for a day; `None` when the OS has no randomness
    /// to give (the UI then asks for the password again after a reload).
    pub async fn issue(&self) -> Option<String> {
        let id = format!(
            "{:016x}{:016x}",
            getrandom::u64().ok()?,
            getrandom::u64().ok()?
        );
        {
            let mut local = self.lock();
            local.retain(|_, ends| *ends > Instant::now());
            local.insert(id.clone(), Instant::now() + SESSION_TTL);
        }
        if let Err(e) = self.cluster.remember(&self.key(&id), SESSION_TTL).await {
            tracing::warn!("an Admin UI session is known to this node only: {e}");
        }
        Some(id)
    }

    /// Whether `id` is a live session issued under the current password.
    pub async fn is_valid(&self, id: &str) -> bool {
        if self
            .lock()
            .get(id)
            .is_some_and(|ends| *ends > Instant::now())
        {
            return true;
        }
        self.cluster.remembers(&self.key(id)).await.unwrap_or(false)
    }
}
