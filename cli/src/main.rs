//! `cloudkeep`: the command line of the cloudkeep API.

mod args;
mod client;
mod commands;
mod config;
mod download;
mod error;
mod manifest;
mod output;
mod publish;
mod transfer;

use std::time::Duration;

use clap::{CommandFactory, Parser};
use serde_json::json;
use tokio::sync::Mutex;

use args::{Cli, Command};
use client::{Api, Auth};
use config::{Credentials, DEFAULT_ENDPOINT, Profile};
use error::{CliError, Exit, Result};
use output::{Output, Style};

fn main() {
    let cli = Cli::parse();
    let out = Output::new(cli.global.json, cli.global.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(async {
            tokio::select! {
                outcome = run(cli, &out) => outcome,
                _ = tokio::signal::ctrl_c() => Err(CliError::new(
                    Exit::Interrupted,
                    "interrupted; a publish or download resumes when run again",
                )),
            }
        }),
        Err(e) => Err(CliError::unexpected(format!("cannot start: {e}"))),
    };
    if let Err(e) = outcome {
        eprintln!("{} {e}", out.paint("error:", Style::Bad));
        std::process::exit(e.exit as i32);
    }
}

async fn run(cli: Cli, out: &Output) -> Result<()> {
    let global = cli.global;
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "cloudkeep",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let mut credentials = Credentials::load()?;
    let stored = credentials.profiles.get(&global.profile).cloned();
    let endpoint = global
        .endpoint
        .clone()
        .or_else(|| stored.as_ref().map(|p| p.endpoint.clone()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        return Err(CliError::bad_input(format!(
            "--endpoint {endpoint:?} is not an http(s) URL"
        )));
    }
    let http = client::http_client()?;
    let auth = match (&global.api_key, stored) {
        (Some(key), _) => Auth::ApiKey(key.clone()),
        // A profile signed in elsewhere is not sent to another endpoint.
        (None, Some(profile))
            if profile.refresh_token.is_some() && same_origin(&profile.endpoint, &endpoint) =>
        {
            Auth::Session {
                name: global.profile.clone(),
                profile: Mutex::new(profile),
            }
        }
        _ => Auth::None,
    };
    let api = Api::new(endpoint.clone(), http.clone(), auth);

    match cli.command {
        Command::Completions { .. } => {}
        Command::Login {
            username,
            password_stdin,
        } => {
            let anonymous = Api::new(endpoint.clone(), http, Auth::None);
            let pair = commands::login(&anonymous, username, password_stdin).await?;
            let mut profile = Profile {
                endpoint: api.endpoint.clone(),
                ..Profile::default()
            };
            client::apply_pair(&mut profile, &pair)?;
            let signed_in = Api::new(
                endpoint,
                anonymous.http.clone(),
                Auth::Session {
                    name: global.profile.clone(),
                    profile: Mutex::new(profile.clone()),
                },
            );
            let me = signed_in.get("/v1/auth/me").await?;
            profile.username = me["username"].as_str().map(str::to_owned);
            credentials.profiles.insert(global.profile.clone(), profile);
            credentials.save()?;
            out.show(&me, |out| {
                out.line(&format!(
                    "signed in to {} as {} (profile {})",
                    signed_in.endpoint,
                    me["username"].as_str().unwrap_or("?"),
                    global.profile
                ));
            });
        }
        Command::Logout => {
            let Some(profile) = credentials.profiles.remove(&global.profile) else {
                out.note(&format!("profile {} is not signed in", global.profile));
                return Ok(());
            };
            if let Some(refresh) = &profile.refresh_token {
                // Revoke the family; forget it locally whatever the API says.
                if let Err(e) = api
                    .post("/v1/auth/logout", &json!({"refresh_token": refresh}))
                    .await
                {
                    out.warn(&format!("the API did not revoke the session: {e}"));
                }
            }
            credentials.save()?;
            out.line(&format!(
                "signed {} out of {}",
                profile.username.as_deref().unwrap_or("you"),
                profile.endpoint
            ));
        }
        Command::Whoami => {
            let me = api.get("/v1/auth/me").await?;
            commands::show_user(out, &me);
        }
        Command::Publish(a) => {
            let result = publish::run(
                &api,
                out,
                publish::Publish {
                    file: a.file,
                    name: a.name,
                    version: a.version,
                    description: a.description,
                    sensitive: a.sensitive,
                    groups: a.groups,
                    jobs: usize::from(a.jobs),
                    part_size: a.part_size.map(|mib| mib << 20),
                    max_rate: a.rate.max_rate,
                    wait: !a.no_wait,
                    wait_timeout: Duration::from_secs(a.wait_timeout),
                },
            )
            .await?;
            out.show(&result, |_| {});
        }
        Command::Download {
            package,
            output,
            force,
            rate,
        } => {
            let result = download::run(
                &api,
                out,
                download::Download {
                    package,
                    output,
                    force,
                    max_rate: rate.max_rate,
                },
            )
            .await?;
            out.show(&result, |_| {});
        }
        Command::Packages(command) => commands::packages(&api, out, command).await?,
        Command::Scan {
            accounts,
            regions,
            services,
            wait,
        } => {
            commands::scan(&api, out, accounts, regions, services, wait).await?;
        }
        Command::Scans(command) => commands::scans(&api, out, command).await?,
        Command::Resources {
            account_id,
            region,
            service,
            kind,
            state,
            tag,
            query,
            page,
        } => {
            let filters = vec![
                ("account_id", account_id),
                ("region", region),
                ("service", service),
                ("type", kind),
                ("state", state),
                ("tag", tag),
                ("q", query),
            ];
            commands::resources(&api, out, filters, &page).await?;
        }
        Command::Findings {
            severity,
            category,
            check_id,
            service,
            account_id,
            region,
            status,
            page,
        } => {
            let filters = vec![
                ("severity", severity),
                ("category", category),
                ("check_id", check_id),
                ("service", service),
                ("account_id", account_id),
                ("region", region),
                ("status", status),
            ];
            commands::findings(&api, out, filters, &page).await?;
        }
        Command::Summary => commands::summary(&api, out).await?,
        Command::Act {
            resource_arn,
            action,
            apply,
            reason,
            yes,
        } => {
            commands::act(&api, out, resource_arn, action, apply, reason, yes).await?;
        }
        Command::Accounts(command) => commands::accounts(&api, out, command).await?,
        Command::Keys(command) => commands::keys(&api, out, command).await?,
        Command::Users(command) => commands::users(&api, out, command).await?,
        Command::Report {
            format,
            kind,
            output,
            filters,
            force,
        } => {
            commands::report(&api, out, format, kind, &output, filters, force).await?;
        }
    }
    Ok(())
}

fn same_origin(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}
