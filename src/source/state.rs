//! What `--state-file` keeps, so that `pflog serve` resumes where it stopped: per followed
//! file its identity and position, for the journal its cursor. Written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Position, Tail};

/// What `--state-file` keeps: per followed file, where reading stopped; for the journal, the
/// cursor of the last record read.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    pub files: BTreeMap<String, FilePosition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FilePosition {
    pub dev: u64,
    pub inode: u64,
    pub offset: u64,
    /// The last bytes before `offset`, in hex (see [`Position::tail`]); absent in state files
    /// of earlier versions.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tail: String,
}

impl FilePosition {
    pub fn from_position(p: &Position) -> FilePosition {
        use std::fmt::Write;
        let mut tail = String::with_capacity(2 * Tail::MAX);
        for b in p.tail.as_bytes() {
            let _ = write!(tail, "{b:02x}");
        }
        FilePosition {
            dev: p.dev,
            inode: p.inode,
            offset: p.offset,
            tail,
        }
    }

    pub fn to_position(&self) -> Result<Position, String> {
        let hex = self.tail.as_bytes();
        if !hex.len().is_multiple_of(2) || hex.len() > 2 * Tail::MAX {
            return Err(format!("bad tail {:?}", self.tail));
        }
        let bytes = hex
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad tail {:?}", self.tail))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        if bytes.len() as u64 > self.offset {
            return Err(format!("tail longer than offset {}", self.offset));
        }
        Ok(Position {
            dev: self.dev,
            inode: self.inode,
            offset: self.offset,
            tail: Tail::new(&bytes),
        })
    }
}

impl State {
    /// A missing file is an empty state; an unreadable or corrupt one is an error.
    pub fn load(path: &Path) -> Result<State, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("state file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!("state file {}: {e}", path.display())),
        }
    }

    /// Written atomically: a temporary file beside it (`PATH.tmp`), fsynced, renamed over it,
    /// and the directory fsynced so that the rename itself survives a power loss.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let json = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| format!("state file {}: {e}", path.display()))
    }
}
