//! Command line: parsed with clap, validated into the configs the library takes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::correlator::CorrelatorConfig;
use crate::pipeline::PipelineConfig;

#[derive(Debug, Parser)]
#[command(
    name = "pflog",
    version,
    about = "Postfix mail logs to Prometheus metrics",
    long_about = "Follows Postfix, postgrey, policyd-weight and rspamd logs, correlates them by queue ID \
and serves Prometheus metrics (serve), or analyses a log offline (replay)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Follow mail logs (files or the systemd journal) and serve /metrics.
    Serve(ServeArgs),
    /// Analyse log files offline and print a report or the metrics exposition.
    Replay(ReplayArgs),
}

#[derive(Debug, Args, Clone)]
pub struct PipelineArgs {
    /// Year of BSD-style timestamps (default: inferred from the current date).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1970..=9999))]
    pub year: Option<i32>,
    /// Read BSD-style timestamps as UTC instead of the local time zone.
    #[arg(long)]
    pub utc: bool,
    /// Messages tracked at once by the correlator (LRU capacity).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub capacity: u64,
    /// Drop a tracked message idle this long in log time (e.g. 7d, 12h, 90m).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub message_ttl: i64,
    /// A greylisted triplet not passed within this log time counts as abandoned.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub greylist_window: i64,
    /// Distinct values kept per label taken from the log (cipher, service, ...); more are `other`.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub label_cap: u64,
    /// How long (log time) a message's final outcome waits for an rspamd verdict read after it
    /// (rspamd's own log followed beside the mail log), e.g. 30s, 2m.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub join_window: i64,
    /// Extra reject classification rule REASON=REGEX, tried before the built-in table (repeatable).
    #[arg(long = "reject-rule", value_name = "REASON=REGEX", value_parser = parse_rule)]
    pub reject_rules: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReplayFormat {
    Text,
    Json,
    Prometheus,
    Openmetrics,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Log files in order (plain, gzip, xz, bzip2 or zstd, told by their first bytes; - for
    /// standard input). Default: standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Text)]
    pub format: ReplayFormat,
    /// rspamd's own log file, merged with the mail log by time (repeatable).
    #[arg(long = "rspamd-log", value_name = "FILE")]
    pub rspamd_logs: Vec<PathBuf>,
    /// Print up to N unsupported lines per program to standard error.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub show_unsupported: usize,
    /// Threads that read and parse chunks of lines, and take turns to correlate and count
    /// them in log order (same numbers for any N). 1: one thread parses, one reads ahead.
    /// Default: the CPUs pflog may run on.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub threads: Option<u64>,
    /// Longest line kept, in bytes; longer lines are counted and cut (as `serve`'s).
    #[arg(long, default_value_t = MAX_LINE_BYTES, value_parser = max_line_bytes)]
    pub max_line_bytes: u64,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl ReplayArgs {
    /// `--threads`, or the CPUs this process may run on (its affinity mask, cgroup quota).
    pub fn threads(&self) -> usize {
        match self.threads {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Log file to follow (repeatable), e.g. /var/log/mail.log and /var/log/rspamd/rspamd.log.
    #[arg(long = "log", value_name = "PATH", value_parser = log_path)]
    pub logs: Vec<PathBuf>,
    /// Read the systemd journal (journalctl --follow) instead of, or besides, files.
    #[arg(long)]
    pub journal: bool,
    /// journalctl match (repeatable); default SYSLOG_FACILITY=2 (mail).
    #[arg(long = "journal-match", value_name = "MATCH", requires = "journal")]
    pub journal_matches: Vec<String>,
    /// Read what the files hold already, instead of starting at their end.
    #[arg(long)]
    pub from_start: bool,
    /// Address to listen on (`:9154` = all addresses).
    #[arg(long = "web.listen-address", default_value = ":9154", value_parser = listen_address)]
    pub listen_address: String,
    /// Path of the metrics endpoint.
    #[arg(long = "web.telemetry-path", default_value = "/metrics", value_parser = telemetry_path)]
    pub telemetry_path: String,
    /// exporter-toolkit web config (TLS, basic auth).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Longest line kept, in bytes; longer lines are counted and skipped.
    #[arg(long, default_value_t = MAX_LINE_BYTES, value_parser = max_line_bytes)]
    pub max_line_bytes: u64,
    /// Keep file positions and the journal cursor here, to resume after a restart.
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl PipelineArgs {
    pub fn config(&self) -> PipelineConfig {
        let capacity = self.capacity as usize;
        PipelineConfig {
            year: self.year,
            utc_offset: self.utc.then_some(0),
            correlator: CorrelatorConfig {
                capacity,
                message_ttl: self.message_ttl,
                greylist_window: self.greylist_window,
                session_capacity: (capacity / 5).max(1_000),
                triplet_capacity: capacity,
                join_window: self.join_window,
                ..CorrelatorConfig::default()
            },
            label_cap: self.label_cap as usize,
            reject_rules: self.reject_rules.clone(),
        }
    }
}

/// `90s`, `15m`, `12h`, `7d` (or plain seconds) -> microseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 12h or 7d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "{s:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ));
        }
    };
    n.checked_mul(secs * 1_000_000)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{s:?} is out of range"))
}

/// `REASON=REGEX`, checked here (a known reason, a regex that compiles) so that a bad rule is a
/// usage error.
fn parse_rule(s: &str) -> Result<(String, String), String> {
    let (reason, regex) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not REASON=REGEX"))?;
    crate::reject_reason::user_rule(reason, regex)?;
    Ok((reason.to_string(), regex.to_string()))
}

/// `--max-line-bytes`' default, the same for `serve` and `replay`.
pub const MAX_LINE_BYTES: u64 = 65_536;

fn max_line_bytes(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of bytes"))?;
    if (256..=16_777_216).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is not in 256..=16777216"))
    }
}

fn log_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("the path is empty".into());
    }
    Ok(PathBuf::from(s))
}

/// `host:port` or `:port` (every address). The host is an IP address (IPv6 in brackets) or a
/// name (resolved when binding).
fn listen_address(s: &str) -> Result<String, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not host:port or :port"))?;
    port.parse::<u16>()
        .map_err(|_| format!("{s:?}: {port:?} is not a port number"))?;
    let ipv6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    let name = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if host.is_empty() || ipv6 || name {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?}: {host:?} is not an IP address ([...] for IPv6) or a host name"
        ))
    }
}

/// An absolute URL path: anything else could never match a request's path.
fn telemetry_path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} does not start with /"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
    {
        return Err(format!("{s:?}: {c:?} cannot be part of a URL path"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90_000_000));
        assert_eq!(parse_duration("2h"), Ok(7_200_000_000));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400_000_000));
        assert_eq!(parse_duration("30"), Ok(30_000_000));
        assert!(parse_duration("3x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn listen_addresses() {
        for ok in [
            ":9154",
            "127.0.0.1:0",
            "[::1]:9154",
            "[::]:80",
            "localhost:9154",
            "mx-1.example.org:9154",
        ] {
            assert_eq!(listen_address(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "", "9154", "nonsense", ":", ":http", ":65536", "::1:9154", "[::1]", "a b:1",
            "1.2.3.4:",
        ] {
            assert!(listen_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn telemetry_paths() {
        assert!(telemetry_path("/metrics").is_ok());
        assert!(telemetry_path("/").is_ok());
        for bad in ["", "metrics", "/a b", "/m?x", "/m#x"] {
            assert!(telemetry_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
