//! Packages as the catalogue shows them: one by name, or a search page.

use std::future::Future;

use serde::{Deserialize, Serialize};
use shared::auth::Caller;
use shared::domain::{PackageName, Username};
use shared::dynamo::{Item, StoreError, s};
use shared::packages::{META_SK, decode, package_pk};

use super::Store;

/// A package's `META` item, as read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Package {
    pub name: PackageName,
    pub owner: Username,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub latest_version: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Package {
    /// Whether `caller` may know that this package exists: a sensitive
    /// package is visible only to admins, its owner and the members of its
    /// groups; to anyone else it does not exist (`API.md`).
    pub fn visible_to(&self, caller: &Caller) -> bool {
        !self.sensitive || self.owner == caller.username || caller.in_any_group(&self.groups)
    }
}

/// The `META` item as a package's first upload writes it.
#[derive(Debug, Serialize)]
pub(super) struct PackageItem<'a> {
    pub pk: String,
    pub sk: &'static str,
    pub gsi1pk: &'static str,
    pub gsi1sk: &'a str,
    pub name: &'a PackageName,
    pub owner: &'a Username,
    pub description: &'a str,
    /// `description`, lower-cased: what `q=` searches.
    pub description_lc: String,
    pub sensitive: bool,
    pub groups: &'a [String],
    pub created_at: &'a str,
    pub updated_at: &'a str,
}

/// The partition of `gsi1` that lists every package in name order.
pub(super) const PACKAGES_GSI_PK: &str = "PACKAGES";

/// The most items one search request evaluates (reads from the index, match
/// or not). A search that matches little answers a partial page, possibly
/// empty, with a cursor to go on from, rather than reading the whole table.
pub const MAX_EVALUATED: i32 = 1_000;

/// What a search looks for, for whom.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    /// A lower-case substring of the name or description.
    pub q: Option<&'a str>,
    /// Only what this caller may see is listed.
    pub viewer: &'a Caller,
    pub limit: u32,
}

/// A page of a search: `last` is where the next page starts, `None` at the end.
#[derive(Debug)]
pub struct CatalogPage {
    pub packages: Vec<Package>,
    pub last: Option<Item>,
}

/// Reading the catalogue.
pub trait PackageCatalog {
    const IAM_ACTIONS: &'static [&'static str];

    /// The package, whoever may see it (callers decide what to reveal).
    fn package(
        &self,
        name: &PackageName,
    ) -> impl Future<Output = Result<Option<Package>, StoreError>> + Send;

    /// Up to `limit` packages the viewer may see, in name order, whose name
    /// or description contains `q`, starting after `after`. Evaluates at most
    /// [`MAX_EVALUATED`] items: a page may be short, or empty, and still have
    /// a `last`. An item that does not decode fails the page.
    fn search(
        &self,
        search: &Search<'_>,
        after: Option<Item>,
    ) -> impl Future<Output = Result<CatalogPage, StoreError>> + Send;
}

/// The `gsi1` position of a package, as `LastEvaluatedKey` would give it.
fn position(name: &PackageName) -> Item {
    Item::from([
        ("pk".to_owned(), s(package_pk(name))),
        ("sk".to_owned(), s(META_SK)),
        ("gsi1pk".to_owned(), s(PACKAGES_GSI_PK)),
        ("gsi1sk".to_owned(), s(name.as_str())),
    ])
}

impl PackageCatalog for Store {
    /// `GetItem` (a package), `Query` (`gsi1`, a search).
    const IAM_ACTIONS: &'static [&'static str] = &["dynamodb:GetItem", "dynamodb:Query"];

    async fn package(&self, name: &PackageName) -> Result<Option<Package>, StoreError> {
        self.dynamo()
            .get(s(package_pk(name)), s(META_SK))
            .await?
            .map(|item| decode("GetItem", item))
            .transpose()
    }

    async fn search(
        &self,
        search: &Search<'_>,
        after: Option<Item>,
    ) -> Result<CatalogPage, StoreError> {
        let limit = search.limit.max(1) as usize;
        let mut found: Vec<Package> = Vec::new();
        let mut budget = MAX_EVALUATED;
        let mut start = after;
        loop {
            let mut request = self
                .dynamo()
                .query_gsi1(PACKAGES_GSI_PK)
                // DynamoDB's Limit counts the items evaluated, before the filter.
                .limit(budget)
                .set_exclusive_start_key(start.take());
            if let Some(q) = search.q {
                request = request
                    .filter_expression("contains(#name, :q) OR contains(#description_lc, :q)")
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_names("#description_lc", "description_lc")
                    .expression_attribute_values(":q", s(q.to_lowercase()));
            }
            let out = request
                .send()
                .await
                .map_err(|e| StoreError::sdk("Query", &e))?;
            budget -= out.scanned_count.max(1);
            let last_key = out.last_evaluated_key;
            let mut items = out.items.unwrap_or_default().into_iter().peekable();
            while let Some(item) = items.next() {
                let package: Package = decode("Query", item)?;
                if !package.visible_to(search.viewer) {
                    continue;
                }
                found.push(package);
                if found.len() == limit {
                    let more = items.peek().is_some() || last_key.is_some();
                    let last = found.last().filter(|_| more).map(|p| position(&p.name));
                    return Ok(CatalogPage {
                        packages: found,
                        last,
                    });
                }
            }
            match last_key {
                Some(key) if budget > 0 => start = Some(key),
                last => {
                    return Ok(CatalogPage {
                        packages: found,
                        last,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::auth::{Credential, Role};

    fn caller(name: &str, roles: &[Role], groups: &[&str]) -> Caller {
        Caller {
            username: Username::parse(name).unwrap(),
            roles: roles.to_vec(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            credential: Credential::AccessToken { jti: "j".into() },
        }
    }

    fn package(sensitive: bool) -> Package {
        Package {
            name: PackageName::parse("vault").unwrap(),
            owner: Username::parse("owner").unwrap(),
            description: String::new(),
            sensitive,
            groups: vec!["security".into()],
            latest_version: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn a_sensitive_package_is_visible_only_to_admins_its_owner_and_its_groups() {
        let hidden = package(true);
        assert!(hidden.visible_to(&caller("owner", &[Role::Publisher], &[])));
        assert!(hidden.visible_to(&caller("member", &[Role::Reader], &["security"])));
        assert!(hidden.visible_to(&caller("boss", &[Role::Admin], &[])));
        assert!(!hidden.visible_to(&caller("outsider", &[Role::Publisher], &["ops"])));
        assert!(package(false).visible_to(&caller("outsider", &[Role::Reader], &[])));
    }

    #[test]
    fn a_package_item_without_its_owner_does_not_decode() {
        let item = Item::from([
            ("pk".to_owned(), s("PKG#broken")),
            ("sk".to_owned(), s("META")),
            ("name".to_owned(), s("broken")),
            ("created_at".to_owned(), s("t")),
            ("updated_at".to_owned(), s("t")),
        ]);
        let err = decode::<Package>("GetItem", item).unwrap_err();
        assert!(err.detail.contains("PKG#broken/META"), "{err}");
    }
}
