use std::process::ExitCode;

use ragcast::app::{App, StartError};
use ragcast::config::Settings;
use ragcast::{shutdown, telemetry};

fn main() -> ExitCode {
    // `ragcast extract-pdf …` is the PDF extraction child the server starts: no runtime, no
    // logs, one thread.
    if let Some(code) = ragcast::ingest::pdf::run_if_child() {
        return code;
    }
    serve()
}

#[tokio::main]
async fn serve() -> ExitCode {
    telemetry::init("info,sqlx=warn,socketioxide=warn,engineioxide=warn");
    let config = match Settings::from_args_and_env().validate() {
        Ok(config) => config,
        Err(e) => return setting_error(e.into()),
    };
    if matches!(config.auth.mode, ragcast::config::AuthMode::None)
        && !config.bind.ip().is_loopback()
    {
        tracing::warn!(
            bind = %config.bind,
            "auth mode `none` on a non-loopback address: anyone who reaches this port can use every project"
        );
    }
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => return setting_error(e),
    };
    match app.run(shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One clear line and exit status 2, as for a bad flag.
fn setting_error(e: StartError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
