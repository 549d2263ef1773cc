//! Who is calling, and what they may touch (PROTOCOL §2, §3, §6).
//!
//! `Authenticator` turns a bearer token into a `Caller`: the configured API key (a back-end
//! service), a verified user JWT, or — in auth mode `none` — an open caller. `Caller` holds the
//! access rules, so handlers ask it rather than re-deriving them.

mod http;
mod limits;
mod session;
mod socket;

pub use http::ApiCaller;
pub use limits::{ConnectionSlot, ConnectionsPerIp, Cost, RateLimiter, RateSettings};
pub use session::Session;
pub use socket::authenticate;

use std::collections::HashSet;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::{AppError, ErrorCode};

/// Clock skew tolerated on `exp` and `nbf`, unless `--jwt-leeway-secs` says otherwise.
pub const LEEWAY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectAccess {
    All,
    Only(HashSet<i64>),
}

/// A user, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    /// The token's optional `name` claim: how others see this user (PROTOCOL §9.1).
    pub name: Option<String>,
    /// The token's `operator: true`: may switch a chat's assistant off and on (§9.1).
    pub operator: bool,
    pub projects: ProjectAccess,
    /// The token's `exp` (Unix seconds).
    pub expires_at: Option<i64>,
    /// When a connected socket's session ends: `exp` plus the leeway (Unix seconds).
    pub ends_at: Option<i64>,
}

impl Identity {
    /// When the session is over, in Unix milliseconds: at `exp` plus the leeway, to the
    /// millisecond (not at the end of that second).
    pub fn over_at_ms(&self) -> Option<i64> {
        self.ends_at.map(|end| end * 1000)
    }

    /// Whether the session is over at `now_ms` (Unix milliseconds).
    pub fn expired(&self, now_ms: i64) -> bool {
        self.over_at_ms().is_some_and(|over| now_ms >= over)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Auth mode `none`: everything is open.
    Open,
    /// The configured API key: every route, every project.
    Backend,
    User(Identity),
}

impl Caller {
    /// The user's name (the token's `name` claim), if any.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Caller::User(identity) => identity.name.as_deref(),
            Caller::Open | Caller::Backend => None,
        }
    }

    /// May switch a chat's assistant of `project_id` off and on: the API key, everyone in auth
    /// mode `none`, and a user whose token says `operator: true` and has the project.
    pub fn require_operator(&self, project_id: i64) -> Result<(), AppError> {
        match self {
            Caller::Open | Caller::Backend => Ok(()),
            Caller::User(identity) if identity.operator => self.require_project(project_id),
            Caller::User(_) => Err(AppError::new(
                ErrorCode::Forbidden,
                "`assistant` may be changed only by an operator (the token's `operator: true`) or the API key",
            )),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User(identity) => Some(&identity.user_id),
            Caller::Open | Caller::Backend => None,
        }
    }

    pub fn may_use(&self, project_id: i64) -> bool {
        match self {
            Caller::Open | Caller::Backend => true,
            Caller::User(identity) => match &identity.projects {
                ProjectAccess::All => true,
                ProjectAccess::Only(ids) => ids.contains(&project_id),
            },
        }
    }

    pub fn require_project(&self, project_id: i64) -> Result<(), AppError> {
        if self.may_use(project_id) {
            Ok(())
        } else {
            Err(AppError::new(
                ErrorCode::Forbidden,
                format!("project {project_id} is not in your token's projects"),
            ))
        }
    }

    /// For a resource named by its own id (a chat, a message): outside the caller's projects it
    /// is `not_found`, exactly as a missing one, so ids cannot be probed for existence.
    pub fn require_visible(&self, project_id: i64, what: &str) -> Result<(), AppError> {
        if self.may_use(project_id) {
            Ok(())
        } else {
            Err(AppError::not_found(what))
        }
    }

    /// Routes only back-end services may call: creating or deleting projects, notifications.
    pub fn require_backend(&self) -> Result<(), AppError> {
        match self {
            Caller::Open | Caller::Backend => Ok(()),
            Caller::User(_) => Err(AppError::new(
                ErrorCode::Forbidden,
                "only a back-end service (the API key) may do this",
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// How a token is checked.
pub enum Verifier {
    /// Auth mode `none`: no token needed; the API key still identifies back-end services.
    None,
    Jwt {
        key: Box<DecodingKey>,
        validation: Box<Validation>,
    },
}

pub struct Authenticator {
    verifier: Verifier,
    api_key: Option<String>,
    leeway: Duration,
}

#[derive(Deserialize)]
struct Claims {
    sub: SubjectClaim,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    operator: bool,
    #[serde(default)]
    projects: Option<ProjectsClaim>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SubjectClaim {
    Text(String),
    Number(i64),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProjectsClaim {
    /// `"*"`: every project.
    Wildcard(String),
    List(Vec<ProjectId>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProjectId {
    Number(i64),
    Text(String),
}

impl Authenticator {
    pub fn open(api_key: Option<String>) -> Self {
        Self {
            verifier: Verifier::None,
            api_key,
            leeway: LEEWAY,
        }
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8], api_key: Option<String>) -> Self {
        Self::jwt(DecodingKey::from_secret(secret), Algorithm::HS256, api_key)
    }

    /// RS256 or ES256 from a PEM public key, the algorithm told by the key type.
    pub fn from_public_key_pem(pem: &[u8], api_key: Option<String>) -> Result<Self, String> {
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            return Ok(Self::jwt(key, Algorithm::ES256, api_key));
        }
        DecodingKey::from_rsa_pem(pem)
            .map(|key| Self::jwt(key, Algorithm::RS256, api_key))
            .map_err(|e| format!("not an RSA or EC (P-256) public key in PEM: {e}"))
    }

    fn jwt(key: DecodingKey, algorithm: Algorithm, api_key: Option<String>) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false;
        // `sub` is checked by `Claims` itself: a number is accepted and carried as a string.
        validation.required_spec_claims = ["exp"].into_iter().map(String::from).collect();
        Self {
            verifier: Verifier::Jwt {
                key: Box::new(key),
                validation: Box::new(validation),
            },
            api_key,
            leeway: LEEWAY,
        }
    }

    /// The clock skew tolerated on `exp` and `nbf` (`--jwt-leeway-secs`).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        if let Verifier::Jwt { validation, .. } = &mut self.verifier {
            validation.leeway = leeway.as_secs();
        }
        self
    }

    /// The caller a token (or its absence) stands for.
    pub fn caller(&self, token: Option<&str>) -> Result<Caller, AuthError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        if let (Some(token), Some(key)) = (token, &self.api_key) {
            if bool::from(token.as_bytes().ct_eq(key.as_bytes())) {
                return Ok(Caller::Backend);
            }
        }
        match &self.verifier {
            Verifier::None => Ok(Caller::Open),
            Verifier::Jwt { key, validation } => {
                let token = token.ok_or(AuthError::Missing)?;
                let data = jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(|e| AuthError::Invalid(e.to_string()))?;
                let identity = identity(data.claims, self.leeway);
                // jsonwebtoken compares whole seconds; the session ends at the millisecond.
                if identity.expired(crate::time::unix_ms()) {
                    return Err(AuthError::Invalid("ExpiredSignature".into()));
                }
                Ok(Caller::User(identity))
            }
        }
    }
}

fn identity(claims: Claims, leeway: Duration) -> Identity {
    let user_id = match claims.sub {
        SubjectClaim::Text(s) => s,
        SubjectClaim::Number(n) => n.to_string(),
    };
    let projects = match claims.projects {
        Some(ProjectsClaim::Wildcard(w)) if w == "*" => ProjectAccess::All,
        Some(ProjectsClaim::Wildcard(_)) | None => ProjectAccess::Only(HashSet::new()),
        Some(ProjectsClaim::List(ids)) => ProjectAccess::Only(
            ids.into_iter()
                .filter_map(|id| match id {
                    ProjectId::Number(n) => Some(n),
                    ProjectId::Text(t) => t.parse().ok(),
                })
                .collect(),
        ),
    };
    Identity {
        user_id,
        name: claims.name.filter(|n| !n.trim().is_empty()),
        operator: claims.operator,
        projects,
        expires_at: claims.exp,
        ends_at: claims.exp.map(|exp| exp + leeway.as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn token(claims: serde_json::Value, secret: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn a_session_ends_at_exp_plus_the_leeway_to_the_millisecond() {
        let auth = Authenticator::hs256(b"secret", None).with_leeway(Duration::from_secs(10));
        let exp = now() + 60;
        let valid = token(json!({ "sub": "u", "exp": exp }), b"secret");
        let Caller::User(identity) = auth.caller(Some(&valid)).unwrap() else {
            panic!("a user");
        };
        let end_ms = (exp + 10) * 1000;
        assert_eq!(identity.over_at_ms(), Some(end_ms));
        assert!(!identity.expired(end_ms - 1));
        assert!(
            identity.expired(end_ms),
            "over at exp + leeway, not a second later"
        );
    }

    #[test]
    fn tokens_become_callers() {
        let auth = Authenticator::hs256(b"secret", Some("backend-key".into()));
        let valid = token(
            json!({ "sub": 7, "exp": now() + 60, "projects": [1, "2"] }),
            b"secret",
        );
        let Caller::User(identity) = auth.caller(Some(&valid)).unwrap() else {
            panic!("a user");
        };
        assert_eq!(identity.user_id, "7");
        assert_eq!(identity.projects, ProjectAccess::Only([1, 2].into()));
        let all = token(
            json!({ "sub": "u", "exp": now() + 60, "projects": "*" }),
            b"secret",
        );
        assert!(auth.caller(Some(&all)).unwrap().may_use(99));
        let none = token(json!({ "sub": "u", "exp": now() + 60 }), b"secret");
        assert!(!auth.caller(Some(&none)).unwrap().may_use(1));
        assert_eq!(auth.caller(Some("backend-key")).unwrap(), Caller::Backend);

        for bad in [
            None,
            Some("not.a.token".to_owned()),
            Some(token(json!({ "sub": "u", "exp": now() + 60 }), b"other")),
            Some(token(json!({ "sub": "u", "exp": now() - 60 }), b"secret")),
            Some(token(
                json!({ "sub": "u", "exp": now() + 600, "nbf": now() + 300 }),
                b"secret",
            )),
            Some(token(json!({ "exp": now() + 60 }), b"secret")),
        ] {
            assert!(auth.caller(bad.as_deref()).is_err(), "{bad:?}");
        }
        // Within the leeway, a just-expired token still counts.
        let recent = token(json!({ "sub": "u", "exp": now() - 2 }), b"secret");
        assert!(auth.caller(Some(&recent)).is_ok());
    }

    #[test]
    fn open_mode_lets_everyone_in_and_still_knows_the_api_key() {
        let auth = Authenticator::open(Some("k".into()));
        assert_eq!(auth.caller(None).unwrap(), Caller::Open);
        assert_eq!(auth.caller(Some("k")).unwrap(), Caller::Backend);
    }
}
