//! The one place that writes files.
//!
//! Every file the crate writes goes through [`write_atomic`] or
//! [`write_atomic_with`]: the bytes go to a hidden temporary file in the same
//! folder (`.NAME.tmp-PID-N.EXT`, same file system), which is renamed over the
//! destination only once it is complete. An interrupted write (a kill, a full
//! disk, a file-size limit) leaves the previous file untouched and at most a
//! hidden temporary file beside it.
//!
//! A run that writes a *set* of files (CSV + JSON + figures) writes them into a
//! [`StagedDir`] — a hidden folder inside the destination — and moves them
//! into place only after every file was written. If the run fails or is
//! interrupted before [`StagedDir::commit`], the destination keeps its old set;
//! the moves themselves are renames within one folder, so the window in which
//! a crash could mix old and new files is the few microseconds of the renames,
//! not the run.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Refuse an empty path (which would silently mean "the current folder"),
/// naming the option it came from.
pub fn check_path(option: &'static str, path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::Parse {
            what: option,
            input: String::new(),
            reason: "the path is empty; give a file or folder name".into(),
        });
    }
    Ok(())
}

/// A unique hidden sibling of `path` with the same extension
/// (some writers, e.g. the PNG encoder, choose the format from it).
fn temp_sibling(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let name = format!(".{stem}.tmp-{}-{n}{ext}", std::process::id());
    path.with_file_name(name)
}

/// Write `path` by letting `write` create a temporary sibling, then renaming
/// it over `path`. On any error the temporary file is removed and `path` is
/// left as it was.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    check_path("output path", path)?;
    let tmp = temp_sibling(path);
    let result = write(&tmp).and_then(|()| {
        // Flush the data to disk before the rename makes it visible.
        if let Ok(f) = std::fs::File::open(&tmp) {
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write `bytes` to `path` atomically (see the module documentation).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| Error::io(tmp, e))
    })
}

/// A folder whose files appear in their destination all together or not at all
/// (see the module documentation). Dropped without [`commit`](Self::commit),
/// it removes its staging folder and leaves the destination untouched.
#[derive(Debug)]
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Stage files for `target` (created if missing; `option` names the
    /// command-line option the path came from, for the error of an empty path).
    pub fn new(option: &'static str, target: impl Into<PathBuf>) -> Result<Self> {
        let target = target.into();
        check_path(option, &target)?;
        std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let staging = target.join(format!(".staging-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        Ok(Self {
            target,
            staging,
            committed: false,
        })
    }

    /// Where to write the files now.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The destination folder.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Move every staged file into the destination (replacing files of the
    /// same name; other files there are left alone) and return their names,
    /// sorted.
    pub fn commit(mut self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = std::fs::read_dir(&self.staging).map_err(|e| Error::io(&self.staging, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.staging, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        for name in &names {
            let to = self.target.join(name);
            std::fs::rename(self.staging.join(name), &to).map_err(|e| Error::io(&to, e))?;
        }
        std::fs::remove_dir(&self.staging).map_err(|e| Error::io(&self.staging, e))?;
        self.committed = true;
        Ok(names)
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
