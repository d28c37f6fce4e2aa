//! The web console as the gateway serves it: the page and its assets with
//! the security headers, strong ETags and the caching `index.html` relies
//! on; and the page run by headless Chromium (`infra/scripts/tools.sh`)
//! under its own Content-Security-Policy, drawing the sign-in form.

mod support;

use std::time::Duration;

use support::Api;

async fn console() -> Api {
    let (aws, template, stack) = support::stack("console").await;
    Api::new(support::serve(&aws, &template, &stack).await)
}

async fn get(api: &Api, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = api.http.get(format!("{}{path}", api.base));
    if let Some(tag) = etag {
        request = request.header("if-none-match", tag);
    }
    request.send().await.expect("sent")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_page_and_its_assets_carry_the_security_headers_and_revalidate() {
    let api = console().await;
    let page = get(&api, "/", None).await;
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert!(header(&page, "content-security-policy").starts_with("default-src 'self'"));
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let etag = header(&page, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    let html = page.text().await.expect("html");

    // The page again, as a browser revalidates it: 304, no body.
    let again = get(&api, "/", Some(&etag)).await;
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);

    // Each asset the page names by its hash is cached for a year.
    for asset in ["app.js", "style.css"] {
        let at = html
            .find(&format!("/app/{asset}?v="))
            .expect("named by hash");
        let url: String = html[at..].chars().take_while(|c| *c != '"').collect();
        let served = get(&api, &url, None).await;
        assert_eq!(served.status(), 200, "{url}");
        assert_eq!(
            header(&served, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(header(&served, "content-security-policy").contains("default-src 'self'"));
        let unversioned = get(&api, &format!("/app/{asset}"), None).await;
        assert_eq!(header(&unversioned, "cache-control"), "no-cache");
    }

    // An asset that is not there: the API's error body, never a page.
    let missing = get(&api, "/app/../../etc/passwd", None).await;
    assert_eq!(missing.status(), 404);
    let missing = get(&api, "/app/nope.js", None).await;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

/// The page's DOM once headless Chromium has run its scripts.
async fn rendered(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("cloudkeep-console-{}", uuid::Uuid::new_v4()));
    let output = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ])
        .output()
        .await
        .expect("chromium runs (infra/scripts/tools.sh installs it)");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_runs_the_page_under_its_policy_and_draws_the_sign_in_form() {
    let api = console().await;
    let dom = rendered(&format!("{}/", api.base)).await;
    // Drawn by app.js: the module loaded, from our origin, under the CSP.
    assert!(dom.contains(r#"id="signin-title""#), "{dom}");
    assert!(
        dom.contains(r#"name="username""#) && dom.contains(r#"type="password""#),
        "{dom}"
    );
    assert!(
        dom.contains("hidden") && dom.contains(r#"id="nav""#),
        "signed out: no navigation"
    );
}

/// Dollars as the console prints them (`$1,234.50`), back to a number.
fn dollars(text: &str) -> f64 {
    text.trim()
        .trim_start_matches('$')
        .replace(',', "")
        .parse()
        .unwrap_or(f64::NAN)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_signs_in_sees_the_summarys_totals_filters_findings_and_signs_out() {
    use serde_json::json;
    use shared::auth::Role;
    let (aws, template, stack) = support::stack("console-signin").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let _relays = devstack::relay::spawn_all(&stack, &aws).expect("relays");
    let password = support::user(&aws, &stack, "ops1", &[Role::Admin], &[]).await;
    let admin = api.bearer("ops1", &password).await;
    let account = support::account_id();
    let body = json!({
        "name": "prod", "role_arn": support::role(&account), "external_id": "ext-123", "regions": ["us-east-1"],
        "remediation_role_arn": format!("arn:aws:iam::{account}:role/cloudkeep-remediation"),
    });
    let (status, registered) = api
        .call("POST", "/v1/accounts", Some(&admin), Some(body))
        .await;
    assert_eq!(status, 201, "{registered}");
    let volume = support::unattached_volume(&aws, &account, 500).await;
    let ec2 = aws_sdk_ec2::Client::new(&support::in_account(&aws, &account, "us-east-1").await);
    let scan = json!({"account_ids": [account], "services": ["ec2"], "regions": ["us-east-1"]});
    api.scan(&admin, &admin, scan).await;
    let (_, summary) = api.call("GET", "/v1/summary", Some(&admin), None).await;

    let browser = support::browser::Browser::start(1280).await;
    browser.open(&format!("{}/", api.base)).await;
    browser.sign_in("ops1", &password).await;

    // The overview's totals are the summary's.
    let cost = browser.wait_text("#total-cost", |t| !t.is_empty()).await;
    assert!(
        (dollars(&cost) - summary["monthly_cost_usd"].as_f64().expect("$")).abs() < 0.005,
        "{cost} vs {summary}"
    );
    let savings = browser.text("#total-savings").await;
    assert!(
        (dollars(&savings) - summary["monthly_savings_usd"].as_f64().expect("$")).abs() < 0.005,
        "{savings} vs {summary}"
    );
    assert_eq!(
        browser.text("#open-findings").await,
        summary["findings"]["open"].to_string()
    );
    assert!(browser.text("#last-scan").await.contains("succeeded"));
    assert_eq!(browser.text("#who").await, "ops1");
    let shots = devstack::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    std::fs::write(shots.join("overview.png"), browser.screenshot().await).expect("png");

    // Filter the findings to cost: the volume's finding, with its dollars.
    browser.click("nav a[href='#/findings']").await;
    browser.find("#findings").await;
    browser
        .script("document.querySelector('select[name=category]').value = 'cost'; document.querySelector('form.filters button').click();")
        .await;
    let rows = browser
        .wait_text("#findings tbody", |t| t.contains(&volume))
        .await;
    let (_, costly) = api
        .call("GET", "/v1/findings?category=cost", Some(&admin), None)
        .await;
    let listed = costly["items"].as_array().expect("items");
    assert!(!listed.is_empty());
    for finding in listed {
        assert!(
            rows.contains(finding["resource_id"].as_str().expect("id")),
            "{rows}"
        );
    }
    let shown = browser
        .script("return document.querySelectorAll('#findings tbody tr').length")
        .await;
    assert_eq!(shown.as_u64(), Some(listed.len() as u64));
    std::fs::write(shots.join("findings.png"), browser.screenshot().await).expect("png");

    // An admin suppresses the volume's finding from its row, then lifts it.
    let id = listed
        .iter()
        .find(|f| f["resource_id"] == volume.as_str())
        .and_then(|f| f["finding_id"].as_str())
        .expect("the volume's finding")
        .to_owned();
    let row = format!("#findings tr[data-finding='{id}']");
    browser.click(&format!("{row} summary")).await;
    browser
        .type_into(&format!("{row} input[name=reason]"), "restore drill spare")
        .await;
    browser.click(&format!("{row} form.suppress button")).await;
    browser
        .wait_text(&format!("{row} td.status"), |t| t == "suppressed")
        .await;
    let (_, finding) = api
        .call("GET", "/v1/findings?status=suppressed", Some(&admin), None)
        .await;
    assert_eq!(finding["items"][0]["finding_id"], id.as_str(), "{finding}");
    assert_eq!(
        finding["items"][0]["suppression"]["reason"],
        "restore drill spare"
    );
    browser.click(&format!("{row} td.decide button")).await;
    browser
        .wait_text(&format!("{row} td.status"), |t| t == "open")
        .await;

    // Open the volume from its finding, and dry-run its deletion.
    browser
        .click(&format!("#findings a[href*='{volume}']"))
        .await;
    browser
        .wait_text("#resource-cost", |t| dollars(t) > 0.0)
        .await;
    browser.click("#dry-run").await;
    let outcome = browser
        .wait_text("#action-outcome", |t| !t.is_empty())
        .await;
    assert!(
        outcome.starts_with("planned: Would delete volume"),
        "{outcome}"
    );
    assert!(
        ec2.describe_volumes()
            .volume_ids(&volume)
            .send()
            .await
            .is_ok(),
        "a dry run deletes nothing"
    );
    std::fs::write(shots.join("resource.png"), browser.screenshot().await).expect("png");

    // Apply it: only with the volume's id typed in full, and a reason.
    browser
        .type_into("#apply-form input[name=confirm]", "vol-wrong")
        .await;
    browser
        .type_into(
            "#apply-form input[name=reason]",
            "unused since the migration",
        )
        .await;
    browser.click("#apply-form button[type=submit]").await;
    browser
        .wait_text("#action-outcome [role=alert]", |t| t.contains("exactly"))
        .await;
    assert!(
        ec2.describe_volumes()
            .volume_ids(&volume)
            .send()
            .await
            .is_ok()
    );
    browser
        .script("document.querySelector('#apply-form input[name=confirm]').value = '';")
        .await;
    browser
        .type_into("#apply-form input[name=confirm]", &volume)
        .await;
    browser.click("#apply-form button[type=submit]").await;
    let applied = browser.wait_text("#applied", |t| !t.is_empty()).await;
    assert!(applied.starts_with("done: Deleted volume"), "{applied}");
    assert!(
        ec2.describe_volumes()
            .volume_ids(&volume)
            .send()
            .await
            .is_err()
    );

    // The audit log shows both, newest first; the accounts screen the account.
    browser.click("#nav-actions").await;
    let log = browser
        .wait_text("#actions tbody", |t| t.contains("done"))
        .await;
    assert!(log.find("done") < log.find("planned"), "{log}");
    assert!(log.contains("why: unused since the migration"), "{log}");
    browser.click("#nav-accounts").await;
    let listed = browser
        .wait_text("#accounts tbody", |t| !t.is_empty())
        .await;
    assert!(
        listed.contains(&account) && listed.contains("cloudkeep-remediation"),
        "{listed}"
    );
    let templates = browser
        .script("return [...document.querySelectorAll('details pre')].map(p => p.textContent).join('\\n')")
        .await;
    assert!(
        templates
            .as_str()
            .is_some_and(|t| t.contains("cloudkeep read-only scanning role")),
        "{templates}"
    );

    // Start a scan and watch it finish.
    browser.click("nav a[href='#/scans']").await;
    browser.click("#start-scan").await;
    let status = browser
        .wait_text("#scan-status", |t| t.starts_with("succeeded"))
        .await;
    assert!(status.contains("jobs done"), "{status}");
    let jobs = browser
        .wait_text("#scan-jobs tbody", |t| !t.is_empty())
        .await;
    assert!(
        jobs.contains(&account) && jobs.contains("us-east-1") && jobs.contains("done"),
        "each job and where it is: {jobs}"
    );
    assert!(
        !jobs.contains("running") && !jobs.contains("pending"),
        "{jobs}"
    );

    // Signing out forgets the refresh token and shows the sign-in form.
    browser.click("#sign-out").await;
    browser.find("#signin-title").await;
    assert_eq!(
        browser.script("return sessionStorage.length").await,
        json!(0)
    );
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_is_usable_at_390_pixels_and_a_bad_password_shows_the_apis_message() {
    let (aws, template, stack) = support::stack("console-narrow").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let password = support::user(&aws, &stack, "ops1", &[shared::auth::Role::Admin], &[]).await;
    let browser = support::browser::Browser::start(390).await;
    browser.open(&format!("{}/", api.base)).await;
    browser.sign_in("nobody", "not the password").await;
    let error = browser.wait_text("[role=alert]", |t| !t.is_empty()).await;
    assert!(
        error.contains("request id:"),
        "the API's request id is shown: {error}"
    );
    let overflow = browser
        .script("return document.documentElement.scrollWidth > window.innerWidth")
        .await;
    assert_eq!(
        overflow,
        serde_json::json!(false),
        "no sideways scrolling at 390 px"
    );

    // Signed in, every screen fits: wide tables scroll within themselves.
    browser
        .script("document.querySelector('input[name=password]').value = ''; document.querySelector('input[name=username]').value = '';")
        .await;
    browser.sign_in("ops1", &password).await;
    browser.find("#total-cost").await;
    for (screen, drawn) in [
        ("#/overview", "#total-cost"),
        ("#/findings", "#findings"),
        ("#/resources", "#resources"),
        ("#/scans", "#scans"),
        ("#/packages", "#packages"),
        ("#/upload", "#upload-form"),
        ("#/accounts", "#accounts"),
        ("#/actions", "#actions"),
    ] {
        browser.script(&format!("location.hash = '{screen}'")).await;
        browser.find(drawn).await;
        let overflow = browser
            .script("return document.documentElement.scrollWidth > window.innerWidth")
            .await;
        assert_eq!(overflow, serde_json::json!(false), "{screen} at 390 px");
    }
    browser.quit().await;
}

/// Waits for the upload form's `field` to read `wanted`: the page fills it in
/// from the chosen ZIP's `package.json`, asynchronously.
async fn filled_in(browser: &support::browser::Browser, field: &str, wanted: &str) {
    let script = format!("return document.querySelector('#upload-form input[name={field}]').value");
    let started = std::time::Instant::now();
    loop {
        let value = browser.script(&script).await;
        if value == wanted {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{field} reads {value}, not {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The part PUTs this page has made, from its resource timing.
async fn parts_put(browser: &support::browser::Browser) -> u64 {
    browser
        .script("return performance.getEntriesByType('resource').filter(e => e.initiatorType === 'xmlhttprequest' && e.name.includes('partNumber=')).length")
        .await
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publisher_uploads_from_the_browser_resumes_after_a_reload_and_sees_it_published() {
    use serde_json::json;
    use shared::auth::Role;
    let (aws, template, stack) = support::stack("console-upload").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let _relays = devstack::relay::spawn_all(&stack, &aws).expect("relays");
    let password = support::user(&aws, &stack, "pub1", &[Role::Publisher], &[]).await;
    let bearer = api.bearer("pub1", &password).await;

    let browser = support::browser::Browser::start(1280).await;
    browser.open(&format!("{}/#/upload", api.base)).await;
    browser.sign_in("pub1", &password).await;

    // A small package: its name and version come from its package.json.
    let small = support::package_file("browser-tool", "1.0.0", 1000);
    browser
        .type_into("#upload-form input[type=file]", &small.to_string_lossy())
        .await;
    filled_in(&browser, "name", "browser-tool").await;
    filled_in(&browser, "version", "1.0.0").await;
    browser.click("#upload-form button[type=submit]").await;
    let result = browser
        .wait_text_for(Duration::from_secs(60), "#upload-result", |t| {
            t.contains(" is ") && !t.contains("validated")
        })
        .await;
    assert!(
        result.starts_with("browser-tool 1.0.0 is published"),
        "{result}"
    );
    assert_eq!(parts_put(&browser).await, 1);
    browser.click("#upload-result a").await;
    let checks = browser.wait_text("#checks tbody", |t| !t.is_empty()).await;
    assert!(
        checks.contains("passed") && !checks.contains("failed"),
        "{checks}"
    );
    assert_eq!(browser.text("#version-status").await, "published");
    let shots = devstack::repo_root().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    std::fs::write(shots.join("package.png"), browser.screenshot().await).expect("png");

    // Download it: the API signs the GET (and audits it), the browser follows.
    browser.click("#download").await;
    let started = std::time::Instant::now();
    loop {
        let (_, audit) = api
            .call(
                "GET",
                "/v1/packages/browser-tool/downloads",
                Some(&bearer),
                None,
            )
            .await;
        if audit["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
        {
            assert_eq!(audit["items"][0]["username"], "pub1", "{audit}");
            assert_eq!(audit["items"][0]["allowed"], true, "{audit}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no download: {audit}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A three-part upload that an earlier tab began and lost after part 1:
    // the same file chosen after a reload sends only parts 2 and 3.
    let big = support::package_file("browser-big", "2.0.0", 11 * 1024 * 1024);
    let bytes = std::fs::read(&big).expect("read back");
    let (status, started) = api
        .call(
            "POST",
            "/v1/packages/browser-big/versions/2.0.0/uploads",
            Some(&bearer),
            Some(json!({"size": bytes.len(), "part_size": 5 * 1024 * 1024})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["part_count"], 3);
    let first = started["parts"][0]["url"].as_str().expect("url");
    let put = api
        .http
        .put(first)
        .body(bytes[..5 * 1024 * 1024].to_vec())
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 200);
    let modified = std::fs::metadata(&big)
        .and_then(|m| m.modified())
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let saved = json!({
        "name": "browser-big", "version": "2.0.0",
        "file": big.file_name().expect("name").to_string_lossy(),
        "size": bytes.len(), "modified": modified as u64,
        "upload_id": started["upload_id"],
    });
    browser
        .script(&format!(
            "localStorage.setItem('cloudkeep.upload.browser-big@2.0.0', {});",
            serde_json::to_string(&saved.to_string()).expect("a JS string")
        ))
        .await;
    // A reload, not a same-document hash change: the page starts afresh.
    browser
        .script("location.hash = '#/upload'; location.reload()")
        .await;
    let interrupted = browser.wait_text("#interrupted", |t| !t.is_empty()).await;
    assert!(interrupted.contains("browser-big 2.0.0"), "{interrupted}");
    browser
        .type_into("#upload-form input[type=file]", &big.to_string_lossy())
        .await;
    filled_in(&browser, "version", "2.0.0").await;
    browser.click("#upload-form button[type=submit]").await;
    let result = browser
        .wait_text_for(Duration::from_secs(60), "#upload-result", |t| {
            t.contains(" is ") && !t.contains("validated")
        })
        .await;
    assert!(
        result.starts_with("browser-big 2.0.0 is published"),
        "{result}"
    );
    std::fs::write(shots.join("upload.png"), browser.screenshot().await).expect("png");
    let progress = browser.text("#upload-status").await;
    assert!(
        progress.contains("resumed: 1 of 3 parts were already uploaded"),
        "{progress}"
    );
    assert_eq!(parts_put(&browser).await, 2, "only the missing parts");
    assert_eq!(
        browser.script("return localStorage.length").await,
        json!(0),
        "a finished upload is forgotten"
    );
    let (_, version) = api
        .call(
            "GET",
            "/v1/packages/browser-big/versions/2.0.0",
            Some(&bearer),
            None,
        )
        .await;
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(version["sha256"], digest.as_str(), "{version}");
    for file in [small, big] {
        std::fs::remove_file(file).ok();
    }
    browser.quit().await;
}
