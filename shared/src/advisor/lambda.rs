//! Lambda checks: deprecated runtimes, timeouts at the maximum, function
//! URLs anyone can invoke.

use super::{Category, Check, Estate, Failure, Severity, props};
use crate::resources::Resource;

pub const CHECKS: &[Check] = &[
    Check {
        id: "lambda.runtime_deprecated",
        title: "Lambda function uses a deprecated runtime",
        severity: Severity::Medium,
        category: Category::Security,
        resource_type: "lambda:function",
        recommendation: "Move it to the newest runtime of its language (Go 1.x and `provided` move to `provided.al2023`; AWS's list: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), test it, then `aws lambda update-function-configuration --function-name {name} --runtime <runtime> --region {region}` (Console: Lambda > Functions > {name} > Code > Runtime settings > Edit).",
        needs_metrics: false,
        evaluate: runtime_deprecated,
    },
    Check {
        id: "lambda.timeout_at_maximum",
        title: "Lambda function timeout is at the 15-minute maximum",
        severity: Severity::Low,
        category: Category::Reliability,
        resource_type: "lambda:function",
        recommendation: "Set the timeout a little above the longest duration it needs (CloudWatch metric AWS/Lambda Duration, Maximum): `aws lambda update-function-configuration --function-name {name} --timeout <seconds> --region {region}` (Console: Lambda > Functions > {name} > Configuration > General configuration > Edit); work that needs longer belongs in Step Functions or ECS.",
        needs_metrics: false,
        evaluate: timeout_at_maximum,
    },
    Check {
        id: "lambda.function_url_without_auth",
        title: "Lambda function URL lets anyone invoke the function",
        severity: Severity::High,
        category: Category::Security,
        resource_type: "lambda:function",
        recommendation: "Require IAM authentication: `aws lambda update-function-url-config --function-name {name} --auth-type AWS_IAM --region {region}` (Console: Lambda > Functions > {name} > Configuration > Function URL > Edit > Auth type AWS_IAM); if it must stay public, make the function authenticate its callers, or remove the URL: `aws lambda delete-function-url-config --function-name {name} --region {region}`.",
        needs_metrics: false,
        evaluate: function_url_without_auth,
    },
];

/// Runtimes AWS has deprecated, with the day each was deprecated (from then
/// on AWS no longer patches it), from the "Deprecated runtimes" table of
/// <https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html>.
/// `java8` and `provided` are the Amazon Linux 1 runtimes (`java8.al2` and
/// `provided.al2` are others). A runtime joins the table once AWS has
/// deprecated it: scheduled dates move, and a finding before the day would
/// be a false one.
pub const DEPRECATED_RUNTIMES: &[(&str, &str)] = &[
    ("python3.9", "2025-12-15"),
    ("nodejs18.x", "2025-09-01"),
    ("dotnet6", "2024-12-20"),
    ("python3.8", "2024-10-14"),
    ("nodejs16.x", "2024-06-12"),
    ("dotnet7", "2024-05-14"),
    ("java8", "2024-01-08"),
    ("go1.x", "2024-01-08"),
    ("provided", "2024-01-08"),
    ("ruby2.7", "2023-12-07"),
    ("nodejs14.x", "2023-12-04"),
    ("python3.7", "2023-12-04"),
    ("dotnetcore3.1", "2023-04-03"),
    ("nodejs12.x", "2023-03-31"),
    ("python3.6", "2022-07-18"),
    ("dotnet5.0", "2022-05-10"),
    ("dotnetcore2.1", "2022-01-05"),
    ("nodejs10.x", "2021-07-30"),
    ("ruby2.5", "2021-07-30"),
    ("python2.7", "2021-07-15"),
    ("nodejs8.10", "2020-03-06"),
    ("nodejs4.3", "2020-03-05"),
    ("nodejs4.3-edge", "2020-03-05"),
    ("nodejs6.10", "2019-08-12"),
    ("dotnetcore1.0", "2019-07-27"),
    ("dotnetcore2.0", "2019-05-30"),
    ("nodejs", "2016-10-31"),
];

/// Lambda's longest timeout, in seconds.
pub const MAX_TIMEOUT_S: i64 = 900;

/// The day `runtime` was deprecated, if it was by `now` (seconds since the epoch).
pub fn deprecated_on(runtime: &str, now: i64) -> Option<&'static str> {
    let today = chrono::DateTime::from_timestamp(now, 0)?
        .format("%Y-%m-%d")
        .to_string();
    DEPRECATED_RUNTIMES
        .iter()
        .find(|(name, day)| *name == runtime && *day <= today.as_str())
        .map(|(_, day)| *day)
}

/// [`runtime_deprecated`] as of `now` (seconds since the epoch).
pub fn runtime_deprecated_at(r: &Resource, now: i64) -> Option<Failure> {
    let runtime = props::str(r, "runtime")?;
    let day = deprecated_on(runtime, now)?;
    Some(Failure::because(format!(
        "Its runtime {runtime} was deprecated on {day}: AWS no longer patches it, and some months after that day Lambda blocks creating and then updating functions on it."
    )))
}

fn runtime_deprecated(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    runtime_deprecated_at(r, crate::dynamo::now())
}

fn timeout_at_maximum(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    let timeout = props::get(r, "timeout_s")?.as_i64()?;
    (timeout >= MAX_TIMEOUT_S).then(|| {
        Failure::because(format!(
            "Its timeout is {timeout} seconds, Lambda's maximum: a stuck invocation runs (and is billed) for 15 minutes, and work that grows has no headroom left."
        ))
    })
}

fn function_url_without_auth(r: &Resource, _: &Estate<'_>) -> Option<Failure> {
    (props::str(r, "url_auth_type")? == "NONE").then(|| {
        Failure::because(
            "Its function URL has AuthType NONE: anyone who knows the URL can invoke it.",
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixture::{resource, run};
    use super::*;

    fn check(id: &str) -> &'static Check {
        CHECKS.iter().find(|c| c.id == id).expect("check")
    }

    fn function(properties: serde_json::Value) -> Resource {
        resource("lambda:function", "orders-api", properties)
    }

    /// 2026-12-01T00:00:00Z.
    const NOW: i64 = 1_796_083_200;

    #[test]
    fn a_function_on_python3_8_fails_with_its_deprecation_day() {
        let r = function(json!({"runtime": "python3.8"}));
        let failure = runtime_deprecated_at(&r, NOW).expect("fails");
        assert!(failure.detail.contains("2024-10-14"), "{}", failure.detail);
        assert!(run(check("lambda.runtime_deprecated"), &r, &[]).is_some());
    }

    #[test]
    fn a_supported_runtime_or_one_before_its_deprecation_day_passes() {
        let current = function(json!({"runtime": "python3.13"}));
        assert_eq!(runtime_deprecated_at(&current, NOW), None);
        let python39 = function(json!({"runtime": "python3.9"}));
        let the_day_before = 1_765_670_400; // 2025-12-14T00:00:00Z
        assert_eq!(runtime_deprecated_at(&python39, the_day_before), None);
        assert!(runtime_deprecated_at(&python39, the_day_before + 86_400).is_some());
        let image = function(json!({"runtime": null}));
        assert_eq!(runtime_deprecated_at(&image, NOW), None);
    }

    #[test]
    fn a_function_with_a_900_second_timeout_fails() {
        let r = function(json!({"timeout_s": 900}));
        assert!(run(check("lambda.timeout_at_maximum"), &r, &[]).is_some());
    }

    #[test]
    fn a_function_with_a_shorter_timeout_passes() {
        for r in [function(json!({"timeout_s": 899})), function(json!({}))] {
            assert_eq!(run(check("lambda.timeout_at_maximum"), &r, &[]), None);
        }
    }

    #[test]
    fn a_function_url_without_auth_fails() {
        let r = function(json!({"url_auth_type": "NONE"}));
        assert!(run(check("lambda.function_url_without_auth"), &r, &[]).is_some());
    }

    #[test]
    fn an_iam_authenticated_url_or_no_url_passes() {
        for r in [
            function(json!({"url_auth_type": "AWS_IAM"})),
            function(json!({"url_auth_type": null})),
        ] {
            assert_eq!(
                run(check("lambda.function_url_without_auth"), &r, &[]),
                None
            );
        }
    }
}
