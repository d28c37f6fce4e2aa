use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = shared::lambda::init(validator::State::from_env()).await?;
    let state = &state;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        validator::handle(event, state)
    }))
    .await
}
