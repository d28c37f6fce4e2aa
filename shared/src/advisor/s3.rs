//! s3 checks.

use super::Check;

pub const CHECKS: &[Check] = &[];
