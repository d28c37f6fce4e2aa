//! Where the CLI keeps what outlives one run: the signed-in profiles
//! (`credentials.json`, mode 0600) and the publish sessions to resume
//! (`uploads/`), in the user's config directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{CliError, Exit, Result};

/// The dev server of `make dev`.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:3000";

/// `$CLOUDKEEP_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cloudkeep`, else
/// `~/.config/cloudkeep` (`%APPDATA%\cloudkeep` on Windows).
pub fn dir() -> Result<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("CLOUDKEEP_CONFIG_DIR") {
        return Ok(dir);
    }
    if let Some(base) = var("XDG_CONFIG_HOME").or_else(|| var("APPDATA")) {
        return Ok(base.join("cloudkeep"));
    }
    var("HOME")
        .map(|home| home.join(".config").join("cloudkeep"))
        .ok_or_else(|| CliError::bad_input("no config directory: set CLOUDKEEP_CONFIG_DIR or HOME"))
}

/// One signed-in profile. Tokens are secrets: this file is the only place they go.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix seconds after which the access token is refreshed before use.
    #[serde(default)]
    pub expires_at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

impl Credentials {
    pub fn path() -> Result<PathBuf> {
        Ok(dir()?.join("credentials.json"))
    }

    pub fn load() -> Result<Self> {
        Ok(read_json(&Self::path()?)?.unwrap_or_default())
    }

    pub fn save(&self) -> Result<()> {
        write_private(&Self::path()?, self)
    }
}

/// Reads a JSON file; `None` when there is none.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!(
                    "{} is not valid ({e}); remove it to start over",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::io("read", path, &e)),
    }
}

/// Writes `value` as JSON readable by the user alone (0600 in a 0700
/// directory), atomically: a crash leaves the old file or the new one.
pub fn write_private<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    create_private_dir(parent)?;
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| CliError::unexpected(format!("cannot encode {}: {e}", path.display())))?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = open_private(&tmp).and_then(|mut f| {
        f.write_all(&bytes)?;
        f.sync_all()
    });
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::io("write", path, &e)
        })
}

pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::io("remove", path, &e)),
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| CliError::io("create", dir, &e))
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}
