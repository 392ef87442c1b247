//! `--series`: loading a patch series and applying it onto the scratch copy,
//! through the shared `mmstall_series` crate (same formats as `mmstall series`).

use std::path::{Path, PathBuf};

/// A loaded series, with what builds need to know about it.
#[derive(Debug)]
pub struct LoadedSeries {
    pub path: PathBuf,
    /// `Series::hash()`: the content hash in the build's cache key.
    pub hash: String,
    pub subjects: Vec<String>,
    pub series: mmstall_series::Series,
}

#[derive(Debug, thiserror::Error)]
#[error("--series {}: {error}", .path.display())]
pub struct SeriesLoadError {
    pub path: PathBuf,
    pub error: mmstall_series::SeriesError,
}

/// A patch of the series that does not apply.
#[derive(Debug, thiserror::Error)]
#[error("patch {index}/{total} does not apply: {error}")]
pub struct PatchFailure {
    /// 1-based.
    pub index: usize,
    pub total: usize,
    pub subject: String,
    pub file: Option<String>,
    pub error: mmstall_series::ApplyError,
}

pub fn load(path: &Path) -> Result<LoadedSeries, SeriesLoadError> {
    let series = mmstall_series::load_series(path).map_err(|error| SeriesLoadError { path: path.to_path_buf(), error })?;
    Ok(LoadedSeries {
        path: path.to_path_buf(),
        hash: series.hash(),
        subjects: series.patches.iter().map(|p| p.subject.clone()).collect(),
        series,
    })
}

/// Applies every patch in order onto `dir`; stops at the first that fails.
pub fn apply_all(s: &LoadedSeries, dir: &Path) -> Result<(), PatchFailure> {
    let total = s.series.patches.len();
    for (i, p) in s.series.patches.iter().enumerate() {
        if let Err(error) = mmstall_series::apply_to_dir(p, dir) {
            return Err(PatchFailure { index: i + 1, total, subject: p.subject.clone(), file: error.file.clone(), error });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const GOOD: &str = "From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Test Author <test@example.org>
Date: Tue, 24 Nov 2026 10:00:00 +0000
Subject: [PATCH 1/2] mm: first change

Body.
---
 mm/a.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/mm/a.c b/mm/a.c
--- a/mm/a.c
+++ b/mm/a.c
@@ -1,3 +1,3 @@
 line one
-line two
+line two changed
 line three
-- 
2.39.5

From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: Test Author <test@example.org>
Date: Tue, 24 Nov 2026 10:00:00 +0000
Subject: [PATCH 2/2] mm: second change

Body.
---
 mm/b.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/mm/b.c b/mm/b.c
--- a/mm/b.c
+++ b/mm/b.c
@@ -1,3 +1,3 @@
 alpha
-beta
+beta changed
 gamma
-- 
2.39.5
";

    fn setup(b_content: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let tree = d.path().join("tree");
        fs::create_dir_all(tree.join("mm")).unwrap();
        fs::write(tree.join("mm/a.c"), "line one\nline two\nline three\n").unwrap();
        fs::write(tree.join("mm/b.c"), b_content).unwrap();
        let mbox = d.path().join("s.mbox");
        fs::write(&mbox, GOOD).unwrap();
        (d, tree, mbox)
    }

    #[test]
    fn applies_a_series_in_order() {
        let (_d, tree, mbox) = setup("alpha\nbeta\ngamma\n");
        let s = load(&mbox).unwrap();
        assert_eq!(s.subjects, vec!["mm: first change", "mm: second change"]);
        assert_eq!(s.hash.len(), 64);
        apply_all(&s, &tree).unwrap();
        assert_eq!(fs::read_to_string(tree.join("mm/a.c")).unwrap(), "line one\nline two changed\nline three\n");
        assert_eq!(fs::read_to_string(tree.join("mm/b.c")).unwrap(), "alpha\nbeta changed\ngamma\n");
    }

    #[test]
    fn a_patch_that_does_not_apply_is_named_with_file_and_hunk() {
        let (_d, tree, mbox) = setup("alpha\nBETA\ngamma\n");
        let s = load(&mbox).unwrap();
        let e = apply_all(&s, &tree).unwrap_err();
        assert_eq!((e.index, e.total), (2, 2));
        assert_eq!(e.subject, "mm: second change");
        assert_eq!(e.file.as_deref(), Some("mm/b.c"));
        let msg = e.to_string();
        assert!(msg.starts_with("patch 2/2 does not apply: "), "{msg}");
        assert!(msg.contains("mm: second change") && msg.contains("mm/b.c") && msg.contains("hunk #1"), "{msg}");
    }

    #[test]
    fn unreadable_series_is_an_error_naming_the_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("missing.mbox");
        let e = load(&p).unwrap_err();
        assert!(e.to_string().starts_with(&format!("--series {}: ", p.display())), "{e}");
        let g = d.path().join("garbage.txt");
        fs::write(&g, "hello\n").unwrap();
        assert!(load(&g).is_err());
    }
}
