//! Packages over HTTP on the dev stack: real multipart uploads with plain
//! HTTP PUTs to presigned URLs, resume, re-sign, abort, completion races,
//! immutable versions, downloads with group checks and their audit.

mod support;

use packages::store::{Reservations, VersionReads};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::auth::Role;
use shared::domain::{PackageName, Version};
use support::Api;

const MIB: usize = 1024 * 1024;

struct Env {
    aws: aws_config::SdkConfig,
    template: devstack::template::Template,
    stack: devstack::bootstrap::Stack,
    api: Api,
}

async fn env(hint: &str) -> Env {
    let (aws, template, stack) = support::stack(hint).await;
    let api = Api::new(support::serve(&aws, &template, &stack).await);
    Env {
        aws,
        template,
        stack,
        api,
    }
}

impl Env {
    async fn bearer(&self, name: &str, roles: &[Role], groups: &[&str]) -> String {
        let password = support::user(&self.aws, &self.stack, name, roles, groups).await;
        self.api.bearer(name, &password).await
    }

    fn store(&self) -> shared::packages::PackagesStore {
        shared::packages::PackagesStore::new(
            shared::aws::dynamodb(&self.aws),
            self.stack
                .physical("PackagesTable")
                .expect("packages table"),
        )
    }

    fn table(&self) -> String {
        self.stack
            .physical("PackagesTable")
            .expect("packages table")
            .to_owned()
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        shared::aws::dynamodb(&self.aws)
    }

    fn bucket(&self) -> String {
        self.stack
            .env("packages")
            .required("PACKAGE_BUCKET")
            .expect("bucket")
    }

    /// A second server on the same stack: new containers, with nothing cached
    /// (a container's copy of a user record lives `USER_CACHE_TTL`).
    async fn fresh_api(&self) -> Api {
        Api::new(support::serve(&self.aws, &self.template, &self.stack).await)
    }

    /// An upload session's item as the table holds it.
    async fn session_item(&self, id: &str) -> shared::dynamo::Item {
        self.dynamodb()
            .get_item()
            .table_name(self.table())
            .key("pk", shared::dynamo::s(format!("UPLOAD#{id}")))
            .key("sk", shared::dynamo::s("SESSION"))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
            .expect("session item")
    }

    /// Leaves a session `completing`, as an invocation that crashed after its
    /// claim would; `claimed_at` is when that claim was taken (None: not recorded).
    async fn leave_completing(&self, id: &str, claimed_at: Option<i64>) {
        let mut update = self
            .dynamodb()
            .update_item()
            .table_name(self.table())
            .key("pk", shared::dynamo::s(format!("UPLOAD#{id}")))
            .key("sk", shared::dynamo::s("SESSION"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":c", shared::dynamo::s("completing"));
        update = match claimed_at {
            Some(at) => update
                .update_expression("SET #status = :c, #at = :at, #claim = :claim")
                .expression_attribute_names("#at", "claimed_at")
                .expression_attribute_names("#claim", "claim")
                .expression_attribute_values(":at", shared::dynamo::n(at))
                .expression_attribute_values(":claim", shared::dynamo::s("a-crashed-invocation")),
            None => update.update_expression("SET #status = :c"),
        };
        update.send().await.expect("UpdateItem");
    }

    /// What the validator will do: publish with the object's digest.
    async fn publish(&self, name: &str, version: &str, bytes: &[u8]) {
        let published = self
            .store()
            .mark_published(
                &PackageName::parse(name).expect("name"),
                &Version::parse(version).expect("version"),
                &hex(&Sha256::digest(bytes)),
                &json!({"status": "passed", "checks": []}),
            )
            .await
            .expect("store");
        assert!(published, "{name} {version} was validating");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deterministic, incompressible-looking bytes.
fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// PUTs one part to its presigned URL as a plain HTTP client would; the ETag.
async fn put_part(api: &Api, url: &str, bytes: &[u8]) -> String {
    let response = api
        .http
        .put(url)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT sent");
    assert_eq!(response.status().as_u16(), 200, "part PUT");
    response.headers()["etag"]
        .to_str()
        .expect("ascii etag")
        .to_owned()
}

async fn start(env: &Env, bearer: &str, name: &str, version: &str, body: Value) -> (u16, Value) {
    env.api
        .call(
            "POST",
            &format!("/v1/packages/{name}/versions/{version}/uploads"),
            Some(bearer),
            Some(body),
        )
        .await
}

/// Uploads `bytes` in 5 MiB parts and completes; returns the start response.
async fn upload(
    env: &Env,
    bearer: &str,
    name: &str,
    version: &str,
    bytes: &[u8],
    extra: Value,
) -> Value {
    let mut body = json!({"size": bytes.len(), "part_size": 5 * MIB});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, started) = start(env, bearer, name, version, body).await;
    assert_eq!(status, 201, "{started}");
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(5 * MIB).enumerate() {
        let url = started["parts"][i]["url"].as_str().expect("url");
        parts.push(json!({"part_number": i + 1, "etag": put_part(&env.api, url, chunk).await}));
    }
    let id = started["upload_id"].as_str().expect("upload id");
    let (status, done) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(bearer),
            Some(json!({"parts": parts})),
        )
        .await;
    assert_eq!(status, 202, "{done}");
    assert_eq!(done["status"], "validating");
    started
}

#[tokio::test]
async fn three_part_upload_is_published_and_downloads_byte_identical() {
    let env = env("pkg-roundtrip").await;
    let publisher = env.bearer("pub1", &[Role::Publisher], &[]).await;
    let bytes = payload(11 * MIB);
    let sha = hex(&Sha256::digest(&bytes));
    let started = upload(
        &env,
        &publisher,
        "roundtrip",
        "1.0.0",
        &bytes,
        json!({"sha256": sha, "description": "A demo tool"}),
    )
    .await;
    assert_eq!(started["part_count"], 3);
    assert_eq!(started["part_size"], 5 * MIB);
    assert_eq!(started["parts"].as_array().map(Vec::len), Some(3));

    let (status, version) = env
        .api
        .call(
            "GET",
            "/v1/packages/roundtrip/versions/1.0.0",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(
        (status, version["status"].as_str()),
        (200, Some("validating"))
    );
    let (status, _) = env
        .api
        .call(
            "GET",
            "/v1/packages/roundtrip/versions/1.0.0/download",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(status, 409, "not downloadable before it is published");

    env.publish("roundtrip", "1.0.0", &bytes).await;
    let reader = env.bearer("reader1", &[Role::Reader], &[]).await;
    let (status, link) = env
        .api
        .call(
            "GET",
            "/v1/packages/roundtrip/versions/1.0.0/download",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["sha256"], sha.as_str());
    assert_eq!(link["size"], 11 * MIB);
    let response = env
        .api
        .http
        .get(link["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    let downloaded = response.bytes().await.expect("body");
    assert!(downloaded.as_ref() == bytes.as_slice(), "byte-identical");

    let (_, listed) = env
        .api
        .call("GET", "/v1/packages?q=DEMO", Some(&reader), None)
        .await;
    assert_eq!(listed["items"][0]["name"], "roundtrip");
    assert_eq!(listed["items"][0]["latest_version"], "1.0.0");
}

#[tokio::test]
async fn interrupted_upload_resumes_with_only_the_missing_part() {
    let env = env("pkg-resume").await;
    let publisher = env.bearer("pub2", &[Role::Publisher], &[]).await;
    let bytes = payload(11 * MIB);
    let (_, started) = start(
        &env,
        &publisher,
        "resumable",
        "0.1.0",
        json!({"size": bytes.len(), "part_size": 5 * MIB}),
    )
    .await;
    let id = started["upload_id"].as_str().expect("id").to_owned();
    let chunks: Vec<&[u8]> = bytes.chunks(5 * MIB).collect();
    let e1 = put_part(
        &env.api,
        started["parts"][0]["url"].as_str().expect("url"),
        chunks[0],
    )
    .await;
    let e3 = put_part(
        &env.api,
        started["parts"][2]["url"].as_str().expect("url"),
        chunks[2],
    )
    .await;

    let (status, progress) = env
        .api
        .call("GET", &format!("/v1/uploads/{id}"), Some(&publisher), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(progress["status"], "uploading");
    let done: Vec<u64> = progress["parts_done"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["part_number"].as_u64().expect("n"))
        .collect();
    assert_eq!(done, vec![1, 3]);
    assert_eq!(progress["parts_done"][1]["size"], MIB);

    // The client lost its URLs: re-sign the missing part only.
    let (status, signed) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/parts"),
            Some(&publisher),
            Some(json!({"part_numbers": [2]})),
        )
        .await;
    assert_eq!(status, 200, "{signed}");
    let e2 = put_part(
        &env.api,
        signed["parts"][0]["url"].as_str().expect("url"),
        chunks[1],
    )
    .await;
    let parts = json!({"parts": [{"part_number": 1, "etag": e1}, {"part_number": 2, "etag": e2}, {"part_number": 3, "etag": e3}]});
    let (status, _) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(parts.clone()),
        )
        .await;
    assert_eq!(status, 202);
    let (status, again) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(parts),
        )
        .await;
    assert_eq!(
        (status, again["status"].as_str()),
        (202, Some("validating")),
        "completing twice is harmless"
    );
}

#[tokio::test]
async fn wrong_and_missing_parts_are_named_in_a_422() {
    let env = env("pkg-badparts").await;
    let publisher = env.bearer("pub3", &[Role::Publisher], &[]).await;
    let bytes = payload(11 * MIB);
    let (_, started) = start(
        &env,
        &publisher,
        "strict",
        "1.0.0",
        json!({"size": bytes.len(), "part_size": 5 * MIB}),
    )
    .await;
    let id = started["upload_id"].as_str().expect("id");
    let chunks: Vec<&[u8]> = bytes.chunks(5 * MIB).collect();
    let e1 = put_part(
        &env.api,
        started["parts"][0]["url"].as_str().expect("url"),
        chunks[0],
    )
    .await;
    put_part(
        &env.api,
        started["parts"][1]["url"].as_str().expect("url"),
        chunks[1],
    )
    .await;
    let parts = json!({"parts": [{"part_number": 1, "etag": e1}, {"part_number": 2, "etag": "\"0123456789abcdef0123456789abcdef\""}]});
    let (status, body) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(parts),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let named: Vec<&str> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field"))
        .collect();
    assert_eq!(named, vec!["parts.2", "parts.3"], "{body}");
    let (_, version) = env
        .api
        .call(
            "GET",
            "/v1/packages/strict/versions/1.0.0",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(version["status"], "uploading", "nothing was completed");
}

#[tokio::test]
async fn aborted_upload_frees_the_version_number() {
    let env = env("pkg-abort").await;
    let publisher = env.bearer("pub4", &[Role::Publisher], &[]).await;
    let (_, started) = start(
        &env,
        &publisher,
        "abortable",
        "2.0.0",
        json!({"size": 1000}),
    )
    .await;
    let id = started["upload_id"].as_str().expect("id");
    let (status, _) = env
        .api
        .call(
            "DELETE",
            &format!("/v1/uploads/{id}"),
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = env
        .api
        .call(
            "GET",
            "/v1/packages/abortable/versions/2.0.0",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, again) = start(
        &env,
        &publisher,
        "abortable",
        "2.0.0",
        json!({"size": 1000}),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    let (status, _) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(json!({"parts": []})),
        )
        .await;
    assert_eq!(status, 409, "an aborted upload cannot be completed");
}

#[tokio::test]
async fn twenty_concurrent_reservations_of_one_version_make_exactly_one_upload() {
    let env = env("pkg-race").await;
    let publisher = env.bearer("pub5", &[Role::Publisher], &[]).await;
    let attempts = (0..20).map(|_| {
        let api = env.api.clone();
        let bearer = publisher.clone();
        tokio::spawn(async move {
            api.call(
                "POST",
                "/v1/packages/contested/versions/1.0.0/uploads",
                Some(&bearer),
                Some(json!({"size": 100})),
            )
            .await
            .0
        })
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn ten_concurrent_completes_make_one_version() {
    let env = env("pkg-complete-race").await;
    let publisher = env.bearer("pub6", &[Role::Publisher], &[]).await;
    let bytes = payload(6 * MIB);
    let (_, started) = start(
        &env,
        &publisher,
        "racy",
        "1.0.0",
        json!({"size": bytes.len(), "part_size": 5 * MIB}),
    )
    .await;
    let id = started["upload_id"].as_str().expect("id").to_owned();
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(5 * MIB).enumerate() {
        parts.push(json!({"part_number": i + 1, "etag": put_part(&env.api, started["parts"][i]["url"].as_str().expect("url"), chunk).await}));
    }
    let body = json!({"parts": parts});
    let attempts = (0..10).map(|_| {
        let (api, bearer, body, id) =
            (env.api.clone(), publisher.clone(), body.clone(), id.clone());
        tokio::spawn(async move {
            api.call(
                "POST",
                &format!("/v1/uploads/{id}/complete"),
                Some(&bearer),
                Some(body),
            )
            .await
            .0
        })
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    assert!(statuses.contains(&202), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 409),
        "{statuses:?}"
    );
    let (_, pkg) = env
        .api
        .call("GET", "/v1/packages/racy", Some(&publisher), None)
        .await;
    assert_eq!(pkg["versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(pkg["versions"][0]["status"], "validating");
}

#[tokio::test]
async fn versions_are_immutable_even_after_a_yank() {
    let env = env("pkg-yank").await;
    let owner = env.bearer("pub7", &[Role::Publisher], &[]).await;
    let bytes = payload(1000);
    upload(&env, &owner, "yankee", "1.0.0", &bytes, json!({})).await;
    env.publish("yankee", "1.0.0", &bytes).await;
    upload(&env, &owner, "yankee", "1.1.0", &bytes, json!({})).await;
    env.publish("yankee", "1.1.0", &bytes).await;
    let (_, pkg) = env
        .api
        .call("GET", "/v1/packages/yankee", Some(&owner), None)
        .await;
    assert_eq!(pkg["latest_version"], "1.1.0");

    let other = env.bearer("pub8", &[Role::Publisher], &[]).await;
    let (status, _) = env
        .api
        .call(
            "POST",
            "/v1/packages/yankee/versions/1.1.0/yank",
            Some(&other),
            Some(json!({"reason": "mine now"})),
        )
        .await;
    assert_eq!(status, 403, "only the owner or an admin yanks");
    let (status, _) = start(&env, &other, "yankee", "2.0.0", json!({"size": 10})).await;
    assert_eq!(
        status, 403,
        "only the owner or an admin publishes further versions"
    );

    let (status, yanked) = env
        .api
        .call(
            "POST",
            "/v1/packages/yankee/versions/1.1.0/yank",
            Some(&owner),
            Some(json!({"reason": "broken build"})),
        )
        .await;
    assert_eq!(
        (status, yanked["status"].as_str()),
        (200, Some("yanked")),
        "{yanked}"
    );
    assert_eq!(yanked["yanked_reason"], "broken build");
    let (_, pkg) = env
        .api
        .call("GET", "/v1/packages/yankee", Some(&owner), None)
        .await;
    assert_eq!(
        pkg["latest_version"], "1.0.0",
        "a yanked version is never the latest"
    );
    let (status, _) = env
        .api
        .call(
            "GET",
            "/v1/packages/yankee/versions/1.1.0/download",
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(
        status, 200,
        "a yanked version stays downloadable by pinned version"
    );
    let (status, _) = start(&env, &owner, "yankee", "1.1.0", json!({"size": 10})).await;
    assert_eq!(status, 409, "the same version can never be uploaded again");
    let (status, _) = env
        .api
        .call(
            "POST",
            "/v1/packages/yankee/versions/1.1.0/yank",
            Some(&owner),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn sensitive_package_hides_from_readers_outside_its_groups_and_audits_both() {
    let env = env("pkg-sensitive").await;
    let owner = env.bearer("pub9", &[Role::Publisher], &["security"]).await;
    let bytes = payload(2000);
    upload(
        &env,
        &owner,
        "vault",
        "1.0.0",
        &bytes,
        json!({"sensitive": true, "groups": ["security"]}),
    )
    .await;
    env.publish("vault", "1.0.0", &bytes).await;

    let outsider = env.bearer("outsider", &[Role::Reader], &["ops"]).await;
    let (status, body) = env
        .api
        .call(
            "GET",
            "/v1/packages/vault/versions/1.0.0/download",
            Some(&outsider),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "to an outsider a sensitive package does not exist"
    );
    let insider = env.bearer("insider", &[Role::Reader], &["security"]).await;
    let (status, _) = env
        .api
        .call(
            "GET",
            "/v1/packages/vault/versions/1.0.0/download",
            Some(&insider),
            None,
        )
        .await;
    assert_eq!(status, 200);

    let (status, audit) = env
        .api
        .call("GET", "/v1/packages/vault/downloads", Some(&owner), None)
        .await;
    assert_eq!(status, 200);
    let entries: Vec<(&str, bool)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["username"].as_str().expect("who"),
                e["allowed"].as_bool().expect("allowed"),
            )
        })
        .collect();
    assert_eq!(
        entries,
        vec![("insider", true), ("outsider", false)],
        "newest first"
    );
    let (status, _) = env
        .api
        .call("GET", "/v1/packages/vault/downloads", Some(&insider), None)
        .await;
    assert_eq!(status, 403, "the audit is for the owner and admins");
}

#[tokio::test]
async fn bad_names_versions_and_sizes_are_422() {
    let env = env("pkg-bad").await;
    let publisher = env.bearer("pub10", &[Role::Publisher], &[]).await;
    for (name, version, body, field) in [
        ("Bad_Name", "1.0.0", json!({"size": 10}), "name"),
        ("-bad", "1.0.0", json!({"size": 10}), "name"),
        ("good", "1.0", json!({"size": 10}), "version"),
        ("good", "v1.0.0", json!({"size": 10}), "version"),
        ("good", "1.0.0", json!({"size": 0}), "size"),
        (
            "good",
            "1.0.0",
            json!({"size": 5_497_558_138_881_u64}),
            "size",
        ),
        (
            "good",
            "1.0.0",
            json!({"size": 10, "part_size": 5 * MIB - 1}),
            "part_size",
        ),
        ("good", "1.0.0", json!({"size": -1}), "size"),
        ("good", "1.0.0", json!({"size": "10"}), "size"),
        (
            "good",
            "1.0.0",
            json!({"size": 10, "sha256": "xyz"}),
            "sha256",
        ),
        (
            "good",
            "1.0.0",
            json!({"size": 10, "unknown": true}),
            "unknown",
        ),
    ] {
        let (status, response) = start(&env, &publisher, name, version, body.clone()).await;
        assert_eq!(status, 422, "{name} {version} {body}: {response}");
        assert_eq!(
            response["error"]["details"][0]["field"], field,
            "{name} {version} {body}: {response}"
        );
    }
    let reader = env.bearer("reader10", &[Role::Reader], &[]).await;
    let (status, _) = start(&env, &reader, "good", "1.0.0", json!({"size": 10})).await;
    assert_eq!(status, 403, "readers do not publish");
    let (status, _) = env
        .api
        .call("GET", "/v1/uploads/not-a-uuid", Some(&publisher), None)
        .await;
    assert_eq!(status, 422);
    let (status, _) = env
        .api
        .call(
            "GET",
            "/v1/uploads/00000000-0000-4000-8000-000000000000",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = env
        .api
        .call("GET", "/v1/packages/nothing-here", Some(&publisher), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn listing_paginates_with_an_opaque_cursor() {
    let env = env("pkg-list").await;
    let publisher = env.bearer("pub11", &[Role::Publisher], &[]).await;
    for i in 0..5 {
        let (status, _) = start(
            &env,
            &publisher,
            &format!("lib-{i}"),
            "0.1.0",
            json!({"size": 10, "description": format!("library number {i}")}),
        )
        .await;
        assert_eq!(status, 201);
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/packages?limit=2&cursor={c}"),
            None => "/v1/packages?limit=2".to_owned(),
        };
        let (status, page) = env.api.call("GET", &path, Some(&publisher), None).await;
        assert_eq!(status, 200, "{page}");
        names.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["name"].as_str().expect("name").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, vec!["lib-0", "lib-1", "lib-2", "lib-3", "lib-4"]);
    let (status, _) = env
        .api
        .call(
            "GET",
            "/v1/packages?limit=2&cursor=AAAAtampered",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(status, 400, "a tampered cursor is a 400");
    let (status, _) = env
        .api
        .call("GET", "/v1/packages?limit=500", Some(&publisher), None)
        .await;
    assert_eq!(status, 422);
    let (status, _) = env.api.call("GET", "/v1/packages", None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_lapsed_reservation_frees_its_version_number() {
    let env = env("pkg-lapse").await;
    let store = packages::store::Store::new(env.dynamodb(), env.table());
    let name = PackageName::parse("lapsed").expect("name");
    let version = Version::parse("1.0.0").expect("version");
    let owner = shared::domain::Username::parse("pub12").expect("user");
    let reserve = |id: &shared::domain::UploadId, now: i64| {
        let (store, name, version, owner, id) = (
            store.clone(),
            name.clone(),
            version.clone(),
            owner.clone(),
            id.clone(),
        );
        async move {
            store
                .reserve_version(&packages::store::NewUpload {
                    name: &name,
                    version: &version,
                    caller: &owner,
                    caller_is_admin: false,
                    upload_id: &id,
                    size: 10,
                    sha256: None,
                    description: None,
                    sensitive: None,
                    groups: None,
                    now,
                    expires_at: now + 60,
                })
                .await
                .expect("store")
        }
    };
    let t = shared::dynamo::now() - 3600;
    let first = shared::domain::UploadId::new();
    assert_eq!(
        reserve(&first, t).await,
        packages::store::Reservation::Reserved
    );
    assert_eq!(
        reserve(&shared::domain::UploadId::new(), t + 30).await,
        packages::store::Reservation::VersionTaken
    );
    // An hour later the first upload's reservation has lapsed (TTL is only a hint to DynamoDB;
    // the condition and every read treat a passed TTL as absent).
    assert!(
        store
            .version(&name, &version)
            .await
            .expect("store")
            .is_none()
    );
    assert_eq!(
        reserve(&shared::domain::UploadId::new(), shared::dynamo::now()).await,
        packages::store::Reservation::Reserved
    );
    assert!(
        !store
            .mark_validating(&name, &version, &first)
            .await
            .expect("store"),
        "the lapsed upload cannot complete"
    );
}

/// Starts an upload of `bytes` in 5 MiB parts and PUTs every part, without
/// completing: the upload id and the `complete` body.
async fn upload_parts(
    env: &Env,
    bearer: &str,
    name: &str,
    version: &str,
    bytes: &[u8],
) -> (String, Value) {
    let (status, started) = start(
        env,
        bearer,
        name,
        version,
        json!({"size": bytes.len(), "part_size": 5 * MIB}),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(5 * MIB).enumerate() {
        let url = started["parts"][i]["url"].as_str().expect("url");
        parts.push(json!({"part_number": i + 1, "etag": put_part(&env.api, url, chunk).await}));
    }
    let id = started["upload_id"].as_str().expect("upload id").to_owned();
    (id, json!({"parts": parts}))
}

/// `(status, code, message)` of an answer: what tells a caller what exists.
fn verdict(answer: &(u16, Value)) -> (u16, String, String) {
    let (status, body) = answer;
    (
        *status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn a_second_version_may_say_sensitive_in_its_body() {
    let env = env("pkg-second").await;
    let owner = env.bearer("pub20", &[Role::Publisher], &["ops"]).await;
    let (status, body) = start(&env, &owner, "twice", "0.0.1", json!({"size": 35})).await;
    assert_eq!(status, 201, "{body}");
    // `sensitive` is a reserved word of DynamoDB: the update of the existing
    // package must name it through a placeholder.
    let (status, body) = start(
        &env,
        &owner,
        "twice",
        "0.1.0",
        json!({"size": 35, "sensitive": false}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = start(
        &env,
        &owner,
        "twice",
        "0.2.0",
        json!({"size": 35, "sensitive": true, "groups": ["ops"], "description": "Now restricted"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, pkg) = env
        .api
        .call("GET", "/v1/packages/twice", Some(&owner), None)
        .await;
    assert_eq!(status, 200, "{pkg}");
    assert_eq!(pkg["sensitive"], true);
    assert_eq!(pkg["groups"], json!(["ops"]));
    assert_eq!(pkg["description"], "Now restricted");
}

/// A sensitive package `vault` (owner `vaultowner`, group `security`) with a
/// published 1.0.0, beside a public package `open-tool` of the same owner.
async fn sensitive_estate(env: &Env) -> String {
    let owner = env
        .bearer("vaultowner", &[Role::Publisher], &["security"])
        .await;
    let bytes = payload(2000);
    upload(
        env,
        &owner,
        "vault",
        "1.0.0",
        &bytes,
        json!({"sensitive": true, "groups": ["security"], "description": "secret tool"}),
    )
    .await;
    env.publish("vault", "1.0.0", &bytes).await;
    upload(
        env,
        &owner,
        "open-tool",
        "1.0.0",
        &bytes,
        json!({"description": "a secret-free tool"}),
    )
    .await;
    env.publish("open-tool", "1.0.0", &bytes).await;
    owner
}

async fn listed(env: &Env, bearer: &str, query: &str) -> Vec<String> {
    let (status, page) = env
        .api
        .call("GET", &format!("/v1/packages{query}"), Some(bearer), None)
        .await;
    assert_eq!(status, 200, "{query}: {page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn sensitive_package_is_left_out_of_an_outsiders_list_and_search() {
    let env = env("pkg-hidden-list").await;
    let owner = sensitive_estate(&env).await;
    let outsider = env.bearer("outsider2", &[Role::Reader], &["ops"]).await;
    let insider = env.bearer("insider2", &[Role::Reader], &["security"]).await;
    let admin = env.bearer("admin2", &[Role::Admin], &[]).await;
    for query in ["", "?q=vault", "?q=SECRET", "?limit=1"] {
        let expected: &[&str] = if query == "?q=vault" {
            &[]
        } else {
            &["open-tool"]
        };
        assert_eq!(
            listed(&env, &outsider, query).await,
            expected,
            "outsider {query}"
        );
    }
    for (who, bearer) in [("owner", &owner), ("insider", &insider), ("admin", &admin)] {
        assert_eq!(
            listed(&env, bearer, "?q=secret").await,
            ["open-tool", "vault"],
            "{who}"
        );
        assert_eq!(listed(&env, bearer, "?q=vault").await, ["vault"], "{who}");
    }
    // A page of one, for an outsider, is the next visible package: nothing of
    // the hidden one shows, not even as an empty page before it.
    let (_, page) = env
        .api
        .call("GET", "/v1/packages?limit=1", Some(&outsider), None)
        .await;
    assert_eq!(page["items"][0]["name"], "open-tool");
}

#[tokio::test]
async fn every_route_of_a_sensitive_package_answers_an_outsider_as_if_it_did_not_exist() {
    let env = env("pkg-hidden-routes").await;
    let owner = sensitive_estate(&env).await;
    let outsider = env.bearer("outsider3", &[Role::Publisher], &["ops"]).await;
    let insider = env.bearer("insider3", &[Role::Reader], &["security"]).await;
    let routes = |name: &str| {
        vec![
            ("GET", format!("/v1/packages/{name}"), None),
            ("GET", format!("/v1/packages/{name}/versions/1.0.0"), None),
            ("GET", format!("/v1/packages/{name}/versions/9.9.9"), None),
            (
                "GET",
                format!("/v1/packages/{name}/versions/1.0.0/download"),
                None,
            ),
            ("GET", format!("/v1/packages/{name}/downloads"), None),
            (
                "POST",
                format!("/v1/packages/{name}/versions/1.0.0/yank"),
                Some(json!({"reason": "let me see"})),
            ),
        ]
    };
    for ((method, hidden, body), (_, absent, _)) in
        routes("vault").into_iter().zip(routes("nothing"))
    {
        let seen = env
            .api
            .call(method, &hidden, Some(&outsider), body.clone())
            .await;
        let nothing = env.api.call(method, &absent, Some(&outsider), body).await;
        assert_eq!(verdict(&seen).0, 404, "{method} {hidden}: {}", seen.1);
        assert_eq!(
            verdict(&seen),
            verdict(&nothing),
            "{method} {hidden} answers as {absent} does"
        );
    }
    // The refused download is audited all the same.
    let (status, audit) = env
        .api
        .call("GET", "/v1/packages/vault/downloads", Some(&owner), None)
        .await;
    assert_eq!(status, 200, "{audit}");
    let refused: Vec<(&str, bool)> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| (e["username"].as_str().expect("who"), e["allowed"] == true))
        .collect();
    assert_eq!(refused, vec![("outsider3", false)]);

    // Its name stays taken: an outsider's upload is refused exactly as one to
    // any other publisher's package is.
    let hidden = start(&env, &outsider, "vault", "2.0.0", json!({"size": 10})).await;
    let public = start(&env, &outsider, "open-tool", "2.0.0", json!({"size": 10})).await;
    let (status, code, message) = verdict(&hidden);
    assert_eq!(
        (status, code, message.replace("vault", "NAME")),
        {
            let (s, c, m) = verdict(&public);
            (s, c, m.replace("open-tool", "NAME"))
        },
        "{}",
        hidden.1
    );
    assert_eq!(status, 403);

    // A member of its groups sees it, and is refused only what needs the owner.
    for path in [
        "/v1/packages/vault",
        "/v1/packages/vault/versions/1.0.0",
        "/v1/packages/vault/versions/1.0.0/download",
    ] {
        let (status, body) = env.api.call("GET", path, Some(&insider), None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, _) = env
        .api
        .call("GET", "/v1/packages/vault/downloads", Some(&insider), None)
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn yanked_version_downloads_when_pinned_and_says_it_is_yanked() {
    let env = env("pkg-yanked-dl").await;
    let owner = env.bearer("pub21", &[Role::Publisher], &[]).await;
    let bytes = payload(1000);
    for version in ["1.0.0", "1.1.0"] {
        upload(&env, &owner, "pinned", version, &bytes, json!({})).await;
        env.publish("pinned", version, &bytes).await;
    }
    let (status, _) = env
        .api
        .call(
            "POST",
            "/v1/packages/pinned/versions/1.1.0/yank",
            Some(&owner),
            Some(json!({"reason": "broken build"})),
        )
        .await;
    assert_eq!(status, 200);
    let reader = env.bearer("reader21", &[Role::Reader], &[]).await;
    let download = |version: &str| {
        let (api, reader) = (env.api.clone(), reader.clone());
        let path = format!("/v1/packages/pinned/versions/{version}/download");
        async move { api.call("GET", &path, Some(&reader), None).await }
    };
    let (status, link) = download("1.1.0").await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["yanked"], true, "{link}");
    assert_eq!(link["yank_reason"], "broken build", "{link}");
    assert!(link["url"].is_string() && link["expires_at"].is_string());
    let (status, link) = download("1.0.0").await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["yanked"], false, "{link}");
    assert!(link.get("yank_reason").is_none(), "{link}");

    // Every other status is a 409: uploading, validating, rejected.
    start(&env, &owner, "pinned", "2.0.0", json!({"size": 10})).await;
    upload(&env, &owner, "pinned", "2.1.0", &bytes, json!({})).await;
    upload(&env, &owner, "pinned", "2.2.0", &bytes, json!({})).await;
    let rejected = env
        .store()
        .mark_rejected(
            &PackageName::parse("pinned").expect("name"),
            &Version::parse("2.2.0").expect("version"),
            &json!({"status": "failed", "checks": []}),
        )
        .await
        .expect("store");
    assert!(rejected);
    for version in ["2.0.0", "2.1.0", "2.2.0"] {
        let (status, body) = download(version).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("conflict")),
            "{version}: {body}"
        );
    }
}

#[tokio::test]
async fn an_upload_left_completing_by_a_crashed_complete_completes_on_retry() {
    let env = env("pkg-stuck").await;
    let publisher = env.bearer("pub22", &[Role::Publisher], &[]).await;
    let bytes = payload(6 * MIB);
    let (id, parts) = upload_parts(&env, &publisher, "stuck", "1.0.0", &bytes).await;
    // The invocation that claimed the session died before it did anything else.
    env.leave_completing(&id, None).await;
    let (status, body) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(parts),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("validating")),
        "{body}"
    );
    let (_, version) = env
        .api
        .call(
            "GET",
            "/v1/packages/stuck/versions/1.0.0",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(version["status"], "validating");
    let (status, progress) = env
        .api
        .call("GET", &format!("/v1/uploads/{id}"), Some(&publisher), None)
        .await;
    assert_eq!(
        (status, progress["status"].as_str()),
        (200, Some("validating"))
    );
}

#[tokio::test]
async fn a_retried_complete_finishes_an_upload_s3_had_already_completed() {
    let env = env("pkg-stuck-s3").await;
    let publisher = env.bearer("pub23", &[Role::Publisher], &[]).await;
    let bytes = payload(6 * MIB);
    let (id, parts) = upload_parts(&env, &publisher, "halfway", "1.0.0", &bytes).await;

    // A claim taken a moment ago belongs to a live request: not taken over.
    env.leave_completing(&id, Some(shared::dynamo::now())).await;
    let (status, body) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(parts.clone()),
        )
        .await;
    assert_eq!(status, 409, "{body}");

    // The invocation holding the claim completed the S3 upload, then died.
    let session = env.session_item(&id).await;
    let text = |k: &str| {
        session[k]
            .as_s()
            .unwrap_or_else(|_| panic!("session {k}"))
            .clone()
    };
    let s3 = shared::aws::s3(&env.aws);
    let listed = s3
        .list_parts()
        .bucket(env.bucket())
        .key(text("key"))
        .upload_id(text("s3_upload_id"))
        .send()
        .await
        .expect("ListParts");
    let completed: Vec<aws_sdk_s3::types::CompletedPart> = listed
        .parts()
        .iter()
        .map(|p| {
            aws_sdk_s3::types::CompletedPart::builder()
                .set_part_number(p.part_number())
                .set_e_tag(p.e_tag().map(str::to_owned))
                .build()
        })
        .collect();
    s3.complete_multipart_upload()
        .bucket(env.bucket())
        .key(text("key"))
        .upload_id(text("s3_upload_id"))
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .expect("CompleteMultipartUpload");
    // Long enough ago that the invocation cannot still be running.
    env.leave_completing(&id, Some(shared::dynamo::now() - 3600))
        .await;

    let (status, body) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(parts.clone()),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("validating")),
        "{body}"
    );
    let (status, again) = env
        .api
        .call(
            "POST",
            &format!("/v1/uploads/{id}/complete"),
            Some(&publisher),
            Some(parts),
        )
        .await;
    assert_eq!(
        (status, again["status"].as_str()),
        (202, Some("validating")),
        "{again}"
    );
    let (_, pkg) = env
        .api
        .call("GET", "/v1/packages/halfway", Some(&publisher), None)
        .await;
    assert_eq!(pkg["versions"][0]["status"], "validating", "{pkg}");
}

#[tokio::test]
async fn a_demoted_or_disabled_uploader_can_no_longer_sign_complete_or_abort() {
    let env = env("pkg-demoted").await;
    let bearer = env.bearer("pub24", &[Role::Publisher], &[]).await;
    let bytes = payload(6 * MIB);
    let (id, parts) = upload_parts(&env, &bearer, "demoted", "1.0.0", &bytes).await;

    // An admin takes the publisher role away (the record as PATCH /v1/users
    // leaves it); a new container has no stale copy of the user.
    support::user(&env.aws, &env.stack, "pub24", &[Role::Reader], &[]).await;
    let api = env.fresh_api().await;
    let routes = [
        (
            "POST",
            format!("/v1/uploads/{id}/parts"),
            Some(json!({"part_numbers": [1]})),
        ),
        ("GET", format!("/v1/uploads/{id}"), None),
        (
            "POST",
            format!("/v1/uploads/{id}/complete"),
            Some(parts.clone()),
        ),
        ("DELETE", format!("/v1/uploads/{id}"), None),
    ];
    for (method, path, body) in &routes {
        let (status, answer) = api.call(method, path, Some(&bearer), body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}: {answer}"
        );
    }
    let (_, version) = api
        .call(
            "GET",
            "/v1/packages/demoted/versions/1.0.0",
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(version["status"], "uploading", "nothing was completed");

    // Disabled: the credential itself stops working.
    let user = shared::users::User {
        username: shared::domain::Username::parse("pub24").expect("name"),
        email: "pub24@example.com".into(),
        password_hash: shared::auth::password::hash("pub24-password-123").expect("hash"),
        roles: vec![Role::Publisher],
        groups: vec![],
        disabled: true,
        created_at: "2026-11-26T00:00:00Z".into(),
    };
    support::users_store(&env.aws, &env.stack)
        .put_user(&user)
        .await
        .expect("store");
    let api = env.fresh_api().await;
    for (method, path, body) in &routes {
        let (status, answer) = api.call(method, path, Some(&bearer), body.clone()).await;
        assert_eq!(status, 401, "{method} {path}: {answer}");
    }
}

#[tokio::test]
async fn a_search_matching_nothing_reads_a_bounded_page_and_its_cursors_end() {
    let env = env("pkg-bounded").await;
    let table = shared::dynamo::Table::new(env.dynamodb(), env.table());
    let item = |name: String| -> shared::dynamo::Item {
        use shared::dynamo::{b, list, s};
        [
            ("pk", s(format!("PKG#{name}"))),
            ("sk", s("META")),
            ("gsi1pk", s("PACKAGES")),
            ("gsi1sk", s(&name)),
            ("name", s(&name)),
            ("owner", s("bulkowner")),
            ("description", s("one of many")),
            ("description_lc", s("one of many")),
            ("sensitive", b(false)),
            ("groups", list(Vec::<String>::new())),
            ("created_at", s("2026-11-26T00:00:00Z")),
            ("updated_at", s("2026-11-26T00:00:00Z")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    // More packages than one request may evaluate; the one match sorts last.
    let mut items: Vec<_> = (0..1_100).map(|i| item(format!("bulk-{i:04}"))).collect();
    items.push(item("zz-needle".to_owned()));
    table.batch_put(items).await.expect("BatchWriteItem");
    let reader = env.bearer("reader25", &[Role::Reader], &[]).await;

    for (query, expected) in [
        ("nothing-matches-this", vec![]),
        ("needle", vec!["zz-needle"]),
    ] {
        let mut pages = 0;
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/packages?q={query}&cursor={c}"),
                None => format!("/v1/packages?q={query}"),
            };
            let (status, page) = env.api.call("GET", &path, Some(&reader), None).await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            found.extend(
                page["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|p| p["name"].as_str().expect("name").to_owned()),
            );
            if pages == 1 {
                assert!(
                    page["items"].as_array().is_some_and(Vec::is_empty),
                    "nothing matches within the first 1,000: {page}"
                );
                assert!(
                    page["next_cursor"].is_string(),
                    "a partial page says where to go on: {page}"
                );
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(pages < 5, "the cursors end");
        }
        assert_eq!(found, expected, "{query}");
        assert!(pages >= 2, "{query}: {pages} pages");
    }
}

#[tokio::test]
async fn over_long_names_versions_and_ids_in_paths_are_422() {
    let env = env("pkg-long").await;
    let publisher = env.bearer("pub26", &[Role::Publisher], &[]).await;
    let name = "a".repeat(3000);
    let version = format!("1.0.0-{}", "a".repeat(3000));
    let id = "0".repeat(3000);
    for (method, path, body) in [
        ("GET", format!("/v1/packages/{name}"), None),
        ("GET", format!("/v1/packages/{name}/downloads"), None),
        ("GET", format!("/v1/packages/{name}/versions/1.0.0"), None),
        ("GET", format!("/v1/packages/ok/versions/{version}"), None),
        (
            "GET",
            format!("/v1/packages/ok/versions/{version}/download"),
            None,
        ),
        (
            "POST",
            format!("/v1/packages/ok/versions/{version}/yank"),
            Some(json!({"reason": "r"})),
        ),
        (
            "POST",
            format!("/v1/packages/{name}/versions/1.0.0/uploads"),
            Some(json!({"size": 10})),
        ),
        (
            "POST",
            format!("/v1/packages/ok/versions/{version}/uploads"),
            Some(json!({"size": 10})),
        ),
        ("GET", format!("/v1/uploads/{id}"), None),
        ("DELETE", format!("/v1/uploads/{id}"), None),
        (
            "POST",
            format!("/v1/uploads/{id}/parts"),
            Some(json!({"part_numbers": [1]})),
        ),
        (
            "POST",
            format!("/v1/uploads/{id}/complete"),
            Some(json!({"parts": []})),
        ),
        ("GET", format!("/v1/packages?q={}", "a".repeat(3000)), None),
    ] {
        let (status, answer) = env.api.call(method, &path, Some(&publisher), body).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (422, Some("validation_failed")),
            "{method} {}…: {answer}",
            &path[..60.min(path.len())]
        );
    }
}

#[tokio::test]
async fn a_missing_bucket_is_a_500_and_frees_the_version() {
    let env = env("pkg-nobucket").await;
    let publisher = env.bearer("pub27", &[Role::Publisher], &[]).await;
    // Our deployment without its bucket is our bug, not AWS being busy: no
    // retry will help, so it must not be a "safe to retry" 503.
    shared::aws::s3(&env.aws)
        .delete_bucket()
        .bucket(env.bucket())
        .send()
        .await
        .expect("DeleteBucket");
    let (status, body) = start(&env, &publisher, "orphan", "1.0.0", json!({"size": 10})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (500, Some("internal")),
        "{body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("NoSuchBucket") && !text.contains(&env.bucket()),
        "{text}"
    );
    let (status, _) = env
        .api
        .call(
            "GET",
            "/v1/packages/orphan/versions/1.0.0",
            Some(&publisher),
            None,
        )
        .await;
    assert_eq!(status, 404, "the reservation was released");
}

#[tokio::test]
async fn a_corrupt_item_is_a_500_never_a_404_or_a_missing_row() {
    let env = env("pkg-corrupt").await;
    let reader = env.bearer("reader28", &[Role::Reader], &[]).await;
    use shared::dynamo::s;
    // A package item without its owner, as a botched migration might leave it.
    env.dynamodb()
        .put_item()
        .table_name(env.table())
        .item("pk", s("PKG#broken"))
        .item("sk", s("META"))
        .item("gsi1pk", s("PACKAGES"))
        .item("gsi1sk", s("broken"))
        .item("name", s("broken"))
        .send()
        .await
        .expect("PutItem");
    for path in ["/v1/packages/broken", "/v1/packages"] {
        let (status, body) = env.api.call("GET", path, Some(&reader), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (500, Some("internal")),
            "{path}: {body}"
        );
    }
}
