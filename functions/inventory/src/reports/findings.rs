//! Findings from the store, for reports: the to-do list, which the store
//! keeps in severity order, so the per-severity tables come from one read.

use shared::ApiError;
use shared::dynamo::{Item, StoreError};
use shared::findings::Finding;

use super::{
    Grouping, PAGE, Source, from_filters, listing_filters, severity_heading, under_filters,
};
use crate::store::{FindingFilters, FindingQueries};

pub struct Findings<'a, S> {
    pub store: &'a S,
    pub filters: FindingFilters,
}

impl<S: FindingQueries + Sync> Source for Findings<'_, S> {
    type Row = Finding;
    type Group = ();

    /// [`FindingQueries::findings`] answers severity first.
    fn grouping(&self) -> Grouping<(), Finding> {
        Grouping::Sorted(|f| severity_heading(f.severity))
    }

    async fn page(
        &self,
        _group: Option<&()>,
        after: Option<Item>,
    ) -> Result<(Vec<Finding>, Option<Item>), StoreError> {
        self.store.findings(&self.filters, PAGE, after).await
    }
}

/// The filters of `GET /v1/findings`, checked by its rules.
pub fn filters(
    filters: &Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<FindingFilters, ApiError> {
    let map = listing_filters(filters)?;
    let query: crate::findings::FindingQuery = from_filters(map)?;
    crate::findings::filters(&query).map_err(under_filters)
}
