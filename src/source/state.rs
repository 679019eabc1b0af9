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

/// What [`State::load`] found.
#[derive(Debug)]
pub enum Loaded {
    /// No state file yet.
    Missing,
    Read(State),
    /// The file is there but cannot be used (cut short, not JSON, a bad entry, empty); it was
    /// moved to the path given, and pflog starts as without one.
    SetAside {
        problem: String,
        moved_to: PathBuf,
    },
}

impl State {
    /// Reads the state file. A missing one is [`Loaded::Missing`]; a corrupt one is moved
    /// aside to `PATH.corrupt-<unix time>` ([`Loaded::SetAside`]), so that a restart loop never
    /// follows and the evidence is kept; one that cannot be read at all is an error.
    pub fn load(path: &Path) -> Result<Loaded, String> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => return Err(format!("state file {}: {e}", path.display())),
        };
        let problem = match serde_json::from_slice::<State>(&bytes) {
            Ok(state) => match state.check() {
                Ok(()) => return Ok(Loaded::Read(state)),
                Err(e) => e,
            },
            Err(_) if bytes.is_empty() => "empty".to_string(),
            Err(e) => e.to_string(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".corrupt-{now}"));
        let moved_to = PathBuf::from(aside);
        std::fs::rename(path, &moved_to).map_err(|e| {
            format!(
                "state file {} is corrupt ({problem}) and cannot be moved aside: {e}",
                path.display()
            )
        })?;
        Ok(Loaded::SetAside { problem, moved_to })
    }

    /// Every file entry converts to a [`Position`].
    fn check(&self) -> Result<(), String> {
        for (name, p) in &self.files {
            p.to_position().map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }

    /// The state file can be written where it is: its directory exists and takes the
    /// temporary file [`State::save`] writes. Checked at startup, so that a bad path is a bad
    /// flag then rather than an error at the first save.
    pub fn check_writable(path: &Path) -> Result<(), String> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let bad = |e: String| format!("--state-file {}: {e}", path.display());
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(bad(format!("{} is not a directory", dir.display()))),
            Err(e) => return Err(bad(format!("directory {}: {e}", dir.display()))),
        }
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(bad("is a directory".to_string()));
        }
        let tmp = temporary(path);
        std::fs::File::create(&tmp)
            .and_then(|_| std::fs::remove_file(&tmp))
            .map_err(|e| bad(format!("cannot write in {}: {e}", dir.display())))
    }

    /// Written atomically: a temporary file beside it (`PATH.tmp`), fsynced, renamed over it,
    /// and the directory fsynced so that the rename itself survives a power loss.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        let tmp = temporary(path);
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

/// `PATH.tmp`, written and renamed over `PATH`.
fn temporary(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}
