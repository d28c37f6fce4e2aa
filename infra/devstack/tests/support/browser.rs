//! A real headless Chromium driven through WebDriver (`chromedriver`, from
//! `infra/scripts/tools.sh`): just the handful of W3C WebDriver commands the
//! console tests need, spoken over HTTP with the tests' own client.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The reference of a found element: W3C's `element-6066-11e4-a52e-4f735466cecf` key.
fn element(found: &Value) -> Option<String> {
    let object = found.as_object()?;
    let (key, id) = object.iter().next()?;
    key.starts_with("element-")
        .then(|| id.as_str().map(str::to_owned))
        .flatten()
}

/// One browser session; the driver process ends with it.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: tokio::process::Child,
    base: String,
    profile: std::path::PathBuf,
}

impl Browser {
    /// A fresh headless Chromium, `width` × 900 pixels.
    pub async fn start(width: u32) -> Browser {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (infra/scripts/tools.sh installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let profile =
            std::env::temp_dir().join(format!("cloudkeep-webdriver-{}", uuid::Uuid::new_v4()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-sync",
                         format!("--window-size={width},900"),
                         format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let started = Instant::now();
        let session = loop {
            match http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .await
            {
                Ok(response) => {
                    let body: Value = response.json().await.expect("a session answer");
                    match body["value"]["sessionId"].as_str() {
                        Some(id) => break id.to_owned(),
                        None => panic!("chromedriver refused a session: {body}"),
                    }
                }
                Err(_) if started.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start: {e}"),
            }
        };
        Browser {
            http,
            session,
            driver,
            base,
            profile,
        }
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.http.request(method.parse().expect("method"), url);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        answer["value"].clone()
    }

    pub async fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url})))
            .await;
    }

    /// The element matching `css`, waiting up to 10 s for the page to draw it.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .command(
                    "POST",
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = element(&found) {
                return id;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no {css} in the page: {}",
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Fills in the console's sign-in form and submits it.
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.type_into("input[name=username]", username).await;
        self.type_into("input[name=password]", password).await;
        self.click("form.signin button[type=submit]").await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.command("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    /// The rendered text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let found = self
            .command(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let Some(id) = element(&found) else {
            return String::new();
        };
        let text = self
            .command("GET", &format!("/element/{id}/text"), None)
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits up to 10 s until `css`'s text satisfies `wanted`, and answers it.
    pub async fn wait_text(&self, css: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_text_for(Duration::from_secs(10), css, wanted)
            .await
    }

    /// Waits up to `within` until `css`'s text satisfies `wanted`, and answers it.
    pub async fn wait_text_for(
        &self,
        within: Duration,
        css: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css).await;
            if wanted(&text) {
                return text;
            }
            assert!(
                started.elapsed() < within,
                "{css} still reads {text:?}; the page: {}",
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs a script in the page and answers its result.
    pub async fn script(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let png = self.command("GET", "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    pub async fn quit(mut self) {
        self.command("DELETE", "", None).await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
