//! Every command, flag and example, as `--help` shows them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::EXIT_CODES;

const EXAMPLES: &str = "\
Examples:
  cloudkeep login --endpoint https://api.example.com
  cloudkeep publish dist/tool-1.2.0.zip
  cloudkeep download tool@1.2.0 -o tool.zip
  cloudkeep scan --wait && cloudkeep findings --severity high
  CLOUDKEEP_API_KEY=ck_... cloudkeep packages list --json";

#[derive(Debug, Parser)]
#[command(
    name = "cloudkeep",
    version,
    about = "Publish and download packages, scan AWS accounts, review findings and act on them.",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}")
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The API's base URL (default: the profile's, else http://127.0.0.1:3000).
    #[arg(long, global = true, env = "CLOUDKEEP_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// The named profile of the credentials file to use.
    #[arg(
        long,
        global = true,
        env = "CLOUDKEEP_PROFILE",
        default_value = "default",
        value_name = "NAME"
    )]
    pub profile: String,
    /// Authenticate with an API key instead of a login (for CI).
    #[arg(
        long,
        global = true,
        env = "CLOUDKEEP_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Print the result as JSON, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short, global = true, conflicts_with = "json")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in; the tokens go to the credentials file (mode 0600) and refresh by themselves.
    #[command(
        after_help = "Examples:\n  cloudkeep login\n  echo \"$PASSWORD\" | cloudkeep login --username ci --password-stdin"
    )]
    Login {
        #[arg(long, short)]
        username: Option<String>,
        /// Read the password from standard input instead of asking for it.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign out: the refresh token is revoked and forgotten.
    Logout,
    /// Who the credentials in use belong to, with their roles and groups.
    Whoami,
    /// Upload a ZIP package: hashed, sent in parallel parts, resumable, then validated.
    #[command(after_help = "\
Re-run the same command after a crash, Ctrl-C or a lost network: only the
parts the bucket does not have yet are sent. The exit code is 8 when the
package is rejected; its report is printed either way.

Examples:
  cloudkeep publish tool.zip
  cloudkeep publish build.zip --name tool --version 1.3.0-rc.1 --jobs 16
  cloudkeep publish secret.zip --sensitive --group security")]
    Publish(PublishArgs),
    /// Download a package version, resumable and verified against its SHA-256.
    #[command(
        after_help = "Examples:\n  cloudkeep download tool            # the latest published version\n  cloudkeep download tool@1.2.0 -o dist/ --force"
    )]
    Download {
        /// NAME or NAME@VERSION.
        #[arg(value_name = "NAME[@VERSION]")]
        package: String,
        /// Where to write it (a file, or a directory); default ./NAME-VERSION.zip.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        rate: RateArg,
    },
    /// List, show and yank packages, and read their download audit.
    #[command(subcommand)]
    Packages(Packages),
    /// Start a scan of the registered accounts.
    #[command(
        after_help = "Examples:\n  cloudkeep scan --wait\n  cloudkeep scan --account 123456789012 --region eu-west-1 --service ec2"
    )]
    Scan {
        #[arg(long = "account", value_name = "ACCOUNT_ID")]
        accounts: Vec<String>,
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        #[arg(long = "service", value_name = "SERVICE")]
        services: Vec<String>,
        /// Wait until it ends and print its result.
        #[arg(long)]
        wait: bool,
    },
    /// Earlier scans.
    #[command(subcommand)]
    Scans(Scans),
    /// The inventory, filtered.
    #[command(
        after_help = "Examples:\n  cloudkeep resources --service ec2 --region eu-west-1\n  cloudkeep resources --tag env:prod --json"
    )]
    Resources {
        #[arg(long)]
        account_id: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        state: Option<String>,
        /// key:value
        #[arg(long)]
        tag: Option<String>,
        /// Text to search for.
        #[arg(long)]
        query: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// The findings: the to-do list, by severity then largest saving.
    #[command(
        after_help = "Examples:\n  cloudkeep findings --severity critical\n  cloudkeep findings --category cost --json | jq '.[].monthly_savings_usd'"
    )]
    Findings {
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        check_id: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        account_id: Option<String>,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Totals: resources, monthly cost, savings and findings.
    Summary,
    /// Act on a resource: a dry run unless --apply.
    #[command(
        after_help = "Examples:\n  cloudkeep act arn:aws:ec2:eu-west-1:123456789012:volume/vol-1 ec2.delete_volume\n  cloudkeep act ARN ec2.stop_instance --apply --reason \"idle for 14 days\" --yes"
    )]
    Act {
        resource_arn: String,
        /// ec2.stop_instance, ec2.start_instance, ec2.release_address, ec2.delete_volume,
        /// ec2.delete_snapshot, ec2.delete_nat_gateway, rds.stop_db_instance, s3.delete_bucket
        action: String,
        /// Really do it (asks for confirmation unless --yes).
        #[arg(long)]
        apply: bool,
        /// Why (required with --apply).
        #[arg(long)]
        reason: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// The AWS accounts to scan.
    #[command(subcommand)]
    Accounts(Accounts),
    /// Your API keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Users, their roles and groups (admins).
    #[command(subcommand)]
    Users(Users),
    /// Write a report of findings or resources to a file.
    #[command(
        after_help = "Examples:\n  cloudkeep report --format pdf -o findings.pdf\n  cloudkeep report --kind resources --format csv -o inventory.csv"
    )]
    Report {
        #[arg(long, value_enum)]
        format: ReportFormat,
        #[arg(long, value_enum, default_value = "findings")]
        kind: ReportKind,
        #[arg(long, short)]
        output: PathBuf,
        /// A listing filter, as name=value (repeatable): --filter severity=high
        #[arg(long = "filter", value_name = "NAME=VALUE")]
        filters: Vec<String>,
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  cloudkeep completions bash > ~/.local/share/bash-completion/completions/cloudkeep\n  cloudkeep completions zsh > \"${fpath[1]}/_cloudkeep\""
    )]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The ZIP to publish.
    pub file: PathBuf,
    /// Default: the `name` of the ZIP's package.json.
    #[arg(long)]
    pub name: Option<String>,
    /// Default: the `version` of the ZIP's package.json.
    #[arg(long)]
    pub version: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Only admins, the owner and members of --group may see it.
    #[arg(long)]
    pub sensitive: bool,
    #[arg(long = "group", value_name = "GROUP", requires = "sensitive")]
    pub groups: Vec<String>,
    /// Parts in flight at once.
    #[arg(long, short, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Part size in MiB (5 to 5120; default: the server's choice, 16 MiB up to 160 GiB).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(5..=5120))]
    pub part_size: Option<u64>,
    /// Return once the upload is complete, without waiting for validation.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for validation, in seconds.
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub rate: RateArg,
}

#[derive(Debug, Args)]
pub struct RateArg {
    /// Cap the transfer rate, in bytes per second (K, M, G suffixes: 20M).
    #[arg(long, value_name = "BYTES", value_parser = parse_rate)]
    pub max_rate: Option<u64>,
}

#[derive(Debug, Args)]
pub struct Page {
    /// At most this many rows.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Every row, following the cursors to the end.
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum Packages {
    /// List packages (those you may see).
    List {
        /// Text to search for in names and descriptions.
        #[arg(long)]
        query: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// A package and its versions, or one version's validation report.
    Show {
        #[arg(value_name = "NAME[@VERSION]")]
        package: String,
    },
    /// Yank a version: pinned downloads still work, and say it is yanked.
    Yank {
        #[arg(value_name = "NAME@VERSION")]
        package: String,
        #[arg(long)]
        reason: String,
    },
    /// Who downloaded a package, and who was refused (owner or admin).
    Downloads {
        name: String,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, Subcommand)]
pub enum Scans {
    List {
        #[command(flatten)]
        page: Page,
    },
    /// A scan, with its jobs and errors.
    Show { scan_id: String },
}

#[derive(Debug, Subcommand)]
pub enum Accounts {
    /// Register an account (its connection is tested first).
    Add(AccountArgs),
    /// Test a connection without storing anything.
    Test(AccountArgs),
    List,
    /// Forget an account.
    Delete {
        account_id: String,
    },
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    /// A name for people.
    pub name: String,
    /// The read-only role to assume (omit for the backend's own account).
    #[arg(long)]
    pub role_arn: Option<String>,
    #[arg(long)]
    pub external_id: Option<String>,
    /// The role actions assume in that account.
    #[arg(long)]
    pub remediation_role_arn: Option<String>,
    /// Regions to scan (default: every region).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Keys {
    /// Create an API key; it is shown once.
    Create {
        name: String,
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    List,
    Delete {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Users {
    List {
        #[command(flatten)]
        page: Page,
    },
    /// Change a user's roles or groups, or disable them.
    Update {
        username: String,
        /// The whole set of roles: reader, publisher, admin (comma-separated).
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// The whole set of groups (comma-separated; empty for none).
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Csv,
    Json,
    Html,
    Pdf,
    Ocsf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportKind {
    Findings,
    Resources,
}

fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let scale: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("B")
        .trim_end_matches('I')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} is not a rate: use a number of bytes with K, M or G"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?} is not a rate: use a number of bytes with K, M or G"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn rates_take_binary_suffixes() {
        assert_eq!(parse_rate("20M"), Ok(20 << 20));
        assert_eq!(parse_rate("512k"), Ok(512 << 10));
        assert_eq!(parse_rate("1GiB"), Ok(1 << 30));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
    }
}
