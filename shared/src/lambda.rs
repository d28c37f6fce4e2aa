//! Cold-start plumbing shared by every function's `main`.

use std::fmt::Display;
use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Awaits a function's state construction; on failure, reports it to the
/// Lambda Runtime API's `/init/error` (so the invocation fails with the
/// reason instead of a bare exit code) and returns the error for `main`.
pub async fn init<T, E>(state: impl Future<Output = Result<T, E>>) -> Result<T, E>
where
    E: Display,
{
    let result = state.await;
    if let Err(err) = &result {
        tracing::error!(error = %err, "cold start failed");
        if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
            if let Err(report) = post_init_error(&api, &err.to_string()).await {
                tracing::error!(error = %report, "could not report the init error to the runtime API");
            }
        }
    }
    result
}

/// `POST /2018-06-01/runtime/init/error`, as the Runtime API specifies. A
/// hand-rolled request: the runtime client is not up yet, and this is the
/// one call a broken configuration still needs.
async fn post_init_error(api: &str, message: &str) -> std::io::Result<()> {
    let body = serde_json::json!({
        "errorMessage": message,
        "errorType": "Runtime.ConfigError",
        "stackTrace": [],
    })
    .to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(api).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(())
}
