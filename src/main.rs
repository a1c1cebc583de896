//! The `gatehouse` binary: parse the command line, set up logging, run, and turn an
//! error into a message and a non-zero exit code. Everything else is in the library.

use clap::Parser;
use gatehouse::cli::{Cli, Command, KeysCommand, LogFormat, UserCommand};
use std::io::IsTerminal;
use std::process::ExitCode;

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => {
            gatehouse::config::Config::from_args(&args).map_err(anyhow::Error::from).and_then(|config| {
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?
                    .block_on(gatehouse::server::run(config))
            })
        }
        Command::User(UserCommand::Add(args)) => gatehouse::ops::user_add(&args),
        Command::User(UserCommand::SetRole(args)) => gatehouse::ops::user_set_role(&args),
        Command::Keys(KeysCommand::Rotate(args)) => gatehouse::ops::keys_rotate(&args),
        Command::Keys(KeysCommand::List(args)) => gatehouse::ops::keys_list(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}
