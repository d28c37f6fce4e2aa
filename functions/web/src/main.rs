#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let site = web::Site::from_env(&shared::Env::process())?;
    lambda_http::run(web::router(site)).await
}
