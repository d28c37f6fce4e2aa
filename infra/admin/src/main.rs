//! cloudkeep-admin: create or reset an admin user.
//!
//!   USERS_TABLE=<table> cloudkeep-admin [--username admin] [--email admin@example.com]
//!
//! The password comes from CLOUDKEEP_ADMIN_PASSWORD; without it a random one
//! is generated and printed once. AWS credentials and region come from the
//! usual places (environment, profile, role).

use anyhow::{Context, Result, bail};
use shared::domain::Username;

#[tokio::main]
async fn main() -> Result<()> {
    let mut username = "admin".to_owned();
    let mut email = "admin@localhost".to_owned();
    let mut table = std::env::var("USERS_TABLE").ok();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--username" => username = args.next().context("--username needs a value")?,
            "--email" => email = args.next().context("--email needs a value")?,
            "--table" => table = Some(args.next().context("--table needs a value")?),
            _ => bail!(
                "usage: cloudkeep-admin [--table USERS_TABLE] [--username NAME] [--email EMAIL]"
            ),
        }
    }
    let table = table
        .context("name the users table with --table or USERS_TABLE (the stack's UsersTable)")?;
    let username = Username::parse(username)?;
    let (password, generated) = match std::env::var("CLOUDKEEP_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (cloudkeep_admin::random_password(), true),
    };
    let aws = shared::aws::load().await;
    let users = shared::users::UsersStore::new(shared::aws::dynamodb(&aws), table);
    cloudkeep_admin::ensure_admin(&users, &username, &email, &password).await?;
    println!("admin user {username} is ready");
    if generated {
        println!("password: {password}");
    }
    Ok(())
}
