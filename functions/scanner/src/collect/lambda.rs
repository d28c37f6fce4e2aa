//! Lambda: functions, with runtime, memory, timeout, architecture and the
//! auth type of their function URL.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::FunctionConfiguration;
use serde_json::json;
use shared::inventory::Service;
use shared::resources::Resource;

use super::{CollectError, Context, detailed, tag_map};

/// What this collector calls, as IAM names it.
pub const IAM_ACTIONS: &[&str] = &[
    "lambda:ListFunctions",
    "lambda:ListTags",
    "lambda:GetFunctionUrlConfig",
];

/// Whether a call failed because what it reads does not exist: for
/// GetFunctionUrlConfig, a function without a URL.
fn not_found<E: aws_sdk_lambda::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_lambda::error::SdkError<E, R>,
) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFoundException")
}

pub async fn collect(cx: &Context<'_>) -> Result<Vec<Resource>, CollectError> {
    let lambda = &Client::new(cx.config);
    let mut functions = Vec::new();
    let mut pages = lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        functions.extend(page?.functions().iter().cloned());
    }
    detailed(functions, |function| describe(cx, lambda, function)).await
}

async fn describe(
    cx: &Context<'_>,
    lambda: &Client,
    function: FunctionConfiguration,
) -> Result<Option<Resource>, CollectError> {
    let (Some(name), Some(arn)) = (function.function_name(), function.function_arn()) else {
        return Ok(None);
    };
    let (tags, url_auth_type) = futures::try_join!(
        async { Ok::<_, CollectError>(lambda.list_tags().resource(arn).send().await?) },
        async {
            match lambda
                .get_function_url_config()
                .function_name(name)
                .send()
                .await
            {
                Ok(url) => Ok(Some(url.auth_type().as_str().to_owned())),
                Err(e) if not_found(&e) => Ok(None),
                Err(e) => Err(CollectError::from(e)),
            }
        },
    )?;
    let mut r = cx.resource(Service::Lambda, "function", arn.to_owned(), name);
    r.name = Some(name.to_owned());
    r.tags = tag_map(
        tags.tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str()))),
    );
    r.state = function
        .state()
        .map(|s| s.as_str().to_owned())
        .or(Some("Active".into()));
    r.created_at = function.last_modified().map(str::to_owned);
    // Billed per request and GB-second: nothing to estimate from inventory alone.
    r.properties = json!({
        "runtime": function.runtime().map(|x| x.as_str()),
        "memory_mb": function.memory_size(),
        "timeout_s": function.timeout(),
        "architectures": function.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "code_size": function.code_size(),
        // The unqualified function URL's AuthType (`NONE` or `AWS_IAM`);
        // null when the function has no URL.
        "url_auth_type": url_auth_type,
    });
    Ok(Some(r))
}
