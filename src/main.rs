//! Entry point of the `mcp-registry` binary: parses the command line, sets up
//! logging, and runs `serve` (the default), `migrate` or an `admin` command.

use std::process::ExitCode;

use clap::Parser;

use mcp_registry::config::{Cli, Command, Settings};
use mcp_registry::{Application, cli, telemetry};

/// mimalloc instead of glibc's allocator: the profile of a loaded service
/// showed malloc/free (and contention on glibc's arena locks) as the largest
/// cost after the HTTP/2 stack itself (BENCHMARKS.md, "Middleware").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Cli::parse();
    let serving = matches!(args.command, None | Some(Command::Serve));
    let settings = match Settings::from_args(args.settings, serving) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("mcp-registry: {err}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = telemetry::init_logging(settings.log_format, &settings.log_level) {
        eprintln!("mcp-registry: {err:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mcp-registry: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args.command.unwrap_or(Command::Serve), settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("mcp-registry: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            // Registered before anything is served: a SIGTERM that arrives
            // right after start-up still shuts down gracefully.
            let shutdown = shutdown_signal()?;
            let app = Application::build(settings).await?;
            app.run_until_stopped(shutdown).await
        }
        Command::Migrate => {
            if settings.embedded_database {
                std::fs::create_dir_all(&settings.data_dir)?;
            }
            let store = mcp_registry::store::Store::connect(&settings.database_url).await?;
            store.migrate().await?;
            store.close().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin(command) => {
            let output = cli::run(command, &settings).await?;
            println!("{output}");
            Ok(())
        }
    }
}

/// Installs the SIGTERM and SIGINT handlers now and returns a future that
/// resolves on the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use anyhow::Context;
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
        }
    })
}
