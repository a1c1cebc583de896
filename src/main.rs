//! The `gatehouse` binary: parse the command line, set up logging, run, and turn an
//! error into a message and a non-zero exit code. Everything else is in the library.

use clap::{CommandFactory, Parser};
use gatehouse::cli::operator::{self as ops, CheckFailure};
use gatehouse::cli::{CertCommand, Cli, Command, HashCommand, ImportCommand, LogFormat};
use std::io::IsTerminal;
use std::process::ExitCode;

fn init_logging(filter: tracing_subscriber::filter::Targets, format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(layer.json().flatten_event(true)).init();
    } else {
        registry.with(layer).init();
    }
}

fn serve(args: &gatehouse::config::ServeArgs) -> anyhow::Result<()> {
    let config = gatehouse::config::Config::from_args(args)?;
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(gatehouse::app::serve(config))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level.clone(), cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::User(cmd) => ops::user(cmd),
        Command::Keys(cmd) => ops::keys(cmd),
        Command::Client(cmd) => ops::client(cmd),
        Command::Backup(a) => ops::backup(a),
        Command::Import(ImportCommand::Tutorial(a)) => gatehouse::cli::import::tutorial(a),
        Command::Restore(a) => ops::restore(a),
        Command::MigrateStore(a) => ops::migrate_store(&a),
        Command::Check(args) => {
            return match ops::check(&args) {
                Ok(msg) => {
                    println!("{msg}");
                    ExitCode::SUCCESS
                }
                Err(CheckFailure::Config(e)) => {
                    eprintln!("gatehouse check: {e}");
                    ExitCode::from(2)
                }
                Err(CheckFailure::Database(e)) => {
                    eprintln!("gatehouse check: {e}");
                    ExitCode::from(3)
                }
            }
        }
        Command::Hash(HashCommand::Calibrate { target_ms, max_memory_mib }) => {
            ops::hash_calibrate(target_ms, max_memory_mib)
        }
        Command::Cert(CertCommand::Show { tls_cert, data_dir }) => {
            ops::cert_show(tls_cert.as_deref(), &data_dir)
        }
        Command::Cert(CertCommand::Regenerate { hostnames, data_dir }) => {
            ops::cert_regenerate(&data_dir, &hostnames)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "gatehouse", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}
