//! ec2 checks.

use super::Check;

pub const CHECKS: &[Check] = &[];
