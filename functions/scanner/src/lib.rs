//! `scanner`: runs scan jobs.
//!
//! Two triggers: the EventBridge schedule (start a scan of every account) and
//! the scan-jobs table's stream (run one inserted job).

use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use shared::{ConfigError, Env};

/// Everything an invocation needs, built once per cold start.
#[derive(Clone, Debug)]
pub struct State {
    pub inventory_table: String,
    pub scan_jobs_table: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl State {
    /// Reads the Lambda environment; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Self::new(&Env::process(), &shared::aws::load().await)
    }

    pub fn new(env: &Env, aws: &SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            inventory_table: env.required("INVENTORY_TABLE")?,
            scan_jobs_table: env.required("SCAN_JOBS_TABLE")?,
            dynamodb: shared::aws::dynamodb(aws),
        })
    }
}

/// What woke the scanner.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Records of the scan-jobs table's stream.
    Jobs(StreamEvent),
    /// The EventBridge schedule.
    Schedule(EventBridgeEvent<serde_json::Value>),
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(de)?;
        if value.get("Records").is_some() {
            serde_json::from_value(value)
                .map(Trigger::Jobs)
                .map_err(D::Error::custom)
        } else if value.get("detail-type").is_some() {
            serde_json::from_value(value)
                .map(Trigger::Schedule)
                .map_err(D::Error::custom)
        } else {
            Err(D::Error::custom(
                "neither a DynamoDB stream batch nor an EventBridge event",
            ))
        }
    }
}

/// Handles one invocation.
pub async fn handle(
    event: LambdaEvent<Trigger>,
    _state: &State,
) -> Result<(), lambda_runtime::Error> {
    match event.payload {
        Trigger::Jobs(batch) => {
            for record in &batch.records {
                tracing::info!(event_name = %record.event_name, event_id = %record.event_id, "scan job record");
            }
        }
        Trigger::Schedule(schedule) => {
            tracing::info!(detail_type = ?schedule.detail_type, "scheduled scan");
        }
    }
    Ok(())
}
