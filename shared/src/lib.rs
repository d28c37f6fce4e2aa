//! What more than one cloudkeep function needs, and nothing else.

pub mod advisor;
pub mod auth;
pub mod aws;
pub mod config;
pub mod costs;
pub mod cursor;
pub mod domain;
pub mod dynamo;
pub mod error;
pub mod finding_writes;
pub mod findings;
pub mod health;
pub mod http;
pub mod inventory;
pub mod lambda;
pub mod openapi;
pub mod packages;
pub mod pagination;
pub mod request_id;
pub mod resources;
pub mod summary;
pub mod telemetry;
pub mod users;

pub use config::{ConfigError, Env};
pub use error::ApiError;
