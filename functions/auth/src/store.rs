//! What only the auth function does to the users table, one trait per access
//! pattern, each declaring the DynamoDB actions it calls. The reads every
//! function shares (a user, an API key's owner) are `shared::users`.
//!
//! Every expression names its attributes through `#placeholders`.

use std::future::Future;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};
use shared::auth::Role;
use shared::domain::Username;
use shared::dynamo::{self, Item, StoreError, b, get_n, list, n, s};
use shared::users::{
    ApiKeyItem, ApiKeyRecord, User, UserItem, UsersStore, api_key_key, decode, encode, user_key,
};

/// A user with what only the auth function reads of them.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    /// The epoch a refresh family must have been started under to refresh.
    pub session_epoch: Option<String>,
}

impl From<UserItem> for Account {
    fn from(item: UserItem) -> Self {
        Self {
            user: item.user(),
            session_epoch: item.session_epoch,
        }
    }
}

/// What an admin may change about a user.
#[derive(Debug, Default)]
pub struct UserChanges<'a> {
    pub roles: Option<&'a [Role]>,
    pub groups: Option<&'a [String]>,
    pub disabled: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("it exists already")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sign-up, sign-in and the admin's user list.
pub trait Accounts {
    const IAM_ACTIONS: &'static [&'static str];

    /// A user and their session epoch.
    fn account(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Creates a user; never overwrites one (conditional put).
    fn create_user(&self, user: &User) -> impl Future<Output = Result<(), CreateError>> + Send;

    /// One page of users in username order.
    fn list_users(
        &self,
        limit: u32,
        after: Option<Item>,
    ) -> impl Future<Output = Result<(Vec<User>, Option<Item>), StoreError>> + Send;

    /// Changes an existing user; `None` when there is no such user. Disabling
    /// starts a new session epoch in the same write: every refresh family of
    /// the user ends, for good (re-enabling does not revive them).
    fn update_user(
        &self,
        username: &Username,
        changes: &UserChanges<'_>,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
}

/// A stored refresh token (`REFRESH#{sha256}/TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub family: String,
    pub username: Username,
    pub spent: bool,
    pub expires_at: i64,
}

/// A refresh family (`FAMILY#{id}/FAMILY`): one login's chain of tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    pub username: Username,
    pub revoked: bool,
    /// The user's session epoch when the family started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_epoch: Option<String>,
}

/// How spending a refresh token ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Spend {
    /// The old token is spent and the new one stored, atomically.
    Rotated,
    /// Someone spent it first (a concurrent refresh), or the family was
    /// revoked meanwhile: nothing was written.
    Lost,
}

/// Refresh tokens and their families.
pub trait RefreshFamilies {
    const IAM_ACTIONS: &'static [&'static str];

    /// Starts a family with its first token (login), under `session_epoch`.
    fn start_family(
        &self,
        family: &str,
        username: &Username,
        session_epoch: Option<&str>,
        token_hash: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn refresh_token(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<RefreshToken>, StoreError>> + Send;

    fn family(
        &self,
        family: &str,
    ) -> impl Future<Output = Result<Option<Family>, StoreError>> + Send;

    /// Spends `old_hash` and stores `new_hash` in one transaction, on the
    /// conditions that the old token is unspent and its family not revoked.
    /// Of two concurrent spends of one token exactly one is `Rotated`.
    fn spend_refresh_token(
        &self,
        family: &str,
        username: &Username,
        old_hash: &str,
        new_hash: &str,
        expires_at: i64,
    ) -> impl Future<Output = Result<Spend, StoreError>> + Send;

    /// Revokes a family: none of its tokens refreshes again.
    fn revoke_family(&self, family: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A user's own API keys (the authenticator reads them through `CredentialLookup`).
pub trait ApiKeys {
    const IAM_ACTIONS: &'static [&'static str];

    fn put_api_key(
        &self,
        key_hash: &str,
        record: &ApiKeyRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user's keys with their hashes, oldest first (at most 1,000: the UI
    /// of a person, not a bulk store).
    fn list_api_keys(
        &self,
        username: &Username,
    ) -> impl Future<Output = Result<Vec<(String, ApiKeyRecord)>, StoreError>> + Send;

    /// Deletes a key, only if it is `username`'s.
    fn delete_api_key(
        &self,
        key_hash: &str,
        username: &Username,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Whether a login attempt may go on to check the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted within the window's allowance: check the password.
    Counted,
    /// The allowance is spent: refuse without checking anything.
    Refused { retry_after_secs: u64 },
}

/// Login attempts per username and window: counted *before* the password is
/// checked, so concurrent guesses cannot outrun the count.
pub trait LoginAttempts {
    const IAM_ACTIONS: &'static [&'static str];

    /// Counts one attempt if fewer than `max` were counted in the open window
    /// (opening one when the last has passed), in one conditional write.
    fn count_attempt(
        &self,
        username: &str,
        now: i64,
        max: u32,
        window_secs: i64,
    ) -> impl Future<Output = Result<Attempt, StoreError>> + Send;

    /// Forgets the attempts (after a successful login).
    fn clear_attempts(&self, username: &str)
    -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The auth function's stores, over the users table.
#[derive(Clone, Debug)]
pub struct AuthStore {
    table: dynamo::Table,
}

impl AuthStore {
    pub fn new(users: &UsersStore) -> Self {
        Self {
            table: users.dynamo().clone(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table.name
    }

    fn token_put(
        &self,
        family: &str,
        username: &Username,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<Put, StoreError> {
        let key = format!("REFRESH#{token_hash}");
        let mut item = encode(
            "TransactWriteItems",
            &key,
            &RefreshToken {
                family: family.to_owned(),
                username: username.clone(),
                spent: false,
                expires_at,
            },
        )?;
        item.insert("pk".into(), s(key));
        item.insert("sk".into(), s("TOKEN"));
        item.insert("ttl".into(), n(expires_at));
        Put::builder()
            .table_name(&self.table.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .build()
            .map_err(|e| StoreError::corrupt("TransactWriteItems", e.to_string()))
    }
}

impl Accounts for AuthStore {
    const IAM_ACTIONS: &'static [&'static str] = &[
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ];

    async fn account(&self, username: &Username) -> Result<Option<Account>, StoreError> {
        let (pk, sk) = user_key(username);
        match self.table.get(pk, sk).await? {
            Some(item) => {
                let item: UserItem = decode("GetItem", &format!("USER#{username}/PROFILE"), item)?;
                Ok(Some(item.into()))
            }
            None => Ok(None),
        }
    }

    async fn create_user(&self, user: &User) -> Result<(), CreateError> {
        match self
            .table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(UserItem::new(user, None).item()?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => Err(CreateError::Exists),
            Err(e) => Err(StoreError::sdk("PutItem", &e).into()),
        }
    }

    async fn list_users(
        &self,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<User>, Option<Item>), StoreError> {
        let out = self
            .table
            .query_gsi1("USERS")
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        let users = out
            .items()
            .iter()
            .map(|item| {
                let key = item_key(item);
                decode::<UserItem>("Query", &key, item.clone()).map(|u| u.user())
            })
            .collect::<Result<_, _>>()?;
        Ok((users, out.last_evaluated_key))
    }

    async fn update_user(
        &self,
        username: &Username,
        changes: &UserChanges<'_>,
    ) -> Result<Option<User>, StoreError> {
        let (pk, sk) = user_key(username);
        let mut sets = Vec::new();
        let mut request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .return_values(ReturnValue::AllNew);
        if let Some(roles) = changes.roles {
            sets.push("#roles = :roles");
            request = request
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":roles", list(roles.iter().map(|r| r.as_str())));
        }
        if let Some(groups) = changes.groups {
            sets.push("#groups = :groups");
            request = request
                .expression_attribute_names("#groups", "groups")
                .expression_attribute_values(":groups", list(groups.iter().cloned()));
        }
        if let Some(disabled) = changes.disabled {
            sets.push("#disabled = :disabled");
            request = request
                .expression_attribute_names("#disabled", "disabled")
                .expression_attribute_values(":disabled", b(disabled));
            if disabled {
                sets.push("#epoch = :epoch");
                request = request
                    .expression_attribute_names("#epoch", "session_epoch")
                    .expression_attribute_values(":epoch", s(shared::auth::random_token()));
            }
        }
        if sets.is_empty() {
            return Ok(self.account(username).await?.map(|a| a.user));
        }
        match request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(out) => match out.attributes {
                Some(item) => {
                    let item: UserItem =
                        decode("UpdateItem", &format!("USER#{username}/PROFILE"), item)?;
                    Ok(Some(item.user()))
                }
                None => Err(StoreError::corrupt(
                    "UpdateItem",
                    format!("USER#{username}/PROFILE: no attributes returned"),
                )),
            },
            Err(e) if dynamo::condition_failed(&e) => Ok(None),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }
}

/// `pk/sk` of an item, to name it in an error.
fn item_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => "?".into(),
    };
    format!("{}/{}", part("pk"), part("sk"))
}

impl RefreshFamilies for AuthStore {
    const IAM_ACTIONS: &'static [&'static str] = &[
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ];

    async fn start_family(
        &self,
        family: &str,
        username: &Username,
        session_epoch: Option<&str>,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let key = format!("FAMILY#{family}");
        let mut item = encode(
            "TransactWriteItems",
            &key,
            &Family {
                username: username.clone(),
                revoked: false,
                session_epoch: session_epoch.map(str::to_owned),
            },
        )?;
        item.insert("pk".into(), s(key));
        item.insert("sk".into(), s("FAMILY"));
        item.insert("ttl".into(), n(expires_at));
        let family_put = Put::builder()
            .table_name(&self.table.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .build()
            .map_err(|e| StoreError::corrupt("TransactWriteItems", e.to_string()))?;
        let token_put = self.token_put(family, username, token_hash, expires_at)?;
        self.table
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(family_put).build())
            .transact_items(TransactWriteItem::builder().put(token_put).build())
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("TransactWriteItems", &e))
    }

    async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>, StoreError> {
        let key = format!("REFRESH#{token_hash}");
        match self.table.get(s(&key), s("TOKEN")).await? {
            Some(item) => decode("GetItem", &format!("{key}/TOKEN"), item).map(Some),
            None => Ok(None),
        }
    }

    async fn family(&self, family: &str) -> Result<Option<Family>, StoreError> {
        let key = format!("FAMILY#{family}");
        match self.table.get(s(&key), s("FAMILY")).await? {
            Some(item) => decode("GetItem", &format!("{key}/FAMILY"), item).map(Some),
            None => Ok(None),
        }
    }

    async fn spend_refresh_token(
        &self,
        family: &str,
        username: &Username,
        old_hash: &str,
        new_hash: &str,
        expires_at: i64,
    ) -> Result<Spend, StoreError> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| {
            StoreError::corrupt("TransactWriteItems", e.to_string())
        };
        let spend = Update::builder()
            .table_name(&self.table.name)
            .key("pk", s(format!("REFRESH#{old_hash}")))
            .key("sk", s("TOKEN"))
            .update_expression("SET #spent = :t")
            .condition_expression("#spent = :f")
            .expression_attribute_names("#spent", "spent")
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(built)?;
        let family_check = ConditionCheck::builder()
            .table_name(&self.table.name)
            .key("pk", s(format!("FAMILY#{family}")))
            .key("sk", s("FAMILY"))
            .condition_expression("#revoked = :f")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(built)?;
        let put = self.token_put(family, username, new_hash, expires_at)?;
        match self
            .table
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(spend).build())
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(family_check)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await
        {
            Ok(_) => Ok(Spend::Rotated),
            Err(e) if dynamo::condition_failed(&e) => Ok(Spend::Lost),
            Err(e) => Err(StoreError::sdk("TransactWriteItems", &e)),
        }
    }

    async fn revoke_family(&self, family: &str) -> Result<(), StoreError> {
        match self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("FAMILY#{family}")))
            .key("sk", s("FAMILY"))
            .update_expression("SET #revoked = :t")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#revoked", "revoked")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":t", b(true))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => Ok(()),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }
}

impl ApiKeys for AuthStore {
    const IAM_ACTIONS: &'static [&'static str] =
        &["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query"];

    async fn put_api_key(&self, key_hash: &str, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let stored = ApiKeyItem::new(key_hash, record);
        let item = encode("PutItem", &stored.pk, &stored)?;
        self.table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    async fn list_api_keys(
        &self,
        username: &Username,
    ) -> Result<Vec<(String, ApiKeyRecord)>, StoreError> {
        let now = dynamo::now();
        let out = self
            .table
            .query_gsi1(format!("APIKEYS#{username}"))
            .limit(1000)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        out.items()
            .iter()
            .filter(|item| !dynamo::expired(item, now))
            .map(|item| {
                let stored: ApiKeyItem = decode("Query", &item_key(item), item.clone())?;
                Ok((stored.key_hash().to_owned(), stored.record()))
            })
            .collect()
    }

    async fn delete_api_key(
        &self,
        key_hash: &str,
        username: &Username,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = api_key_key(key_hash);
        match self
            .table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("#username = :u")
            .expression_attribute_names("#username", "username")
            .expression_attribute_values(":u", s(username.as_str()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("DeleteItem", &e)),
        }
    }
}

fn attempts_key(username: &str) -> (AttributeValue, AttributeValue) {
    (s(format!("LOGINATTEMPTS#{username}")), s("WINDOW"))
}

impl LoginAttempts for AuthStore {
    const IAM_ACTIONS: &'static [&'static str] = &["dynamodb:DeleteItem", "dynamodb:UpdateItem"];

    async fn count_attempt(
        &self,
        username: &str,
        now: i64,
        max: u32,
        window_secs: i64,
    ) -> Result<Attempt, StoreError> {
        let open_after = now - window_secs;
        // A lost race (a concurrent attempt reopened the window first) only
        // means trying the count again; three rounds are more than enough.
        for _ in 0..3 {
            let (pk, sk) = attempts_key(username);
            let counted = self
                .table
                .client
                .update_item()
                .table_name(&self.table.name)
                .key("pk", pk)
                .key("sk", sk)
                .update_expression(
                    "SET #start = if_not_exists(#start, :now), #ttl = if_not_exists(#ttl, :ttl) \
                     ADD #attempts :one",
                )
                .condition_expression(
                    "attribute_not_exists(#start) OR (#start > :open_after AND #attempts < :max)",
                )
                .expression_attribute_names("#start", "window_start")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_names("#attempts", "attempts")
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":ttl", n(now + window_secs))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":open_after", n(open_after))
                .expression_attribute_values(":max", n(max))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match counted {
                Ok(_) => return Ok(Attempt::Counted),
                Err(e) if dynamo::condition_failed(&e) => e,
                Err(e) => return Err(StoreError::sdk("UpdateItem", &e)),
            };
            let started = match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    c.item().and_then(|old| get_n(old, "window_start"))
                }
                _ => None,
            };
            match started {
                Some(start) if start > open_after => {
                    let reopens = start + window_secs;
                    return Ok(Attempt::Refused {
                        retry_after_secs: u64::try_from(reopens - now).unwrap_or(0).max(1),
                    });
                }
                _ => {}
            }
            // The window has passed: open a new one with this attempt, unless a
            // concurrent attempt just did (then count into that one).
            let (pk, sk) = attempts_key(username);
            let reopened = self
                .table
                .client
                .update_item()
                .table_name(&self.table.name)
                .key("pk", pk)
                .key("sk", sk)
                .update_expression("SET #start = :now, #ttl = :ttl, #attempts = :one")
                .condition_expression("#start <= :open_after")
                .expression_attribute_names("#start", "window_start")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_names("#attempts", "attempts")
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":ttl", n(now + window_secs))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":open_after", n(open_after))
                .send()
                .await;
            match reopened {
                Ok(_) => return Ok(Attempt::Counted),
                Err(e) if dynamo::condition_failed(&e) => continue,
                Err(e) => return Err(StoreError::sdk("UpdateItem", &e)),
            }
        }
        // Contended beyond reason: refuse this one rather than check a password uncounted.
        Ok(Attempt::Refused {
            retry_after_secs: 1,
        })
    }

    async fn clear_attempts(&self, username: &str) -> Result<(), StoreError> {
        let (pk, sk) = attempts_key(username);
        self.table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk)
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("DeleteItem", &e))
    }
}
