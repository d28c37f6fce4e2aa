//! Findings from the store, grouped by severity.

use shared::ApiError;
use shared::findings::Finding;

use super::Source;
use crate::State;

/// Until the findings store lands: no findings source.
pub struct Pending;

impl Source for Pending {
    type Row = Finding;
    type Group = ();

    fn groups(&self) -> Vec<(String, ())> {
        Vec::new()
    }

    async fn page(
        &self,
        _group: Option<&()>,
        _after: Option<shared::dynamo::Item>,
    ) -> Result<(Vec<Finding>, Option<shared::dynamo::Item>), shared::dynamo::StoreError> {
        Ok((Vec::new(), None))
    }
}

pub fn source(
    _state: &State,
    _filters: &Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<Pending, ApiError> {
    Err(ApiError::not_found("findings are not stored yet"))
}
