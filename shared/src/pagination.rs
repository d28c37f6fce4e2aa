//! `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A page size in `1..=200`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Limit(u32);

impl Limit {
    pub const MAX: u32 = 200;
    pub const DEFAULT: Limit = Limit(50);

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u32> for Limit {
    type Error = String;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("limit must be between 1 and {}", Self::MAX))
        }
    }
}

impl From<Limit> for u32 {
    fn from(limit: Limit) -> Self {
        limit.0
    }
}

/// The query parameters of every list route.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageParams {
    #[serde(default)]
    pub limit: Limit,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_outside_one_to_two_hundred_is_refused() {
        assert!(Limit::try_from(0).is_err());
        assert!(Limit::try_from(201).is_err());
        assert_eq!(Limit::try_from(200).unwrap().get(), 200);
        assert_eq!(Limit::default().get(), 50);
    }
}

/// A DynamoDB `LastEvaluatedKey` of string attributes, as a cursor position.
pub fn key_position(key: &crate::dynamo::Item) -> std::collections::BTreeMap<String, String> {
    key.iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
        .collect()
}

/// The `ExclusiveStartKey` of a cursor position.
pub fn position_key(position: &std::collections::BTreeMap<String, String>) -> crate::dynamo::Item {
    position
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                aws_sdk_dynamodb::types::AttributeValue::S(v.clone()),
            )
        })
        .collect()
}
