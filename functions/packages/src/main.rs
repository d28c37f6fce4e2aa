#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = shared::lambda::init(packages::State::from_env()).await?;
    lambda_http::run(packages::router(state)).await
}
