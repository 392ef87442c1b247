//! The object trees of builds: the live directory make runs in, its state
//! (which baseline it holds, whether it was built on since), and the
//! baseline snapshots a patched build starts from (copied with timestamps
//! kept, so make only rebuilds what the patches touch).

use super::model::{io_err, BuildError};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `state.json` next to the live object directory: which baseline the live object directory holds, and
/// whether it has been built on since (patched, or a build in progress).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveState {
    pub baseline: Option<String>,
    pub dirty: bool,
}

impl LiveState {
    fn path(obj: &Path) -> PathBuf {
        obj.with_file_name("state.json")
    }
    /// A missing or unreadable state is "dirty, unknown baseline": the
    /// directory is rebuilt from scratch if it exists.
    pub fn load(obj: &Path) -> LiveState {
        match fs::read_to_string(Self::path(obj))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
        {
            Some(s) => s,
            None => LiveState {
                baseline: None,
                dirty: obj.exists(),
            },
        }
    }
    pub fn save(&self, obj: &Path) -> Result<(), BuildError> {
        let p = Self::path(obj);
        fs::write(&p, serde_json::to_string(self).expect("serializes"))
            .map_err(io_err(format!("writing {}", p.display())))
    }
}

fn cp_a(from: &Path, to: &Path) -> Result<(), BuildError> {
    let st = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(from)
        .arg(to)
        .status()
        .map_err(io_err("running cp"))?;
    if !st.success() {
        return Err(BuildError::Cache(format!(
            "copying {} to {} failed",
            from.display(),
            to.display()
        )));
    }
    Ok(())
}

/// Replaces `live` with a copy of `snapshot` (timestamps kept).
pub(super) fn restore_snapshot(snapshot: &Path, live: &Path) -> Result<(), BuildError> {
    if !snapshot.is_dir() {
        return Err(BuildError::Cache(format!(
            "baseline object snapshot {} is missing (remove the baseline build dir to rebuild it)",
            snapshot.display()
        )));
    }
    let _ = fs::remove_dir_all(live);
    cp_a(snapshot, live)
}

/// Saves a copy of `live` as `snapshot` (timestamps kept).
pub(super) fn take_snapshot(live: &Path, snapshot: &Path) -> Result<(), BuildError> {
    let mut tmp = snapshot.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_dir_all(&tmp);
    cp_a(live, &tmp)?;
    let _ = fs::remove_dir_all(snapshot);
    fs::rename(&tmp, snapshot).map_err(io_err(format!("renaming {}", tmp.display())))
}
