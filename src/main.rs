//! Thin entry point: parse the command line, wire the parts, map failures to exit codes
//! (2: usage, 1: runtime, e.g. a missing file).
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use pflog::cli::{Cli, Command, ReplayArgs, ReplayFormat};
use pflog::exposition::{self, Format};
use pflog::pipeline::Pipeline;
use pflog::replay::{self, UnsupportedSampler};
use pflog::report;
use prometheus_client::registry::Registry;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: the first line of clap's message, without the usage block.
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("pflog: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Replay(args) => run_replay(args),
        Command::Serve(args) => match pflog::serve::check_args(&args) {
            Ok(()) => pflog::serve::run(args),
            Err(e) => {
                eprintln!("pflog: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pflog: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_replay(args: ReplayArgs) -> Result<(), String> {
    let mut registry = Registry::default();
    let mut pipeline = Pipeline::new(args.pipeline.config(), &mut registry)?;
    let mut sampler = UnsupportedSampler::new(args.show_unsupported);
    replay::replay(
        &mut pipeline,
        &args.files,
        &args.rspamd_logs,
        args.threads(),
        &mut sampler,
    )?;
    let output = match args.format {
        ReplayFormat::Prometheus => exposition::render(&registry, Format::Prometheus),
        ReplayFormat::Openmetrics => exposition::render(&registry, Format::OpenMetrics),
        ReplayFormat::Text | ReplayFormat::Json => {
            let text = exposition::render(&registry, Format::Prometheus);
            let summary = report::summarize(&report::parse_exposition(&text));
            if args.format == ReplayFormat::Json {
                serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())? + "\n"
            } else {
                report::render_text(&summary)
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // `pflog replay ... | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(format!("writing output: {e}")),
    }
}
