//! Output paths of the `rbee-sim` commands, checked before any work starts.
//!
//! A nightly shard that explores for an hour and then cannot write its `--json` loses the
//! whole run, and an `--out` directory that cannot be created must not be found out by a
//! failing seed that has nowhere to go. So every path a command will write is tried first:
//! a directory is created, a file is opened for writing, and nothing is left behind that
//! was not there before.

use std::fs::OpenOptions;
use std::path::Path;

/// Checks that `path` (given with `flag`, e.g. `--json`) can be written as a file later:
/// an existing file must be writable, a new one creatable in an existing directory. A
/// file created to find out is removed again.
pub fn check_file(flag: &str, path: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {flag} {}: {e}", path.display());
    if path.is_dir() {
        return Err(fail(&"it is a directory"));
    }
    if path.exists() {
        return OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| fail(&e));
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| fail(&e))?;
    std::fs::remove_file(path).map_err(|e| fail(&e))
}

/// Creates the directory `dir` (given with `flag`, e.g. `--out`) with its parents, and
/// checks that a file can be created in it.
pub fn prepare_dir(flag: &str, dir: &Path) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {flag} {}: {e}", dir.display());
    if dir.exists() && !dir.is_dir() {
        return Err(fail(&"it is not a directory"));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    // A name of its own (not one per process): explorations side by side in one process
    // may prepare the same directory at once.
    let probe = tempfile::Builder::new()
        .prefix(".rbee-sim-write-check-")
        .tempfile_in(dir)
        .map_err(|e| fail(&e))?;
    probe.close().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rbee-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// Proves a writable path passes and leaves nothing behind, an existing file is kept
    /// as it was, and a directory, a missing directory or a path through a regular file
    /// are refused naming the flag and the path.
    #[test]
    fn files_are_tried_and_left_as_they_were() {
        let dir = scratch("file");
        let new = dir.join("new.json");
        assert_eq!(check_file("--json", &new), Ok(()));
        assert!(!new.exists(), "the probe stayed behind");
        let old = dir.join("old.json");
        std::fs::write(&old, "kept").unwrap();
        assert_eq!(check_file("--json", &old), Ok(()));
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "kept");
        let refused = [
            dir.clone(),
            dir.join("missing").join("x.json"),
            old.join("x.json"),
        ];
        for path in refused {
            let e = check_file("--json", &path).expect_err("refused");
            assert!(
                e.starts_with(&format!("cannot write --json {}: ", path.display())),
                "{e}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Proves a directory is created with its parents and left empty, and a regular file
    /// or a path through one is refused.
    #[test]
    fn directories_are_created_and_tried() {
        let dir = scratch("dir");
        let out = dir.join("a").join("b");
        assert_eq!(prepare_dir("--out", &out), Ok(()));
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
        let file = dir.join("file");
        std::fs::write(&file, "").unwrap();
        for path in [file.clone(), file.join("sub")] {
            let e = prepare_dir("--out", &path).expect_err("refused");
            assert!(e.starts_with("cannot write --out "), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
