//! What can go wrong, as one line for a person and one exit code for a script.

use std::fmt;

/// The exit codes, as `--help` lists them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0   success
  1   an unexpected error (a bug, or the API answered something it should not)
  2   usage: a bad flag or argument
  3   not signed in, or the credentials were refused (run `cloudkeep login`)
  4   forbidden: signed in without the role or group it needs
  5   not found
  6   conflict: the version exists or is being uploaded, a file would be overwritten,
      or an action was refused (a protected resource, a precondition that failed)
  7   bad input: the API or the CLI refused a value (a name, a file that is not a ZIP)
  8   the package was rejected by validation (its report is printed)
  9   the API or the bucket is unavailable (network, 429, 503): safe to retry
  10  a download did not match its SHA-256 or size
  130 interrupted (Ctrl-C); a publish or download resumes when run again";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Failure = 1,
    Auth = 3,
    Forbidden = 4,
    NotFound = 5,
    Conflict = 6,
    BadInput = 7,
    Rejected = 8,
    Unavailable = 9,
    Unverified = 10,
    Interrupted = 130,
}

/// An error the user sees: `message`, and the API's request id when the API said it.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub request_id: Option<String>,
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            request_id: None,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Exit::BadInput, message)
    }

    /// An answer of the API that is not its error body (or not JSON at all).
    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    /// The exit code of an HTTP status the API answered with.
    pub fn from_status(status: u16, message: String, request_id: Option<String>) -> Self {
        let exit = match status {
            401 => Exit::Auth,
            403 => Exit::Forbidden,
            404 => Exit::NotFound,
            409 => Exit::Conflict,
            400 | 413 | 422 => Exit::BadInput,
            429 | 502..=504 => Exit::Unavailable,
            _ => Exit::Failure,
        };
        Self {
            exit,
            message,
            request_id,
        }
    }

    pub fn io(what: &str, path: &std::path::Path, e: &std::io::Error) -> Self {
        let exit = match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => Exit::BadInput,
            std::io::ErrorKind::AlreadyExists => Exit::Conflict,
            _ => Exit::Failure,
        };
        Self::new(exit, format!("cannot {what} {}: {e}", path.display()))
    }

    pub fn network(endpoint: &str, e: reqwest::Error) -> Self {
        // reqwest's Display names the URL; a presigned URL carries a signature,
        // so only its origin is ever shown.
        let e = e.without_url();
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        Self::new(
            Exit::Unavailable,
            format!("cannot reach {endpoint}: {cause}"),
        )
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}
