//! A socket's public id (PROTOCOL §2).

/// How other sockets tell this one apart (`typing.sid`, presence): random, fixed for the
/// connection, and unrelated to the session id, which is a secret (whoever knows it can take
/// the Engine.IO session over: PROTOCOL §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicId(u64);

impl PublicId {
    pub fn random() -> Self {
        // The OS's generator; were it to fail, a clock-seeded value still tells sockets apart
        // and says nothing about the session id.
        Self(getrandom::u64().unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            nanos.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15
        }))
    }
}

impl std::fmt::Display for PublicId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl serde::Serialize for PublicId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
