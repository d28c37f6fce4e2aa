//! The users table: users, refresh-token families, API keys, login-failure
//! counters. One method per access pattern; the ones that must not race say so.
//!
//! Keys: `USER#{name}/PROFILE`, `REFRESH#{sha256}/TOKEN`, `FAMILY#{id}/FAMILY`,
//! `APIKEY#{sha256}/KEY` (listed per user through `gsi1`), `LOGINFAIL#{name}/WINDOW`.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Role;
use crate::domain::Username;
use crate::dynamo::{self, Item, StoreError, b, get_b, get_list, get_n, get_s, list, n, s};

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
pub struct RefreshToken {
    pub family: String,
    pub username: Username,
    pub spent: bool,
    pub expires_at: i64,
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

/// How spending a refresh token ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Spend {
    /// The old token is spent and the new one stored, atomically.
    Rotated,
    /// Someone spent it first (a concurrent refresh): nothing was written.
    Lost,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("it exists already")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone, Debug)]
pub struct UsersStore {
    table: dynamo::Table,
}

fn user_key(username: &str) -> (AttributeValue, AttributeValue) {
    (s(format!("USER#{username}")), s("PROFILE"))
}

fn user_from(item: &Item) -> Option<User> {
    Some(User {
        username: Username::parse(get_s(item, "username")?).ok()?,
        email: get_s(item, "email").unwrap_or_default().to_owned(),
        password_hash: get_s(item, "password_hash").unwrap_or_default().to_owned(),
        roles: get_list(item, "roles")
            .iter()
            .filter_map(|r| serde_json::from_value(serde_json::Value::String(r.clone())).ok())
            .collect(),
        groups: get_list(item, "groups"),
        disabled: get_b(item, "disabled").unwrap_or(false),
        created_at: get_s(item, "created_at").unwrap_or_default().to_owned(),
    })
}

fn user_item(user: &User) -> Item {
    let (pk, sk) = user_key(user.username.as_str());
    Item::from([
        ("pk".to_owned(), pk),
        ("sk".to_owned(), sk),
        ("gsi1pk".to_owned(), s("USERS")),
        ("gsi1sk".to_owned(), s(user.username.as_str())),
        ("username".to_owned(), s(user.username.as_str())),
        ("email".to_owned(), s(&user.email)),
        ("password_hash".to_owned(), s(&user.password_hash)),
        (
            "roles".to_owned(),
            list(user.roles.iter().map(|r| r.as_str())),
        ),
        ("groups".to_owned(), list(user.groups.iter().cloned())),
        ("disabled".to_owned(), b(user.disabled)),
        ("created_at".to_owned(), s(&user.created_at)),
    ])
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

    pub async fn get_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let (pk, sk) = user_key(username.as_str());
        Ok(self.table.get(pk, sk).await?.as_ref().and_then(user_from))
    }

    /// Creates a user; never overwrites one (conditional put).
    pub async fn create_user(&self, user: &User) -> Result<(), CreateError> {
        match self
            .table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(user_item(user)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => Err(CreateError::Exists),
            Err(e) => Err(StoreError::sdk("PutItem", &e).into()),
        }
    }

    /// Creates or replaces a user: the operator's admin bootstrap only.
    pub async fn put_user(&self, user: &User) -> Result<(), StoreError> {
        self.table
            .client
            .put_item()
            .table_name(&self.table.name)
            .set_item(Some(user_item(user)))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    /// One page of users in username order.
    pub async fn list_users(
        &self,
        limit: u32,
        after: Option<Item>,
    ) -> Result<(Vec<User>, Option<Item>), StoreError> {
        let out = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s("USERS"))
            .limit(limit as i32)
            .set_exclusive_start_key(after)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        let users = out.items().iter().filter_map(user_from).collect();
        Ok((users, out.last_evaluated_key))
    }

    /// Changes roles, groups or the disabled flag of an existing user;
    /// `None` when there is no such user.
    pub async fn update_user(
        &self,
        username: &Username,
        roles: Option<&[Role]>,
        groups: Option<&[String]>,
        disabled: Option<bool>,
    ) -> Result<Option<User>, StoreError> {
        let mut sets = Vec::new();
        let (pk, sk) = user_key(username.as_str());
        let mut request = self
            .table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", pk)
            .key("sk", sk)
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if let Some(roles) = roles {
            sets.push("#roles = :roles");
            request = request
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":roles", list(roles.iter().map(|r| r.as_str())));
        }
        if let Some(groups) = groups {
            sets.push("#groups = :groups");
            request = request
                .expression_attribute_names("#groups", "groups")
                .expression_attribute_values(":groups", list(groups.iter().cloned()));
        }
        if let Some(disabled) = disabled {
            sets.push("disabled = :disabled");
            request = request.expression_attribute_values(":disabled", b(disabled));
        }
        if sets.is_empty() {
            return self.get_user(username).await;
        }
        match request
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(out) => Ok(out.attributes.as_ref().and_then(user_from)),
            Err(e) if dynamo::condition_failed(&e) => Ok(None),
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }

    // ---- refresh tokens -------------------------------------------------

    /// Starts a family with its first token (login).
    pub async fn start_family(
        &self,
        family: &str,
        username: &Username,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let family_put = Put::builder()
            .table_name(&self.table.name)
            .item("pk", s(format!("FAMILY#{family}")))
            .item("sk", s("FAMILY"))
            .item("username", s(username.as_str()))
            .item("revoked", b(false))
            .item("ttl", n(expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::sdk("TransactWriteItems", &e))?;
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

    fn token_put(
        &self,
        family: &str,
        username: &Username,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table.name)
            .item("pk", s(format!("REFRESH#{token_hash}")))
            .item("sk", s("TOKEN"))
            .item("family", s(family))
            .item("username", s(username.as_str()))
            .item("spent", b(false))
            .item("expires_at", n(expires_at))
            .item("ttl", n(expires_at))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::sdk("TransactWriteItems", &e))
    }

    pub async fn get_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshToken>, StoreError> {
        let item = self
            .table
            .get(s(format!("REFRESH#{token_hash}")), s("TOKEN"))
            .await?;
        Ok(item.and_then(|item| {
            Some(RefreshToken {
                family: get_s(&item, "family")?.to_owned(),
                username: Username::parse(get_s(&item, "username")?).ok()?,
                spent: get_b(&item, "spent").unwrap_or(true),
                expires_at: get_n(&item, "expires_at").unwrap_or(0),
            })
        }))
    }

    /// Whether the family exists and is not revoked.
    pub async fn family_active(&self, family: &str) -> Result<bool, StoreError> {
        let item = self
            .table
            .get(s(format!("FAMILY#{family}")), s("FAMILY"))
            .await?;
        Ok(item.is_some_and(|i| get_b(&i, "revoked") == Some(false)))
    }

    /// Spends `old_hash` and stores `new_hash` in one transaction, on the
    /// conditions that the old token is unspent and its family not revoked.
    /// Of two concurrent spends of one token exactly one is `Rotated`.
    pub async fn spend_refresh_token(
        &self,
        family: &str,
        username: &Username,
        old_hash: &str,
        new_hash: &str,
        expires_at: i64,
    ) -> Result<Spend, StoreError> {
        let spend = Update::builder()
            .table_name(&self.table.name)
            .key("pk", s(format!("REFRESH#{old_hash}")))
            .key("sk", s("TOKEN"))
            .update_expression("SET spent = :t")
            .condition_expression("spent = :f")
            .expression_attribute_values(":t", b(true))
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(|e| StoreError::sdk("TransactWriteItems", &e))?;
        let family_check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table.name)
            .key("pk", s(format!("FAMILY#{family}")))
            .key("sk", s("FAMILY"))
            .condition_expression("revoked = :f")
            .expression_attribute_values(":f", b(false))
            .build()
            .map_err(|e| StoreError::sdk("TransactWriteItems", &e))?;
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

    /// Revokes a family: none of its tokens refreshes again.
    pub async fn revoke_family(&self, family: &str) -> Result<(), StoreError> {
        self.table
            .client
            .update_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("FAMILY#{family}")))
            .key("sk", s("FAMILY"))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", b(true))
            .send()
            .await
            .map(drop)
            .or_else(|e| {
                if dynamo::condition_failed(&e) {
                    Ok(())
                } else {
                    Err(StoreError::sdk("UpdateItem", &e))
                }
            })
    }

    // ---- API keys -------------------------------------------------------

    pub async fn put_api_key(
        &self,
        key_hash: &str,
        record: &ApiKeyRecord,
    ) -> Result<(), StoreError> {
        let mut request = self
            .table
            .client
            .put_item()
            .table_name(&self.table.name)
            .item("pk", s(format!("APIKEY#{key_hash}")))
            .item("sk", s("KEY"))
            .item("gsi1pk", s(format!("APIKEYS#{}", record.username)))
            .item("gsi1sk", s(format!("{}#{}", record.created_at, record.id)))
            .item("id", s(&record.id))
            .item("name", s(&record.name))
            .item("username", s(record.username.as_str()))
            .item("prefix", s(&record.prefix))
            .item("created_at", s(&record.created_at))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(expires_at) = record.expires_at {
            request = request
                .item("expires_at", n(expires_at))
                .item("ttl", n(expires_at));
        }
        request
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("PutItem", &e))
    }

    pub async fn get_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .table
            .get(s(format!("APIKEY#{key_hash}")), s("KEY"))
            .await?
            .as_ref()
            .and_then(api_key_from))
    }

    /// The user's keys, oldest first (at most 1,000: the UI of a person, not a bulk store).
    pub async fn list_api_keys(
        &self,
        username: &Username,
    ) -> Result<Vec<(String, ApiKeyRecord)>, StoreError> {
        let now = dynamo::now();
        let out = self
            .table
            .client
            .query()
            .table_name(&self.table.name)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(format!("APIKEYS#{username}")))
            .limit(1000)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", &e))?;
        Ok(out
            .items()
            .iter()
            .filter(|item| !dynamo::expired(item, now))
            .filter_map(|item| {
                let hash = get_s(item, "pk")?.strip_prefix("APIKEY#")?.to_owned();
                Some((hash, api_key_from(item)?))
            })
            .collect())
    }

    /// Deletes a key, only if it is `username`'s.
    pub async fn delete_api_key(
        &self,
        key_hash: &str,
        username: &Username,
    ) -> Result<bool, StoreError> {
        match self
            .table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("APIKEY#{key_hash}")))
            .key("sk", s("KEY"))
            .condition_expression("username = :u")
            .expression_attribute_values(":u", s(username.as_str()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if dynamo::condition_failed(&e) => Ok(false),
            Err(e) => Err(StoreError::sdk("DeleteItem", &e)),
        }
    }

    // ---- login throttling -----------------------------------------------

    /// Failed logins in the current window and when it started.
    pub async fn login_failures(&self, username: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let item = self
            .table
            .get(s(format!("LOGINFAIL#{username}")), s("WINDOW"))
            .await?;
        Ok(item.map(|i| {
            (
                get_n(&i, "count").unwrap_or(0),
                get_n(&i, "window_start").unwrap_or(0),
            )
        }))
    }

    /// Counts one failed login, atomically: increments the open window, or
    /// starts a new one when the last has passed.
    pub async fn record_login_failure(
        &self,
        username: &str,
        now: i64,
        window_secs: i64,
    ) -> Result<(), StoreError> {
        let key =
            |r: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
                r.table_name(&self.table.name)
                    .key("pk", s(format!("LOGINFAIL#{username}")))
                    .key("sk", s("WINDOW"))
            };
        let increment = key(self.table.client.update_item())
            .update_expression("ADD #count :one")
            .condition_expression("window_start > :open_after")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":open_after", n(now - window_secs))
            .send()
            .await;
        match increment {
            Ok(_) => Ok(()),
            Err(e) if dynamo::condition_failed(&e) => {
                // No open window: start one. If a concurrent failure started it first, count into it.
                let start = key(self.table.client.update_item())
                    .update_expression("SET #count = :one, window_start = :now, #ttl = :ttl")
                    .condition_expression(
                        "attribute_not_exists(window_start) OR window_start <= :open_after",
                    )
                    .expression_attribute_names("#count", "count")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":ttl", n(now + window_secs))
                    .expression_attribute_values(":open_after", n(now - window_secs))
                    .send()
                    .await;
                match start {
                    Ok(_) => Ok(()),
                    Err(e) if dynamo::condition_failed(&e) => {
                        Box::pin(self.record_login_failure(username, now, window_secs)).await
                    }
                    Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
                }
            }
            Err(e) => Err(StoreError::sdk("UpdateItem", &e)),
        }
    }

    pub async fn clear_login_failures(&self, username: &str) -> Result<(), StoreError> {
        self.table
            .client
            .delete_item()
            .table_name(&self.table.name)
            .key("pk", s(format!("LOGINFAIL#{username}")))
            .key("sk", s("WINDOW"))
            .send()
            .await
            .map(drop)
            .map_err(|e| StoreError::sdk("DeleteItem", &e))
    }
}

fn api_key_from(item: &Item) -> Option<ApiKeyRecord> {
    Some(ApiKeyRecord {
        id: get_s(item, "id")?.to_owned(),
        name: get_s(item, "name").unwrap_or_default().to_owned(),
        username: Username::parse(get_s(item, "username")?).ok()?,
        prefix: get_s(item, "prefix").unwrap_or_default().to_owned(),
        created_at: get_s(item, "created_at").unwrap_or_default().to_owned(),
        expires_at: get_n(item, "expires_at"),
    })
}
