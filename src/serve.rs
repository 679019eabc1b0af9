//! `pflog serve`: follow the logs, feed the pipeline, answer scrapes.

use crate::cli::ServeArgs;

pub fn run(_args: ServeArgs) -> Result<(), String> {
    Err("serve is not wired yet".into())
}
