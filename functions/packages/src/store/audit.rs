//! The download audit (`PKG#{name}/DL#{micros}#{uuid}`): every decision on a
//! download, allowed or refused, newest first.

use std::future::Future;

use serde::{Deserialize, Serialize};
use shared::domain::PackageName;
use shared::dynamo::{self, Item, StoreError, s};
use shared::packages::{decode, encode, package_pk};
use utoipa::ToSchema;

use super::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DownloadRecord {
    pub version: String,
    pub username: String,
    /// RFC 3339 UTC.
    pub at: String,
    pub allowed: bool,
    pub reason: String,
}

/// An audit entry's item.
#[derive(Debug, Serialize)]
struct DownloadItem<'a> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: &'a DownloadRecord,
}

/// Recording and reading download decisions.
pub trait DownloadAudit {
    const IAM_ACTIONS: &'static [&'static str];

    /// Appends one download decision to the package's audit.
    fn record_download(
        &self,
        name: &PackageName,
        record: &DownloadRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A page of a package's download audit, newest first.
    fn downloads(
        &self,
        name: &PackageName,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<DownloadRecord>, Option<Item>), StoreError>> + Send;
}

impl DownloadAudit for Store {
    /// `PutItem` (a decision), `Query` (a page).
    const IAM_ACTIONS: &'static [&'static str] = &["dynamodb:PutItem", "dynamodb:Query"];

    async fn record_download(
        &self,
        name: &PackageName,
        record: &DownloadRecord,
    ) -> Result<(), StoreError> {
        let item = DownloadItem {
            pk: package_pk(name),
            // Microseconds, zero-padded: the audit sorts newest first even within a second.
            sk: format!("DL#{:020}#{}", dynamo::now_micros(), uuid::Uuid::new_v4()),
            record,
        };
        self.dynamo()
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(encode("PutItem", &item)?))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    async fn downloads(
        &self,
        name: &PackageName,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<DownloadRecord>, Option<Item>), StoreError> {
        let out = self
            .dynamo()
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :dl)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", s(package_pk(name)))
            .expression_attribute_values(":dl", s("DL#"))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        let records = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| decode("Query", item))
            .collect::<Result<_, _>>()?;
        Ok((records, out.last_evaluated_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_entry_is_stored_flat_beside_its_key() {
        let record = DownloadRecord {
            version: "1.0.0".into(),
            username: "alice".into(),
            at: "2026-11-26T00:00:00Z".into(),
            allowed: false,
            reason: "not in the package's groups".into(),
        };
        let item = encode(
            "PutItem",
            &DownloadItem {
                pk: "PKG#p".into(),
                sk: "DL#1#u".into(),
                record: &record,
            },
        )
        .unwrap();
        assert_eq!(item["allowed"].as_bool().unwrap(), &false);
        assert_eq!(decode::<DownloadRecord>("Query", item).unwrap(), record);
    }
}
