//! `devstack`: the local stack's command line.
//!
//!   devstack serve             bootstrap the emulator from template.yaml, seed the demo
//!                              estate, serve every route on 127.0.0.1:$PORT, relay events
//!   devstack env               bootstrap, then print each function's environment as JSON
//!   devstack openapi [--check] write openapi.json from the code (or fail if it drifted)
//!
//! The emulator is found through `AWS_ENDPOINT_URL`, like every AWS client here.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use devstack::bootstrap::{self, Settings};
use devstack::template::Template;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve().await,
        Some("env") => print_env().await,
        Some("openapi") => openapi(args.get(1).map(String::as_str) == Some("--check")),
        _ => bail!("usage: devstack serve | devstack env | devstack openapi [--check]"),
    }
}

fn settings() -> Settings {
    Settings::new(std::env::var("CLOUDKEEP_STACK").unwrap_or_else(|_| "cloudkeep-local".to_owned()))
}

fn require_emulator() -> Result<()> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if url.starts_with("http://127.") => Ok(()),
        Ok(url) => {
            bail!("AWS_ENDPOINT_URL={url}: the local stack only talks to an emulator on loopback")
        }
        Err(_) => bail!("AWS_ENDPOINT_URL is not set: start the stack with `make dev`"),
    }
}

async fn serve() -> Result<()> {
    require_emulator()?;
    shared::telemetry::init();
    let started = Instant::now();
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .with_context(|| format!("PORT={p} is not a port number"))?,
        Err(_) => 3000,
    };
    let aws = shared::aws::load().await;
    let template = Template::repo()?;
    let stack = bootstrap::bootstrap(&aws, &template, &settings())
        .await
        .context("bootstrapping the emulator")?;
    let estate = devstack::seed::seed(&aws)
        .await
        .context("seeding the demo estate")?;
    let admin_password = match std::env::var("CLOUDKEEP_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => cloudkeep_admin::random_password(),
    };
    let users = shared::users::UsersStore::new(
        shared::aws::dynamodb(&aws),
        stack
            .physical("UsersTable")
            .context("the template has no UsersTable")?,
    );
    let admin = shared::domain::Username::parse("admin")?;
    cloudkeep_admin::ensure_admin(&users, &admin, "admin@localhost", &admin_password)
        .await
        .context("creating the dev admin")?;
    let routers = devstack::gateway::function_routers(&stack, &aws)?;
    let app = devstack::gateway::gateway(&template.routes(), &routers)?;
    let relays = devstack::relay::spawn_all(&stack, &aws)?;
    let first_scan = devstack::seed::first_scan(&aws, &stack)
        .await
        .context("queueing the demo account's first scan")?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} (set PORT to use another)"))?;
    let base = format!("http://127.0.0.1:{port}");
    println!();
    println!(
        "  stack     {} ({} routes, {} relays)",
        stack.settings.stack_name,
        template.routes().len(),
        relays.len()
    );
    println!(
        "  estate    {} demo instances {}",
        estate.instances,
        if estate.created {
            "seeded"
        } else {
            "already seeded"
        }
    );
    if let Some(scan_id) = &first_scan {
        println!("  scan      {scan_id} of the demo account, queued (findings in seconds)");
    }
    println!("  base URL  {base}");
    println!("  console   {base}/  (sign in as admin)");
    println!("  login     admin / {admin_password}");
    println!(
        "  cli       cloudkeep login --endpoint {base} --username admin  (cargo install --path cli)"
    );
    println!("  try       curl -s {base}/v1/health");
    println!(
        "            curl -s -X POST {base}/v1/auth/login -H 'content-type: application/json' \\\n                 -d '{{\"username\":\"admin\",\"password\":\"{admin_password}\"}}'"
    );
    println!(
        "  then      curl -s {base}/v1/summary -H \"authorization: Bearer $TOKEN\"  (and /v1/findings)"
    );
    println!("  up in     {} ms", started.elapsed().as_millis());
    println!();
    println!("cloudkeep ready on {base}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    for relay in relays {
        relay.abort();
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return ctrl_c.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or_default();
}

async fn print_env() -> Result<()> {
    require_emulator()?;
    let aws = shared::aws::load().await;
    let stack = bootstrap::bootstrap(&aws, &Template::repo()?, &settings()).await?;
    println!("{}", serde_json::to_string_pretty(&stack.environments)?);
    Ok(())
}

fn openapi(check: bool) -> Result<()> {
    let path = devstack::repo_root().join("openapi.json");
    let generated = devstack::openapi_json();
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            bail!("openapi.json is out of date: run `make openapi` and commit it");
        }
        println!("openapi.json matches the code");
    } else {
        std::fs::write(&path, generated)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
