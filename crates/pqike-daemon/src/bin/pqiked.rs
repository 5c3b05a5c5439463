//! pqiked: the pqike IKEv2 daemon.
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// pqike IKEv2 daemon (post-quantum hybrid key exchange, RFC 9370 / ML-KEM).
#[derive(Parser)]
#[command(name = "pqiked", version)]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Log level: error|warn|info|debug|trace (overrides the config file).
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Only parse and validate the configuration, print a summary, and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match pqike_daemon::config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        print!("{}", cfg.summary());
        return ExitCode::SUCCESS;
    }
    let level = args
        .log_level
        .clone()
        .unwrap_or_else(|| cfg.log_level.clone());
    if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
        eprintln!("unknown log level `{level}`");
        return ExitCode::FAILURE;
    }
    pqike_daemon::daemon::init_logging(&level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(pqike_daemon::daemon::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("pqiked: {e}");
            ExitCode::FAILURE
        }
    }
}
