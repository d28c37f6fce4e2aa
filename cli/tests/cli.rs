//! `cloudkeep` as a real process against the local stack (the emulator, the
//! dev server's gateway and its event relays): publish, kill and resume,
//! download and resume, the rejection exit code, tables and `--json`, the
//! refresh of an expired token into a 0600 file, and bad input.

#[path = "../../infra/devstack/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::auth::Role;
use support::Api;
use tokio::io::AsyncWriteExt;

const MIB: usize = 1024 * 1024;

struct Env {
    aws: aws_config::SdkConfig,
    stack: devstack::bootstrap::Stack,
    api: Api,
    config: PathBuf,
    _relays: Vec<tokio::task::JoinHandle<()>>,
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

async fn env(hint: &str) -> Env {
    let (aws, template, stack) = support::stack(hint).await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let relays = devstack::relay::spawn_all(&stack, &aws).expect("relays");
    let config = std::env::temp_dir().join(format!("cloudkeep-cli-{}", uuid::Uuid::new_v4()));
    Env {
        aws,
        stack,
        api,
        config,
        _relays: relays,
    }
}

impl Env {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloudkeep"));
        command
            .args(args)
            .env("CLOUDKEEP_CONFIG_DIR", &self.config)
            .env("CLOUDKEEP_ENDPOINT", &self.api.base)
            .env("NO_COLOR", "1")
            .env_remove("CLOUDKEEP_API_KEY")
            .env_remove("CLOUDKEEP_PROFILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run_with(&self, args: &[&str], stdin: &str) -> Ran {
        let mut child = self.command(args).spawn().expect("cloudkeep runs");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("stdin written");
        drop(input);
        let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("cloudkeep ends within 2 minutes")
            .expect("cloudkeep output");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    async fn run(&self, args: &[&str]) -> Ran {
        self.run_with(args, "").await
    }

    /// `cloudkeep login` as a user made with `roles`; answers their bearer for direct API checks.
    async fn login(&self, name: &str, roles: &[Role]) -> String {
        let password = support::user(&self.aws, &self.stack, name, roles, &[]).await;
        let ran = self
            .run_with(
                &["login", "--username", name, "--password-stdin"],
                &format!("{password}\n"),
            )
            .await;
        assert_eq!(ran.code, 0, "login: {}", ran.stderr);
        assert!(
            ran.stdout
                .contains(&format!("signed in to {} as {name}", self.api.base)),
            "{}",
            ran.stdout
        );
        self.api.bearer(name, &password).await
    }

    fn credentials(&self) -> Value {
        serde_json::from_slice(
            &std::fs::read(self.config.join("credentials.json")).expect("credentials"),
        )
        .expect("json")
    }

    /// The upload id of the one publish session on disk, once it is there.
    async fn session_upload_id(&self) -> String {
        let started = Instant::now();
        loop {
            let sessions = std::fs::read_dir(self.config.join("uploads"))
                .into_iter()
                .flatten()
                .flatten();
            for entry in sessions {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "json")
                    && let Ok(bytes) = std::fs::read(&path)
                    && let Ok(session) = serde_json::from_slice::<Value>(&bytes)
                {
                    return session["upload_id"].as_str().expect("upload id").to_owned();
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no publish session was recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn assert_same_bytes(got: &Path, want: &Path) {
    let (got_bytes, want_bytes) = (
        std::fs::read(got).expect("got"),
        std::fs::read(want).expect("want"),
    );
    assert!(
        got_bytes == want_bytes,
        "{} differs from {}",
        got.display(),
        want.display()
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Waits until `until` holds of a file's length, then SIGKILLs the process.
async fn kill_when(child: &mut tokio::process::Child, mut until: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !until().await {
        assert!(
            child.try_wait().expect("child").is_none(),
            "cloudkeep ended before it could be interrupted"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never got there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().expect("kill");
    child.wait().await.expect("killed");
}

#[tokio::test]
async fn a_publisher_publishes_in_parts_lists_it_as_a_table_and_json_and_downloads_it_verified_and_resumed()
 {
    let env = env("cli-publish").await;
    env.login("pub1", &[Role::Publisher]).await;
    assert_eq!(mode(&env.config.join("credentials.json")), 0o600);

    let zip = support::package_file("cli-tool", "1.0.0", 23 * MIB);
    let file = zip.to_str().expect("utf-8 path");
    let ran = env
        .run(&["publish", file, "--part-size", "5", "--json"])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let published = ran.json();
    assert_eq!(published["status"], "published", "{published}");
    assert_eq!(published["part_count"], 5);
    assert_eq!(published["parts_uploaded"], 5);
    assert_eq!(published["parts_resumed"], 0);
    assert!(
        published["validation"]["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .all(|c| c["ok"] == true),
        "{published}"
    );
    // The session is gone once the upload completed.
    assert_eq!(
        std::fs::read_dir(env.config.join("uploads"))
            .expect("uploads")
            .count(),
        0
    );

    // A table for people, JSON for scripts.
    let table = env.run(&["packages", "list"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("LATEST"),
        "{}",
        table.stdout
    );
    assert!(
        lines[1].starts_with("cli-tool") && lines[1].contains("1.0.0"),
        "{}",
        table.stdout
    );
    assert_eq!(
        lines[0].find("LATEST"),
        lines[1].find("1.0.0"),
        "columns align:\n{}",
        table.stdout
    );
    let listed = env.run(&["packages", "list", "--json"]).await.json();
    assert_eq!(listed[0]["name"], "cli-tool");
    assert_eq!(listed[0]["latest_version"], "1.0.0");

    // Download (the latest version), verified; no overwrite without --force.
    let out = env.config.join("got.zip");
    let out_s = out.to_str().expect("utf-8");
    let ran = env.run(&["download", "cli-tool", "-o", out_s]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("sha256 verified"), "{}", ran.stdout);
    assert_same_bytes(&out, &zip);
    let again = env.run(&["download", "cli-tool@1.0.0", "-o", out_s]).await;
    assert_eq!(again.code, 6, "{}", again.stderr);
    assert!(
        again.stderr.contains("exists: pass --force"),
        "{}",
        again.stderr
    );
    assert_eq!(
        env.run(&["download", "cli-tool@1.0.0", "-o", out_s, "--force", "-q"])
            .await
            .code,
        0
    );

    // An interrupted download resumes from what it had, and verifies the whole.
    let resumed = env.config.join("resumed.zip");
    let resumed_s = resumed.to_str().expect("utf-8");
    let mut child = env
        .command(&[
            "download",
            "cli-tool@1.0.0",
            "-o",
            resumed_s,
            "--max-rate",
            "4M",
        ])
        .spawn()
        .expect("download runs");
    let partial = || {
        std::fs::read_dir(&env.config)
            .expect("config dir")
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .map(|e| e.path())
    };
    kill_when(&mut child, async || {
        partial()
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.len() > 6 * MIB as u64)
    })
    .await;
    assert!(
        !resumed.exists(),
        "an unverified download is never in place"
    );
    let ran = env
        .run(&["download", "cli-tool@1.0.0", "-o", resumed_s])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("resuming cli-tool@1.0.0"),
        "{}",
        ran.stderr
    );
    assert_same_bytes(&resumed, &zip);
    assert!(partial().is_none());

    // A yanked version still downloads when pinned, and says so.
    let yank = env
        .run(&[
            "packages",
            "yank",
            "cli-tool@1.0.0",
            "--reason",
            "superseded",
        ])
        .await;
    assert_eq!(yank.code, 0, "{}", yank.stderr);
    let ran = env
        .run(&["download", "cli-tool@1.0.0", "-o", out_s, "--force"])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("warning: cli-tool@1.0.0 is yanked: superseded"),
        "{}",
        ran.stderr
    );
}

#[tokio::test]
async fn a_publish_killed_after_some_parts_resumes_with_only_the_missing_parts() {
    let env = env("cli-resume").await;
    let bearer = env.login("pub2", &[Role::Publisher]).await;
    let zip = support::package_file("cli-big", "2.0.0", 38 * MIB);
    let file = zip.to_str().expect("utf-8 path");

    let mut child = env
        .command(&[
            "publish",
            file,
            "--part-size",
            "5",
            "--jobs",
            "2",
            "--max-rate",
            "8M",
        ])
        .spawn()
        .expect("publish runs");
    let upload_id = env.session_upload_id().await;
    let done = async || {
        let (status, upload) = env
            .api
            .call(
                "GET",
                &format!("/v1/uploads/{upload_id}"),
                Some(&bearer),
                None,
            )
            .await;
        assert_eq!(status, 200, "{upload}");
        upload["parts_done"].as_array().expect("parts").len()
    };
    kill_when(&mut child, async || done().await >= 3).await;
    let before = done().await;
    assert!(
        before < 8,
        "the upload was interrupted ({before} of 8 parts)"
    );

    let ran = env.run(&["publish", file, "--json"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(&format!("resuming upload {upload_id}: {before} of 8 parts")),
        "{}",
        ran.stderr
    );
    let published = ran.json();
    assert_eq!(published["upload_id"], upload_id.as_str());
    assert_eq!(published["parts_resumed"], before as u64);
    assert_eq!(
        published["parts_uploaded"],
        8 - before as u64,
        "only the missing parts went up"
    );
    assert_eq!(published["status"], "published", "{published}");

    let out = env.config.join("big.zip");
    let ran = env
        .run(&[
            "download",
            "cli-big@2.0.0",
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_same_bytes(&out, &zip);
}

#[tokio::test]
async fn a_rejected_package_prints_its_report_and_exits_8() {
    use validator::testzip::{Options, Spec, build, manifest};
    let env = env("cli-reject").await;
    env.login("pub3", &[Role::Publisher]).await;
    let zip = build(
        &[
            Spec::deflated("package.json", &manifest("cli-evil", "1.0.0")),
            Spec::stored("README.md", b"# evil"),
            Spec::stored("../../etc/cron.d/evil", b"* * * * * root sh"),
        ],
        &Options::default(),
    );
    let path = env.config.join("evil.zip");
    std::fs::write(&path, zip).expect("zip");
    let ran = env.run(&["publish", path.to_str().expect("utf-8")]).await;
    assert_eq!(ran.code, 8, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("FAIL  zip.paths_safe"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr
            .contains("cli-evil@1.0.0 was rejected: zip.paths_safe"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_rotated_pair_saved_readable_only_by_the_user()
{
    let env = env("cli-refresh").await;
    env.login("reader1", &[Role::Reader]).await;
    let path = env.config.join("credentials.json");
    let first = env.credentials();
    let first_refresh = first["profiles"]["default"]["refresh_token"].clone();

    // Lapsed by the clock: refreshed before it is sent.
    let mut lapsed = first.clone();
    lapsed["profiles"]["default"]["expires_at"] = 0.into();
    std::fs::write(&path, serde_json::to_vec(&lapsed).expect("json")).expect("written");
    let ran = env.run(&["whoami"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("reader1"), "{}", ran.stdout);
    let second = env.credentials();
    assert_ne!(
        second["profiles"]["default"]["refresh_token"], first_refresh,
        "the refresh token rotated"
    );
    assert_eq!(mode(&path), 0o600);

    // Refused by the API (a token it did not sign): refreshed after the 401, once.
    let mut refused = second.clone();
    refused["profiles"]["default"]["access_token"] = "eyJhbGciOiJIUzI1NiJ9.e30.forged".into();
    std::fs::write(&path, serde_json::to_vec(&refused).expect("json")).expect("written");
    let ran = env.run(&["whoami", "--json"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.json()["username"], "reader1");
    assert_eq!(mode(&path), 0o600);

    // A spent refresh token revokes the family: exit 3 and a way out.
    let mut spent = env.credentials();
    spent["profiles"]["default"]["expires_at"] = 0.into();
    spent["profiles"]["default"]["refresh_token"] = first_refresh;
    std::fs::write(&path, serde_json::to_vec(&spent).expect("json")).expect("written");
    let ran = env.run(&["whoami"]).await;
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    assert!(ran.stderr.contains("cloudkeep login"), "{}", ran.stderr);

    // CI signs in with an API key instead: no credentials file needed.
    env.login("reader1", &[Role::Reader]).await;
    let key = env.run(&["keys", "create", "ci", "--json"]).await;
    assert_eq!(key.code, 0, "{}", key.stderr);
    let key = key.json()["key"].as_str().expect("key").to_owned();
    let ci = Env {
        config: env.config.join("ci-runner"),
        ..env
    };
    let ran = {
        let mut command = ci.command(&["whoami", "--json"]);
        command.env("CLOUDKEEP_API_KEY", &key);
        let output = command.output().await.expect("whoami runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).expect("json")
    };
    assert_eq!(ran["username"], "reader1");
    assert!(!ci.config.join("credentials.json").exists());
    let env = Env {
        config: ci.config.parent().expect("parent").to_owned(),
        ..ci
    };

    // Logging out forgets the profile.
    env.login("reader1", &[Role::Reader]).await;
    assert_eq!(env.run(&["logout"]).await.code, 0);
    assert!(env.credentials()["profiles"]["default"].is_null());
    assert_eq!(env.run(&["whoami"]).await.code, 3);
}

#[tokio::test]
async fn bad_input_is_one_clear_line_and_a_non_zero_exit() {
    let env = env("cli-bad").await;
    env.login("pub4", &[Role::Publisher]).await;
    let one_line = |ran: &Ran, code: i32, says: &str| {
        assert_eq!(ran.code, code, "{}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "one line: {}", ran.stderr);
        assert!(
            ran.stderr.starts_with("error: ") && ran.stderr.contains(says),
            "{}",
            ran.stderr
        );
        assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    };

    let missing = env.run(&["publish", "/no/such/package.zip"]).await;
    one_line(&missing, 7, "cannot open /no/such/package.zip");

    let text = env.config.join("notes.zip");
    std::fs::write(
        &text,
        "these are notes, not a ZIP archive at all".repeat(10),
    )
    .expect("written");
    one_line(
        &env.run(&["publish", text.to_str().expect("utf-8")]).await,
        7,
        "is not a ZIP archive",
    );

    let zip = support::package_file("cli-ok", "1.0.0", 10);
    let zip_s = zip.to_str().expect("utf-8");
    let refused = env.run(&["publish", zip_s, "--name", "Not A Name!"]).await;
    one_line(&refused, 7, "contradicts the name cli-ok");

    let nameless = {
        use validator::testzip::{Options, Spec, build};
        let path = env.config.join("nameless.zip");
        std::fs::write(
            &path,
            build(&[Spec::stored("README.md", b"# x")], &Options::default()),
        )
        .expect("zip");
        path
    };
    let nameless_s = nameless.to_str().expect("utf-8");
    one_line(
        &env.run(&["publish", nameless_s]).await,
        7,
        "has no package.json",
    );
    // The API's own refusal, with its request id.
    let refused = env
        .run(&[
            "publish",
            nameless_s,
            "--name",
            "Not_A_Name!",
            "--version",
            "1.0.0",
        ])
        .await;
    one_line(&refused, 7, "(request ");

    one_line(
        &env.run(&["download", "no-such-package"]).await,
        5,
        "(request ",
    );
    one_line(&env.run(&["scan"]).await, 4, "(request ");
    one_line(
        &env.run(&["packages", "yank", "cli-ok", "--reason", "x"])
            .await,
        7,
        "NAME@VERSION",
    );
    one_line(
        &env.run(&["whoami", "--endpoint", "ftp://example.com"])
            .await,
        7,
        "not an http(s) URL",
    );

    let usage = env.run(&["publish", zip_s, "--jobs", "0"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    let help = env.run(&["--help"]).await;
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("Exit codes:") && help.stdout.contains("8   the package was rejected"),
        "{}",
        help.stdout
    );
    let completions = env.run(&["completions", "bash"]).await;
    assert_eq!(completions.code, 0);
    assert!(
        completions.stdout.contains("_cloudkeep()"),
        "{}",
        &completions.stdout[..200.min(completions.stdout.len())]
    );

    // Nobody signed in.
    let anonymous = Env {
        config: env.config.join("nobody"),
        ..env
    };
    one_line(
        &anonymous.run(&["packages", "list"]).await,
        3,
        "not signed in",
    );
}

#[tokio::test]
async fn an_admin_scans_from_the_terminal_and_lists_findings_and_the_summary() {
    let env = env("cli-scan").await;
    env.login("ops1", &[Role::Admin]).await;
    let account = support::account_id();
    let role = support::role(&account);
    let remediation = format!("arn:aws:iam::{account}:role/cloudkeep-remediation");
    let ran = env
        .run(&[
            "accounts",
            "add",
            "prod",
            "--role-arn",
            &role,
            "--external-id",
            "ext-123",
            "--region",
            "us-east-1",
            "--remediation-role-arn",
            &remediation,
        ])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains(&account), "{}", ran.stdout);
    let volume = support::unattached_volume(&env.aws, &account, 100).await;

    let ran = env
        .run(&["scan", "--account", &account, "--service", "ec2", "--wait"])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.contains("succeeded"), "{}", ran.stdout);

    let findings = env
        .run(&["findings", "--category", "cost", "--json"])
        .await
        .json();
    let finding = findings
        .as_array()
        .expect("array")
        .iter()
        .find(|f| f["resource_id"] == volume.as_str())
        .unwrap_or_else(|| panic!("the volume's finding: {findings}"));
    let table = env.run(&["findings"]).await;
    assert!(
        table
            .stdout
            .lines()
            .next()
            .expect("header")
            .starts_with("SEVERITY"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains(&volume), "{}", table.stdout);

    let summary = env.run(&["summary"]).await;
    assert_eq!(summary.code, 0, "{}", summary.stderr);
    assert!(
        summary.stdout.contains("open findings saves $"),
        "{}",
        summary.stdout
    );

    // A report lands in a file, which is not overwritten without --force.
    let report = env.config.join("findings.csv");
    let report_s = report.to_str().expect("utf-8");
    let ran = env
        .run(&["report", "--format", "csv", "-o", report_s])
        .await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let csv = std::fs::read_to_string(&report).expect("report");
    assert!(csv.lines().count() > 1 && csv.contains(&volume), "{csv}");
    let again = env
        .run(&["report", "--format", "csv", "-o", report_s])
        .await;
    assert_eq!(again.code, 6, "{}", again.stderr);

    // A dry run is the default; it changes nothing.
    let arn = finding["resource_arn"].as_str().expect("arn");
    let ran = env.run(&["act", arn, "ec2.delete_volume"]).await;
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        ran.stdout.starts_with("planned: Would delete volume"),
        "{}",
        ran.stdout
    );
    let refused = env
        .run(&[
            "act",
            arn,
            "ec2.delete_volume",
            "--apply",
            "--reason",
            "unused",
        ])
        .await;
    assert_eq!(
        refused.code, 7,
        "no confirmation without a terminal: {}",
        refused.stderr
    );
}
