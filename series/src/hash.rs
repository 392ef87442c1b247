//! Stable content hashes. They cover what applying a patch does (paths,
//! modes, hunks) and the patch boundaries, not the mail around it: a new
//! `Reviewed-by:` or a reworded subject does not change what gets built, so
//! it must not invalidate a build cache.

use sha2::{Digest, Sha256};

use crate::model::{ChangeKind, FileContent, FilePatch, LineKind, Patch, Series};

/// Bumped whenever the canonical form below changes.
const HASH_FORMAT: &[u8] = b"mmstall-series-hash v1\n";

impl Series {
    /// sha256 (hex) of the canonical form of every patch's changes, in order.
    /// The same series hashes the same whether it came as an mbox, a
    /// directory or with different mail headers.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(HASH_FORMAT);
        for patch in &self.patches {
            hasher.update(b"patch\n");
            hasher.update(patch.canonical_diff());
        }
        hex::encode(hasher.finalize())
    }
}

impl Patch {
    /// sha256 (hex) of this patch's changes alone.
    pub fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(HASH_FORMAT);
        hasher.update(self.canonical_diff());
        hex::encode(hasher.finalize())
    }

    /// The patch's changes as a git-style diff, normalized (no blob ids, no
    /// similarity, hunk headers recomputed): the input of the hashes.
    pub fn canonical_diff(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for file in &self.files {
            render_file(file, &mut out);
        }
        out
    }
}

fn render_file(file: &FilePatch, out: &mut Vec<u8>) {
    let old = file.old_path.as_deref().unwrap_or("/dev/null");
    let new = file.new_path.as_deref().unwrap_or("/dev/null");
    // Paths are written with their length so no path can fake a header.
    out.extend_from_slice(format!("diff {} {old} {} {new}\n", old.len(), new.len()).as_bytes());
    let kind = match file.kind {
        ChangeKind::Modify => "modify",
        ChangeKind::Create => "create",
        ChangeKind::Delete => "delete",
        ChangeKind::Rename => "rename",
        ChangeKind::Copy => "copy",
    };
    out.extend_from_slice(format!("kind {kind}\n").as_bytes());
    if let Some(mode) = file.old_mode {
        out.extend_from_slice(format!("old mode {mode:o}\n").as_bytes());
    }
    if let Some(mode) = file.new_mode {
        out.extend_from_slice(format!("new mode {mode:o}\n").as_bytes());
    }
    match &file.content {
        FileContent::Binary => {
            // The payload is not parsed; the blob ids are all that tell two
            // binary changes apart.
            let ids = format!(
                "binary {}..{}\n",
                file.old_blob.as_deref().unwrap_or(""),
                file.new_blob.as_deref().unwrap_or("")
            );
            out.extend_from_slice(ids.as_bytes());
        }
        FileContent::Text(hunks) => {
            for hunk in hunks {
                out.extend_from_slice(
                    format!(
                        "@@ -{},{} +{},{} @@\n",
                        hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count
                    )
                    .as_bytes(),
                );
                for line in &hunk.lines {
                    out.push(match line.kind {
                        LineKind::Context => b' ',
                        LineKind::Removed => b'-',
                        LineKind::Added => b'+',
                    });
                    out.extend_from_slice(&line.text);
                    out.push(b'\n');
                    if line.no_newline {
                        out.extend_from_slice(b"\\ No newline at end of file\n");
                    }
                }
            }
        }
    }
}
