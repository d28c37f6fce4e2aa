//! Inventoried resources, in the inventory table, keyed by account and ARN:
//! the shape both functions share. The scanner writes them
//! (`scanner::store`), the inventory reads them (`inventory::store`).
//!
//! `RES#{account}/{arn}`, indexed by service (`gsi1` = `SVC#{service}` /
//! `{account}#{region}#{arn}`), by type (`gsi2`) and by region (`gsi3`), so the
//! common filters of `GET /v1/resources` are queries, not table scans.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dynamo::{Item, StoreError, Table, s};
use crate::inventory::Service;

/// The longest ARN the inventory stores or looks up, in bytes. DynamoDB
/// limits a sort key to 1,024 bytes, and the longest sort key built from an
/// ARN is the indexes' `{account}#{region}#{arn}`: 12 + 1 + 32 (the longest
/// region `plausible_region` accepts, or `global`) + 1 + 960 = 1,006 bytes.
/// AWS allows ARNs of up to 2,048 characters, but the ones the scanner lists
/// (a role path of 512 and a name of 64, a log group name of 512) stay well
/// under this.
pub const MAX_ARN_BYTES: usize = 960;

/// Whether `arn` is an ARN the inventory can hold: `arn:partition:service:region:account:resource`
/// within [`MAX_ARN_BYTES`].
pub fn storable_arn(arn: &str) -> bool {
    arn.len() <= MAX_ARN_BYTES
        && arn.starts_with("arn:")
        && arn.split(':').count() >= 6
        && !arn.chars().any(char::is_control)
}

/// One resource in the uniform shape of `API.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Resource {
    pub arn: String,
    pub id: String,
    /// `service:kind`, e.g. `ec2:instance`.
    #[serde(rename = "type")]
    pub resource_type: String,
    pub service: Service,
    pub region: String,
    pub account_id: String,
    pub name: Option<String>,
    pub state: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub created_at: Option<String>,
    pub monthly_cost_usd: f64,
    /// Service-specific details.
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
    pub last_seen: String,
}

/// A resource as stored: tags and properties as JSON text (so `tag=` is one
/// `contains` on a string), and whether the last listing still saw it.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    arn: String,
    id: String,
    #[serde(rename = "type")]
    resource_type: String,
    service: Service,
    region: String,
    account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(with = "json_text")]
    tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    monthly_cost_usd: f64,
    #[serde(with = "json_text")]
    properties: serde_json::Value,
    last_seen: String,
    scan_id: String,
    gone: bool,
}

/// A field stored as its JSON text.
mod json_text {
    use serde::de::{DeserializeOwned, Error as _};
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &T, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&serde_json::to_string(value).map_err(S::Error::custom)?)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        de: D,
    ) -> Result<T, D::Error> {
        serde_json::from_str(&String::deserialize(de)?).map_err(D::Error::custom)
    }
}

/// The tag filter's needle: `"key":"value"` exactly as the stored tags' JSON
/// text spells that pair.
pub fn tag_needle(key: &str, value: &str) -> String {
    let text = serde_json::to_string(&BTreeMap::from([(key, value)])).unwrap_or_default();
    text.trim_start_matches('{')
        .trim_end_matches('}')
        .to_owned()
}

impl Resource {
    /// `RES#{account}` / `{arn}`.
    pub fn key(account: &str, arn: &str) -> (AttributeValue, AttributeValue) {
        (s(format!("RES#{account}")), s(arn))
    }

    /// The stored item, seen by scan `scan_id`, with its three index keys.
    pub fn item(&self, scan_id: &str) -> Result<Item, StoreError> {
        let record = Record {
            arn: self.arn.clone(),
            id: self.id.clone(),
            resource_type: self.resource_type.clone(),
            service: self.service,
            region: self.region.clone(),
            account_id: self.account_id.clone(),
            name: self.name.clone(),
            state: self.state.clone(),
            tags: self.tags.clone(),
            created_at: self.created_at.clone(),
            monthly_cost_usd: (self.monthly_cost_usd * 10_000.0).round() / 10_000.0,
            properties: self.properties.clone(),
            last_seen: self.last_seen.clone(),
            scan_id: scan_id.to_owned(),
            gone: false,
        };
        let mut item: Item = serde_dynamo::to_item(&record).map_err(|e| {
            StoreError::corrupt(
                "BatchWriteItem",
                format!("resource {} does not encode: {e}", self.arn),
            )
        })?;
        let place = format!("{}#{}#{}", self.account_id, self.region, self.arn);
        let (pk, sk) = Self::key(&self.account_id, &self.arn);
        item.extend([
            ("pk".to_owned(), pk),
            ("sk".to_owned(), sk),
            ("gsi1pk".to_owned(), s(format!("SVC#{}", self.service))),
            ("gsi1sk".to_owned(), s(&place)),
            (
                "gsi2pk".to_owned(),
                s(format!("TYPE#{}", self.resource_type)),
            ),
            ("gsi2sk".to_owned(), s(&place)),
            ("gsi3pk".to_owned(), s(format!("REGION#{}", self.region))),
            ("gsi3sk".to_owned(), s(&place)),
        ]);
        Ok(item)
    }

    /// A resource from its stored item (`state` is `gone` once a listing no
    /// longer returned it); one that does not decode is a bug naming its key.
    pub fn from_item(operation: &'static str, item: &Item) -> Result<Resource, StoreError> {
        let r: Record = crate::inventory::decode(operation, item)?;
        Ok(Resource {
            arn: r.arn,
            id: r.id,
            resource_type: r.resource_type,
            service: r.service,
            region: r.region,
            account_id: r.account_id,
            name: r.name,
            state: if r.gone { Some("gone".into()) } else { r.state },
            tags: r.tags,
            created_at: r.created_at,
            monthly_cost_usd: r.monthly_cost_usd,
            properties: r.properties,
            last_seen: r.last_seen,
        })
    }
}

/// The inventory table's resources.
#[derive(Clone, Debug)]
pub struct ResourcesStore {
    pub table: Table,
}

impl ResourcesStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            table: Table::new(client, table),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> Resource {
        Resource {
            arn: "arn:aws:ec2:eu-west-1:111111111111:volume/vol-1".into(),
            id: "vol-1".into(),
            resource_type: "ec2:volume".into(),
            service: Service::Ec2,
            region: "eu-west-1".into(),
            account_id: "111111111111".into(),
            name: Some("data".into()),
            state: Some("available".into()),
            tags: BTreeMap::from([("team".into(), "core \"x\"".into())]),
            created_at: None,
            monthly_cost_usd: 8.0,
            properties: serde_json::json!({"size_gib": 100}),
            last_seen: "2026-11-26T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_resource_round_trips_through_its_item() {
        let item = resource().item("scan-1").unwrap();
        assert_eq!(item["gsi1pk"], s("SVC#ec2"));
        assert_eq!(item["gone"], AttributeValue::Bool(false));
        assert!(
            item["tags"]
                .as_s()
                .unwrap()
                .contains(&tag_needle("team", "core \"x\""))
        );
        assert_eq!(Resource::from_item("GetItem", &item).unwrap(), resource());
    }

    #[test]
    fn a_resource_item_missing_its_arn_is_corrupt_not_skipped() {
        let mut item = resource().item("scan-1").unwrap();
        item.remove("arn");
        let err = Resource::from_item("Query", &item).unwrap_err();
        assert_eq!(err.kind, crate::aws::FailureKind::Bug);
        assert!(err.detail.contains("RES#111111111111/arn:aws:ec2"), "{err}");
    }

    #[test]
    fn every_key_built_from_a_storable_arn_fits_dynamodb() {
        let arn = format!(
            "arn:aws:iam::111111111111:role/{}",
            "p".repeat(MAX_ARN_BYTES - 31)
        );
        assert!(storable_arn(&arn), "{}", arn.len());
        let mut r = resource();
        r.arn = arn;
        r.region = "a".repeat(32);
        let item = r.item("s").unwrap();
        for key in ["sk", "gsi1sk", "gsi2sk", "gsi3sk"] {
            assert!(item[key].as_s().unwrap().len() <= 1024, "{key}");
        }
        for key in ["pk", "gsi1pk", "gsi2pk", "gsi3pk"] {
            assert!(item[key].as_s().unwrap().len() <= 2048, "{key}");
        }
        assert!(!storable_arn(&format!(
            "arn:aws:s3:::{}",
            "b".repeat(MAX_ARN_BYTES)
        )));
        assert!(!storable_arn("not-an-arn"));
    }
}
