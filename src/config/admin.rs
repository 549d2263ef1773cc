//! Settings of the Socket.IO Admin UI's namespace (`/admin`): off unless `--admin`, and never
//! open to anyone in `jwt` mode.

use std::path::PathBuf;

use clap::Args;

use super::{AuthMode, AuthSettings, SettingError};
use crate::admin::{AdminAccess, AdminSettings};

#[derive(Clone, Args)]
pub struct AdminArgs {
    /// Serve the Socket.IO Admin UI's namespace, `/admin`.
    #[arg(long, env = "RAGCAST_ADMIN", default_value_t = false)]
    pub admin: bool,

    /// The user name the Admin UI logs in with (with `--admin-password-hash`).
    #[arg(long, env = "RAGCAST_ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,

    /// A bcrypt hash of the Admin UI's password (`$2b$…`). The API key is accepted as the
    /// password too. Without either, the namespace is open in `--auth none` and refused in `jwt`.
    #[arg(long, env = "RAGCAST_ADMIN_PASSWORD_HASH", hide_env_values = true)]
    pub admin_password_hash: Option<String>,

    /// The Admin UI's built page (`@socket.io/admin-ui`'s `ui/dist`), served at `/admin-ui/`
    /// so it reaches the server from the same origin.
    #[arg(long, env = "RAGCAST_ADMIN_UI_DIR")]
    pub admin_ui_dir: Option<PathBuf>,
}

impl AdminArgs {
    /// `None` when the Admin UI is off.
    pub fn settings(self, auth: &AuthSettings) -> Result<Option<AdminSettings>, SettingError> {
        if !self.admin {
            return Ok(None);
        }
        let password_hash = match self.admin_password_hash.filter(|h| !h.is_empty()) {
            Some(hash) => {
                hash.parse::<bcrypt::HashParts>().map_err(|e| {
                    SettingError::new(
                        "--admin-password-hash",
                        "RAGCAST_ADMIN_PASSWORD_HASH",
                        format!("not a bcrypt hash: {e}"),
                    )
                })?;
                Some(hash)
            }
            None => None,
        };
        let access =
            match (password_hash, &auth.api_key, &auth.mode) {
                (None, None, AuthMode::None) => AdminAccess::Open,
                (None, None, AuthMode::Jwt { .. }) => return Err(SettingError::new(
                    "--admin-password-hash",
                    "RAGCAST_ADMIN_PASSWORD_HASH",
                    "`--admin` with `--auth jwt` needs a password (a bcrypt hash) or `--api-key`",
                )),
                (password_hash, api_key, _) => AdminAccess::Credentials {
                    username: self.admin_username,
                    password_hash,
                    api_key: api_key.clone(),
                },
            };
        let ui_dir = match self.admin_ui_dir {
            Some(dir) if dir.join("index.html").is_file() => Some(dir),
            Some(dir) => {
                return Err(SettingError::new(
                    "--admin-ui-dir",
                    "RAGCAST_ADMIN_UI_DIR",
                    format!("{} holds no index.html", dir.display()),
                ))
            }
            None => None,
        };
        Ok(Some(AdminSettings { access, ui_dir }))
    }
}
