//! The IAM, Lambda and ELB checks against a real scan: for each check, a
//! resource that fails it and one that passes, seeded in the emulator in an
//! account of its own, listed by the scanner through the real SDK, read back
//! from the inventory and evaluated by the advisor.
//!
//! What moto cannot show: it reports the root user as never having access
//! keys or MFA (GetAccountSummary's AccountAccessKeysPresent and
//! AccountMFAEnabled are fixed at 0), so only the passing side of
//! `iam.root_access_keys` and the failing side of `iam.root_without_mfa` are
//! seen here; and its keys are created now, so the age checks are evaluated
//! a further 91 days on for their failing side.

mod support;

use aws_config::SdkConfig;
use shared::inventory::Service;

use support::advisor::{function_code, function_role, has, named, raised, resources, scan};
use support::{account_id, in_account};

/// Users: one with a console password and no MFA, one with both; one with
/// two active keys (never used), one with one active key (used) and one
/// inactive. The account has no password policy; `strong` gets the CIS one.
async fn seed_iam(aws: &SdkConfig, account: &str, strong: &str) {
    let iam = aws_sdk_iam::Client::new(&in_account(aws, account, "us-east-1").await);
    for user in ["console-no-mfa", "console-mfa", "two-keys", "one-key"] {
        iam.create_user()
            .user_name(user)
            .send()
            .await
            .expect("user");
    }
    for user in ["console-no-mfa", "console-mfa"] {
        iam.create_login_profile()
            .user_name(user)
            .password("Not-a-real-password-1!")
            .send()
            .await
            .expect("login profile");
    }
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("console-mfa")
        .send()
        .await
        .expect("mfa device");
    iam.enable_mfa_device()
        .user_name("console-mfa")
        .serial_number(device.virtual_mfa_device().expect("device").serial_number())
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .expect("enable mfa");
    for _ in 0..2 {
        iam.create_access_key()
            .user_name("two-keys")
            .send()
            .await
            .expect("key");
    }
    let used = iam
        .create_access_key()
        .user_name("one-key")
        .send()
        .await
        .expect("key");
    let used = used.access_key().expect("key");
    let retired = iam
        .create_access_key()
        .user_name("one-key")
        .send()
        .await
        .expect("key");
    iam.update_access_key()
        .user_name("one-key")
        .access_key_id(retired.access_key().expect("key").access_key_id())
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .expect("deactivate");
    // One call signed with the key: the emulator records its last use.
    let as_user = aws
        .to_builder()
        .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
            aws_sdk_iam::config::Credentials::new(
                used.access_key_id(),
                used.secret_access_key(),
                None,
                None,
                "one-key",
            ),
        ))
        .build();
    aws_sdk_iam::Client::new(&as_user)
        .list_users()
        .send()
        .await
        .expect("a call with the user's key");

    aws_sdk_iam::Client::new(&in_account(aws, strong, "us-east-1").await)
        .update_account_password_policy()
        .minimum_password_length(14)
        .require_symbols(true)
        .require_numbers(true)
        .require_uppercase_characters(true)
        .require_lowercase_characters(true)
        .password_reuse_prevention(24)
        .send()
        .await
        .expect("password policy");
}

#[tokio::test]
async fn iam_checks_fail_the_weak_users_and_account_and_pass_the_others() {
    let (aws, state) = support::advisor::scanner_stack("adv-iam").await;
    let (account, strong) = (account_id(), account_id());
    seed_iam(&aws, &account, &strong).await;
    scan(&state, &[&account, &strong], &[Service::Iam]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);

    assert!(
        has(&now, "iam.console_user_without_mfa", "console-no-mfa"),
        "{now:?}"
    );
    assert!(
        !has(&now, "iam.console_user_without_mfa", "console-mfa"),
        "{now:?}"
    );
    assert!(has(&now, "iam.user_two_active_keys", "two-keys"), "{now:?}");
    assert!(!has(&now, "iam.user_two_active_keys", "one-key"), "{now:?}");

    // Keys made today are neither old nor unused yet; 91 days on they are.
    let later = shared::dynamo::now() + 91 * 86_400;
    let one_key = named(&found, "iam:user", "one-key");
    let two_keys = named(&found, "iam:user", "two-keys");
    assert!(
        !now.iter().any(|(c, _)| *c == "iam.access_key_not_rotated"),
        "{now:?}"
    );
    assert!(
        !now.iter().any(|(c, _)| *c == "iam.access_key_unused"),
        "{now:?}"
    );
    let old = shared::advisor::iam::access_key_not_rotated_at(one_key, later).expect("old");
    assert_eq!(
        old.detail.matches("Access key").count(),
        1,
        "the inactive key is not: {old:?}"
    );
    let unused = shared::advisor::iam::access_key_unused_at(two_keys, later).expect("unused");
    assert_eq!(unused.detail.matches("Access key").count(), 2, "{unused:?}");
    let active_last_used: Vec<_> = one_key.properties["access_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["status"] == "Active")
        .map(|k| k["last_used_at"].clone())
        .collect();
    assert!(
        active_last_used.len() == 1 && active_last_used[0].is_string(),
        "the used key's last use was read: {active_last_used:?}"
    );

    let the_account = found
        .iter()
        .find(|r| r.resource_type == "iam:account")
        .expect("the account is a resource");
    assert_eq!(
        (the_account.arn.as_str(), the_account.region.as_str()),
        (format!("arn:aws:iam::{account}:root").as_str(), "global")
    );
    assert!(has(&now, "iam.password_policy_weak", &account), "{now:?}");
    assert!(has(&now, "iam.root_without_mfa", &account), "{now:?}");
    assert!(!has(&now, "iam.root_access_keys", &account), "{now:?}");
    let strong_found = resources(&state, &strong).await;
    let strong_raised = raised(&strong_found);
    assert!(
        strong_found
            .iter()
            .any(|r| r.resource_type == "iam:account"),
        "{strong_found:?}"
    );
    assert!(
        !has(&strong_raised, "iam.password_policy_weak", &strong),
        "{strong_raised:?}"
    );
}

#[tokio::test]
async fn lambda_checks_fail_the_legacy_function_and_pass_the_current_ones() {
    use aws_sdk_lambda::types::{FunctionUrlAuthType, Runtime};
    let (aws, state) = support::advisor::scanner_stack("adv-lambda").await;
    let account = account_id();
    let config = in_account(&aws, &account, "us-east-1").await;
    let role = function_role(&config).await;
    let role = role.as_str();
    let lambda = aws_sdk_lambda::Client::new(&config);
    for (name, runtime, timeout, url) in [
        ("legacy", "python3.8", 900, Some(FunctionUrlAuthType::None)),
        (
            "current",
            "python3.13",
            30,
            Some(FunctionUrlAuthType::AwsIam),
        ),
        ("no-url", "python3.13", 60, None),
    ] {
        lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::from(runtime))
            .role(role)
            .handler("index.handler")
            .timeout(timeout)
            .code(function_code())
            .send()
            .await
            .expect("function");
        if let Some(auth) = url {
            lambda
                .create_function_url_config()
                .function_name(name)
                .auth_type(auth)
                .send()
                .await
                .expect("url");
        }
    }
    scan(&state, &[&account], &[Service::Lambda]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    for check in [
        "lambda.runtime_deprecated",
        "lambda.timeout_at_maximum",
        "lambda.function_url_without_auth",
    ] {
        assert!(has(&now, check, "legacy"), "{check}: {now:?}");
        for passing in ["current", "no-url"] {
            assert!(!has(&now, check, passing), "{check} {passing}: {now:?}");
        }
    }
    assert_eq!(
        named(&found, "lambda:function", "current").properties["url_auth_type"],
        "AWS_IAM"
    );
    assert!(named(&found, "lambda:function", "no-url").properties["url_auth_type"].is_null());
}

#[tokio::test]
async fn elb_checks_fail_idle_and_plain_http_balancers_and_pass_serving_and_redirecting_ones() {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, LoadBalancerTypeEnum, ProtocolEnum, RedirectActionConfig,
        RedirectActionStatusCodeEnum, TargetDescription, TargetTypeEnum,
    };
    let (aws, state) = support::advisor::scanner_stack("adv-elb").await;
    let account = account_id();
    let config = in_account(&aws, &account, "us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let subnets = ec2.describe_subnets().send().await.expect("subnets");
    let subnets: Vec<_> = subnets.subnets().iter().take(2).collect();
    let vpc = subnets[0].vpc_id().expect("vpc").to_owned();
    let subnet_ids: Vec<String> = subnets
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_owned))
        .collect();
    let instance = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .subnet_id(&subnet_ids[0])
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("instance");
    let instance = instance.instances()[0]
        .instance_id()
        .expect("id")
        .to_owned();

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let balancer = async |name: &str, kind: LoadBalancerTypeEnum| {
        let created = elb
            .create_load_balancer()
            .name(name)
            .r#type(kind)
            .set_subnets(Some(subnet_ids.clone()))
            .send()
            .await
            .expect("load balancer");
        created.load_balancers()[0]
            .load_balancer_arn()
            .expect("arn")
            .to_owned()
    };
    let target_group = async |name: &str, protocol: ProtocolEnum| {
        let created = elb
            .create_target_group()
            .name(name)
            .protocol(protocol)
            .port(80)
            .vpc_id(&vpc)
            .target_type(TargetTypeEnum::Instance)
            .send()
            .await
            .expect("target group");
        created.target_groups()[0]
            .target_group_arn()
            .expect("arn")
            .to_owned()
    };
    let forward = |tg: &str| {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(tg)
            .build()
    };
    let listen = async |lb: &str, protocol: ProtocolEnum, action: Action| {
        elb.create_listener()
            .load_balancer_arn(lb)
            .protocol(protocol)
            .port(80)
            .default_actions(action)
            .send()
            .await
            .expect("listener");
    };

    // No listeners at all.
    balancer("idle-alb", LoadBalancerTypeEnum::Application).await;
    // Plain HTTP forwarded to a target group nothing is registered in.
    let empty = balancer("empty-alb", LoadBalancerTypeEnum::Application).await;
    let empty_tg = target_group("empty-tg", ProtocolEnum::Http).await;
    listen(&empty, ProtocolEnum::Http, forward(&empty_tg)).await;
    // HTTP redirected to HTTPS (and no target groups: it only redirects).
    let redirecting = balancer("redirect-alb", LoadBalancerTypeEnum::Application).await;
    let redirect = Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port("443")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build();
    listen(&redirecting, ProtocolEnum::Http, redirect).await;
    // TCP forwarded to a target group with an instance in it.
    let busy = balancer("busy-nlb", LoadBalancerTypeEnum::Network).await;
    let busy_tg = target_group("busy-tg", ProtocolEnum::Tcp).await;
    elb.register_targets()
        .target_group_arn(&busy_tg)
        .targets(TargetDescription::builder().id(&instance).port(80).build())
        .send()
        .await
        .expect("register");
    listen(&busy, ProtocolEnum::Tcp, forward(&busy_tg)).await;

    scan(&state, &[&account], &[Service::Elbv2]).await;
    let found = resources(&state, &account).await;
    let now = raised(&found);
    assert!(
        has(&now, "elbv2.load_balancer_unused", "idle-alb"),
        "{now:?}"
    );
    assert!(
        has(&now, "elbv2.load_balancer_unused", "empty-alb"),
        "{now:?}"
    );
    assert!(
        !has(&now, "elbv2.load_balancer_unused", "busy-nlb"),
        "{now:?}"
    );
    assert!(
        !has(&now, "elbv2.load_balancer_unused", "redirect-alb"),
        "{now:?}"
    );
    assert!(
        has(&now, "elbv2.http_not_redirected_to_https", "empty-alb"),
        "{now:?}"
    );
    assert!(
        !has(&now, "elbv2.http_not_redirected_to_https", "redirect-alb"),
        "{now:?}"
    );
    assert!(
        !has(&now, "elbv2.http_not_redirected_to_https", "busy-nlb"),
        "{now:?}"
    );

    let idle = shared::advisor::evaluate(&found)
        .into_iter()
        .find(|r| r.check.id == "elbv2.load_balancer_unused" && r.resource.id == "idle-alb")
        .expect("idle");
    assert!(
        idle.failure.monthly_savings_usd > 0.0
            && (idle.failure.monthly_savings_usd - idle.resource.monthly_cost_usd).abs() < 1e-9,
        "{idle:?}"
    );
    let busy = named(&found, "elbv2:load-balancer", "busy-nlb");
    assert_eq!(busy.properties["target_groups"][0]["registered_targets"], 1);
}
