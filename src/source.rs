//! Where log lines come from: a followed file ([`file`]) or the systemd journal ([`journal`]).
//!
//! Every source runs as its own task and reports through one `tokio::sync::mpsc` channel of
//! [`SourceMsg`]; `source` is the caller's index of the source, so one channel serves them all.
//! Lines are raw bytes without their `\n`: invalid UTF-8 and NUL bytes are passed through and
//! the consumer decodes (lossily).

pub mod file;
pub mod health;
pub mod journal;
pub mod metrics;
pub mod state;

pub use file::{FollowOptions, follow_file};
pub use journal::{JournalOptions, follow_journal, journal_record_to_line, run_journal};

/// Where a followed file has been read up to, for resuming after a restart (`--state-file`).
///
/// `dev`/`inode` name the file that was at the followed path; `offset` is the byte offset just
/// past the last complete line that has been delivered from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    pub dev: u64,
    pub inode: u64,
    pub offset: u64,
    /// The last bytes before `offset`: on resume they must still be there, else the file was
    /// truncated and rewritten while we were away (copytruncate), even if it grew past `offset`
    /// again; they also find that copy (`mail.log.1`) to read its unread tail from.
    pub tail: Tail,
}

impl Position {
    /// No file was at the path when reading began: whatever is there on resume is new and is
    /// read from its start. (Inode 0 is no file's; a file with this position is never "the same
    /// file", and its empty tail finds no predecessor.)
    pub const ABSENT: Position = Position {
        dev: 0,
        inode: 0,
        offset: 0,
        tail: Tail {
            len: 0,
            bytes: [0; Tail::MAX],
        },
    };
}

/// Up to [`Tail::MAX`] bytes, inline (so [`Position`] stays `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tail {
    len: u8,
    bytes: [u8; Tail::MAX],
}

impl Tail {
    pub const MAX: usize = 32;

    /// The last `MAX` bytes of `b` (all of it when shorter).
    pub fn new(b: &[u8]) -> Tail {
        let b = &b[b.len().saturating_sub(Tail::MAX)..];
        let mut bytes = [0u8; Tail::MAX];
        bytes[..b.len()].copy_from_slice(b);
        Tail {
            len: b.len() as u8,
            bytes,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What a source reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMsg {
    /// Complete lines (without `\n`), in order; one message per read.
    ///
    /// `position` (files only) is the position in the file currently at the followed path up to
    /// which every line has now been delivered; store the latest one to resume from it.
    Lines {
        source: usize,
        lines: Vec<Vec<u8>>,
        position: Option<Position>,
    },
    /// A new file appeared at the path (rename rotation, delete and recreate); it is read from
    /// its start, and the old file is still drained for a grace period.
    Rotated { source: usize },
    /// The file shrank below the read offset or was rewritten (copytruncate); read from 0.
    Truncated { source: usize },
    /// Something went wrong; the source keeps retrying (reported once per distinct problem).
    Error { source: usize, message: String },
    /// After an [`SourceMsg::Error`]: the problem is gone (the file is readable again,
    /// `journalctl` has been running for a while).
    Recovered { source: usize },
    /// A line longer than the limit: its first `max_line` bytes were delivered as the line, the
    /// rest up to the next `\n` was skipped.
    LineTooLong { source: usize },
    /// The file does not exist (yet); sent once, then polled until it appears.
    Waiting { source: usize },
    /// The journal cursor of the last record read, after the lines of that read (only with
    /// [`JournalOptions::report_cursor`]); store it to resume after it.
    JournalCursor { source: usize, cursor: String },
}

impl SourceMsg {
    /// The index of the source that sent it.
    pub fn source(&self) -> usize {
        match self {
            SourceMsg::Lines { source, .. }
            | SourceMsg::Rotated { source }
            | SourceMsg::Truncated { source }
            | SourceMsg::Error { source, .. }
            | SourceMsg::Recovered { source }
            | SourceMsg::LineTooLong { source }
            | SourceMsg::Waiting { source }
            | SourceMsg::JournalCursor { source, .. } => *source,
        }
    }
}
