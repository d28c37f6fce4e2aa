//! The web console as the gateway serves it: the page and its assets with
//! the security headers, strong ETags and the caching `index.html` relies
//! on; and the page run by headless Chromium (`infra/scripts/tools.sh`)
//! under its own Content-Security-Policy, drawing the sign-in form.

mod support;

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
