//! The kernel's sources as a repository and base revision for `mmstall
//! series`: a git checkout is used as is; a plain tree (Debian's) is committed
//! once into a repository in the cache. A damaged cache repository (ours,
//! never the user's) is removed and imported again.

use super::context::{first_lines, Checkout, Ctx};
use crate::exec::tree_dir;
use crate::plan::safe_name;
use std::path::{Path, PathBuf};

/// Git's empty tree: an import that added nothing.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

impl Ctx<'_> {
    /// Repository + base revision holding the kernel's sources for `mmstall
    /// series`. A plain tree (Debian's) is committed once into a repository in
    /// the cache (`git --work-tree`: the tree itself is not written).
    pub(super) fn static_repo(&mut self, kernel: &str) -> Result<(PathBuf, String), String> {
        if let Some(r) = self.static_repos.get(kernel) {
            return r.clone();
        }
        let r = self.do_static_repo(kernel);
        self.static_repos.insert(kernel.to_string(), r.clone());
        r
    }

    fn do_static_repo(&mut self, kernel: &str) -> Result<(PathBuf, String), String> {
        self.checkout(kernel)?;
        if let Some(Ok(Checkout { git: Some(g), .. })) = self.checkouts.get(kernel) {
            return Ok(g.clone());
        }
        let tree = self.checkouts[kernel]
            .as_ref()
            .map(|c| c.tree.clone())
            .map_err(|e| e.clone())?;
        let work = tree_dir(&self.exec.cache_root(), &tree);
        let gitdir = self
            .exec
            .cache_root()
            .join("nightly/git")
            .join(format!("{}.git", safe_name(kernel)));
        let g = gitdir.display().to_string();
        if gitdir.exists() {
            // A damaged cache repository (a killed import, a bad disk, a
            // partial copy of the cache) would fail every later night too:
            // it is only a cache, so it is rebuilt.
            if let Err(why) = self.cache_repo_health(&g) {
                self.rebuild_cache_repo(&gitdir, kernel, &why)?;
            }
        }
        match self.import_tree(&gitdir, &tree, &work) {
            Err(e) if !self.rebuilt_repos.contains(&gitdir) => {
                self.rebuild_cache_repo(&gitdir, kernel, &e)?;
                self.import_tree(&gitdir, &tree, &work)
            }
            r => r,
        }
    }

    /// The cache repository has a commit and every object reachable from it.
    fn cache_repo_health(&mut self, g: &str) -> Result<(), String> {
        let o = self.git(
            &[
                "--git-dir",
                g,
                "rev-parse",
                "--verify",
                "--quiet",
                "HEAD^{tree}",
            ],
            None,
        );
        if !o.success() {
            return Err(format!("no readable HEAD: {}", first_lines(&o.stderr, 2)));
        }
        let o = self.git(
            &[
                "--git-dir",
                g,
                "fsck",
                "--connectivity-only",
                "--no-progress",
            ],
            None,
        );
        if !o.success() {
            return Err(format!("git fsck: {}", first_lines(&o.stderr, 2)));
        }
        Ok(())
    }

    /// Removes a damaged cache repository (ours: never the user's) so the
    /// next import starts from scratch, with a note.
    pub(super) fn rebuild_cache_repo(
        &mut self,
        gitdir: &Path,
        kernel: &str,
        why: &str,
    ) -> Result<(), String> {
        self.rebuilt_repos.push(gitdir.to_path_buf());
        self.notes.push(format!(
            "cache repository {} of kernel `{kernel}` is damaged ({}); rebuilding it",
            gitdir.display(),
            first_lines(why, 1)
        ));
        std::fs::remove_dir_all(gitdir).map_err(|e| {
            format!(
                "cannot remove the damaged cache repository {}: {e}",
                gitdir.display()
            )
        })
    }

    /// Commits the tree into the cache repository (created when missing).
    fn import_tree(
        &mut self,
        gitdir: &Path,
        tree: &str,
        work: &Path,
    ) -> Result<(PathBuf, String), String> {
        let g = gitdir.display().to_string();
        let w = work.display().to_string();
        if !gitdir.exists() {
            let o = self.git(&["init", "--quiet", "--bare", &g], None);
            if !o.success() {
                return Err(format!("git init {g}: {}", first_lines(&o.stderr, 3)));
            }
        }
        // Debian's source package ignores everything at its top level
        // (`/*` in .gitignore, for its packaging repository): its pristine
        // tree is added with --force. Other trees keep their .gitignore (a tree
        // built in place must not bring its objects).
        let force = tree.starts_with("debian:");
        let mut add = vec!["--git-dir", &g, "--work-tree", &w, "add", "-A"];
        if force {
            add.push("--force");
        }
        add.push(".");
        let o = self.git(&add, Some(work));
        if !o.success() {
            return Err(format!(
                "importing {w} into {g}: {}",
                first_lines(&o.stderr, 3)
            ));
        }
        let o = self.git(
            &[
                "--git-dir",
                &g,
                "--work-tree",
                &w,
                "-c",
                "user.name=mmstall",
                "-c",
                "user.email=mmstall@localhost",
                "commit",
                "--quiet",
                "--allow-empty",
                "-m",
                "mmstall nightly import",
            ],
            Some(work),
        );
        if !o.success() {
            return Err(format!(
                "committing {w} into {g}: {}",
                first_lines(&o.stderr, 3)
            ));
        }
        let o = self.git(&["--git-dir", &g, "rev-parse", "HEAD", "HEAD^{tree}"], None);
        if !o.success() {
            return Err(format!("rev-parse in {g}: {}", first_lines(&o.stderr, 3)));
        }
        let mut ids = o.stdout.split_whitespace();
        let commit = ids.next().unwrap_or("").to_string();
        if ids.next() == Some(EMPTY_TREE) {
            return Err(format!("importing {w} into {g}: nothing was added (is everything ignored by a .gitignore?)"));
        }
        Ok((gitdir.to_path_buf(), commit))
    }
}
