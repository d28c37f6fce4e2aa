//! The users table as more than one program reads it: the authenticator of
//! every HTTP function ([`CredentialLookup`]) and the operator's admin
//! bootstrap ([`UsersStore::put_user`]). What only the auth function does to
//! the table (sign-up, refresh families, API keys, login attempts) lives in
//! that function's crate, over the same [`UsersStore::dynamo`] table.
//!
//! Keys: `USER#{name}/PROFILE`, `REFRESH#{sha256}/TOKEN`, `FAMILY#{id}/FAMILY`,
//! `APIKEY#{sha256}/KEY` (listed per user through `gsi1`),
//! `LOGINATTEMPTS#{name}/WINDOW`.

use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Role;
use crate::domain::Username;
use crate::dynamo::{self, Item, StoreError, s};

/// A user as stored (the password hash never leaves this module's callers' edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: Username,
    pub email: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub groups: Vec<String>,
    pub disabled: bool,
    pub created_at: String,
}

/// `user` of `API.md`: never a hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String, example = "alice")]
    pub username: Username,
    pub email: String,
    pub roles: Vec<Role>,
    pub groups: Vec<String>,
    pub disabled: bool,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            email: u.email.clone(),
            roles: u.roles.clone(),
            groups: u.groups.clone(),
            disabled: u.disabled,
            created_at: u.created_at.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub username: Username,
    pub prefix: String,
    pub created_at: String,
    /// Unix seconds; `None` for a key that does not expire.
    pub expires_at: Option<i64>,
}

/// The key of a user's item.
pub fn user_key(username: &Username) -> (AttributeValue, AttributeValue) {
    (s(format!("USER#{username}")), s("PROFILE"))
}

/// The key of an API key's item, by the key's hash.
pub fn api_key_key(key_hash: &str) -> (AttributeValue, AttributeValue) {
    (s(format!("APIKEY#{key_hash}")), s("KEY"))
}

/// A user's item (`USER#{name}/PROFILE`), as DynamoDB holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub username: Username,
    pub email: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub groups: Vec<String>,
    pub disabled: bool,
    pub created_at: String,
    /// Refresh families remember the epoch they were started under; a new
    /// epoch (disabling the user, an operator's reset) ends all of them.
    /// Absent on users never disabled or reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_epoch: Option<String>,
}

impl UserItem {
    pub fn new(user: &User, session_epoch: Option<String>) -> Self {
        Self {
            pk: format!("USER#{}", user.username),
            sk: "PROFILE".into(),
            gsi1pk: "USERS".into(),
            gsi1sk: user.username.to_string(),
            username: user.username.clone(),
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            roles: user.roles.clone(),
            groups: user.groups.clone(),
            disabled: user.disabled,
            created_at: user.created_at.clone(),
            session_epoch,
        }
    }

    pub fn user(&self) -> User {
        User {
            username: self.username.clone(),
            email: self.email.clone(),
            password_hash: self.password_hash.clone(),
            roles: self.roles.clone(),
            groups: self.groups.clone(),
            disabled: self.disabled,
            created_at: self.created_at.clone(),
        }
    }

    pub fn item(&self) -> Result<Item, StoreError> {
        encode("PutItem", &self.pk, self)
    }
}

/// An API key's item (`APIKEY#{sha256}/KEY`), listed per user through `gsi1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub id: String,
    pub name: String,
    pub username: Username,
    pub prefix: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// DynamoDB's TTL attribute: the same instant as `expires_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl ApiKeyItem {
    pub fn new(key_hash: &str, record: &ApiKeyRecord) -> Self {
        Self {
            pk: format!("APIKEY#{key_hash}"),
            sk: "KEY".into(),
            gsi1pk: format!("APIKEYS#{}", record.username),
            gsi1sk: format!("{}#{}", record.created_at, record.id),
            id: record.id.clone(),
            name: record.name.clone(),
            username: record.username.clone(),
            prefix: record.prefix.clone(),
            created_at: record.created_at.clone(),
            expires_at: record.expires_at,
            ttl: record.expires_at,
        }
    }

    /// The hash the key is stored under.
    pub fn key_hash(&self) -> &str {
        self.pk.strip_prefix("APIKEY#").unwrap_or_default()
    }

    pub fn record(&self) -> ApiKeyRecord {
        ApiKeyRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            username: self.username.clone(),
            prefix: self.prefix.clone(),
            created_at: self.created_at.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// A stored item as `T`; one that does not decode is a bug, named by `key`
/// (logged, answered 500), never a silent absence.
pub fn decode<T: DeserializeOwned>(
    operation: &'static str,
    key: &str,
    item: Item,
) -> Result<T, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::corrupt(operation, format!("the item {key} does not decode: {e}")))
}

/// `value` as an item; failing means the type cannot be stored (a bug).
pub fn encode<T: Serialize>(
    operation: &'static str,
    key: &str,
    value: &T,
) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value)
        .map_err(|e| StoreError::corrupt(operation, format!("the item {key} does not encode: {e}")))
}

/// What the authenticator of every function reads: a user, and an API key's owner.
pub trait CredentialLookup {
    /// The AWS actions these reads call.
    const IAM_ACTIONS: &'static [&'static str];

    fn get_user(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// The API key stored under `key_hash`; an expired one is absent.
    fn get_api_key(
        &self,
        key_hash: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, StoreError>> + Send;
}

/// The users table over DynamoDB.
#[derive(Clone, Debug)]
pub struct UsersStore {
    table: dynamo::Table,
}

impl UsersStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            table: dynamo::Table::new(client, table),
        }
    }

    pub fn table(&self) -> &str {
        &self.table.name
    }

    /// The table itself, for the auth function's own stores over it.
    pub fn dynamo(&self) -> &dynamo::Table {
        &self.table
    }

    /// A user's item whole (with its session epoch).
    pub async fn get_user_item(&self, username: &Username) -> Result<Option<UserItem>, StoreError> {
        let (pk, sk) = user_key(username);
        match self.table.get(pk, sk).await? {
            Some(item) => decode("GetItem", &format!("USER#{username}/PROFILE"), item).map(Some),
            None => Ok(None),
        }
    }

    pub async fn get_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.get_user_item(username).await?.map(|i| i.user()))
    }

    /// What [`Self::put_user`] calls: the operator's bootstrap, not a function's.
    pub const PUT_USER_IAM_ACTIONS: &'static [&'static str] = &["dynamodb:PutItem"];

    /// Creates or replaces a user: the operator's admin bootstrap and reset
    /// only. A new session epoch ends every refresh family the user had.
    pub async fn put_user(&self, user: &User) -> Result<(), StoreError> {
        let item = UserItem::new(user, Some(crate::auth::random_token())).item()?;
        self.table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(item))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    pub async fn get_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let (pk, sk) = api_key_key(key_hash);
        match self.table.get(pk, sk).await? {
            Some(item) => {
                let item: ApiKeyItem = decode("GetItem", &format!("APIKEY#{key_hash}/KEY"), item)?;
                Ok(Some(item.record()))
            }
            None => Ok(None),
        }
    }
}

impl CredentialLookup for UsersStore {
    const IAM_ACTIONS: &'static [&'static str] = &["dynamodb:GetItem"];

    async fn get_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        UsersStore::get_user(self, username).await
    }

    async fn get_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        UsersStore::get_api_key(self, key_hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            username: Username::parse("alice").unwrap(),
            email: "alice@example.com".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$salt$hash".into(),
            roles: vec![Role::Reader, Role::Admin],
            groups: vec![],
            disabled: false,
            created_at: "2026-11-26T00:00:00Z".into(),
        }
    }

    #[test]
    fn user_item_round_trips_in_the_stored_shape() {
        let item = UserItem::new(&user(), None).item().unwrap();
        assert_eq!(item["pk"], s("USER#alice"));
        assert_eq!(item["gsi1pk"], s("USERS"));
        assert_eq!(item["disabled"], AttributeValue::Bool(false));
        assert_eq!(
            item["roles"],
            AttributeValue::L(vec![s("reader"), s("admin")])
        );
        assert_eq!(item["groups"], AttributeValue::L(vec![]));
        assert!(!item.contains_key("session_epoch"));
        let back: UserItem = decode("GetItem", "USER#alice/PROFILE", item).unwrap();
        assert_eq!(back.user(), user());
    }

    #[test]
    fn corrupt_user_item_is_a_bug_naming_its_key() {
        let mut item = UserItem::new(&user(), None).item().unwrap();
        item.insert("roles".into(), AttributeValue::L(vec![s("superuser")]));
        let err = decode::<UserItem>("GetItem", "USER#alice/PROFILE", item).unwrap_err();
        assert_eq!(err.kind, crate::aws::FailureKind::Bug);
        assert!(err.detail.contains("USER#alice/PROFILE"), "{err}");
        assert!(!err.detail.contains("argon2"), "{err}");
    }

    #[test]
    fn api_key_item_keeps_its_hash_and_expiry() {
        let record = ApiKeyRecord {
            id: "k1".into(),
            name: "ci".into(),
            username: Username::parse("alice").unwrap(),
            prefix: "ck_abcdefgh".into(),
            created_at: "2026-11-26T00:00:00Z".into(),
            expires_at: Some(1_900_000_000),
        };
        let stored = ApiKeyItem::new("abc123", &record);
        let item = encode("PutItem", "APIKEY#abc123/KEY", &stored).unwrap();
        assert_eq!(item["ttl"], AttributeValue::N("1900000000".into()));
        assert_eq!(item["gsi1pk"], s("APIKEYS#alice"));
        let back: ApiKeyItem = decode("GetItem", "APIKEY#abc123/KEY", item).unwrap();
        assert_eq!((back.key_hash(), back.record()), ("abc123", record));
    }
}
