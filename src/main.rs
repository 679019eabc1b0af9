//! Thin entry point: parse the command line, wire the parts, map failures to exit codes
//! (2: usage, 1: runtime, e.g. a missing file; `replay` also exits 1, after its report, when a
//! file could not be read to its end).
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use pflog::cli::{Cli, Command, ReplayArgs, ReplayFormat};
use pflog::exposition::{self, Format};
use pflog::pipeline::Pipeline;
use pflog::replay::{self, ReplayOptions, UnsupportedSampler};
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
            // Without a command clap prints the whole help: one line instead.
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprintln!("pflog: a command is required: serve or replay (see pflog --help)");
            } else {
                eprintln!("pflog: {}", usage_error(&e.render().to_string()));
            }
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Replay(args) => run_replay(args),
        Command::Serve(args) => match pflog::serve::check_args(&args) {
            Ok(()) => pflog::serve::run(args).map(|()| ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("pflog: {e}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pflog: {e}");
            ExitCode::from(1)
        }
    }
}

/// clap's message as one line: its first paragraph (the error, and for some errors the
/// argument it is about on the next lines), without the usage block and tips.
fn usage_error(rendered: &str) -> String {
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let line = paragraph.join(" ");
    match line.strip_prefix("error: ") {
        Some(rest) => rest.to_string(),
        None if line.is_empty() => "invalid arguments".to_string(),
        None => line,
    }
}

fn run_replay(args: ReplayArgs) -> Result<ExitCode, String> {
    let mut registry = Registry::default();
    let mut pipeline = Pipeline::new(args.pipeline.config(), &mut registry)?;
    let mut sampler = UnsupportedSampler::new(args.show_unsupported);
    let opts = ReplayOptions {
        threads: args.threads(),
        max_line: args.max_line_bytes as usize,
    };
    let replayed = replay::replay(
        &mut pipeline,
        &args.files,
        &args.rspamd_logs,
        opts,
        &mut sampler,
    )?;
    // What was read is reported; the file that stopped early is named before the report.
    for why in &replayed.incomplete {
        eprintln!("pflog: {why} (the report covers the lines before it)");
    }
    let output = match args.format {
        ReplayFormat::Prometheus => exposition::render(&registry, Format::Prometheus),
        ReplayFormat::Openmetrics => exposition::render(&registry, Format::OpenMetrics),
        ReplayFormat::Text | ReplayFormat::Json => {
            let text = exposition::render(&registry, Format::Prometheus);
            let summary = report::summarize(
                &report::parse_exposition(&text),
                &pipeline.metrics().extremes(),
            );
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
        Ok(()) => {}
        // `pflog replay ... | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(format!("writing output: {e}")),
    }
    // A report of part of the input is not a success (each such file was named above).
    Ok(if replayed.incomplete.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
