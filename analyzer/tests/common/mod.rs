//! Source trees in memory for the cache and summary tests.
#![allow(dead_code)] // each test file uses part of it

use std::collections::BTreeMap;
use std::path::PathBuf;

use mmstall_analyzer::source::{ContentId, Skipped, SourceFile, SourceSet};
use mmstall_analyzer::MemoryTree;
use sha2::Digest;

/// Files in memory whose content id is a digest of their bytes (as a git
/// blob id is), so the scan cache and the summary store apply.
#[derive(Default, Clone)]
pub struct IdTree {
    pub files: BTreeMap<String, Vec<u8>>,
}

impl IdTree {
    fn memory(&self) -> MemoryTree {
        MemoryTree {
            files: self.files.clone(),
        }
    }
}

impl SourceSet for IdTree {
    fn list(&self) -> Vec<(String, u64)> {
        self.memory().list()
    }

    fn read(&self, rel: &str) -> Result<SourceFile, Skipped> {
        self.memory().read(rel)
    }

    fn content_id(&self, rel: &str) -> Option<ContentId> {
        let digest = sha2::Sha256::digest(self.files.get(rel)?);
        digest[..20].try_into().ok()
    }
}

/// The files of a fixture directory (`tests/fixtures/NAME`) under `mm/`.
pub fn fixture_tree(name: &str) -> IdTree {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let mut tree = IdTree::default();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        tree.files.insert(
            format!("mm/{}", p.file_name().unwrap().to_string_lossy()),
            std::fs::read(&p).unwrap(),
        );
    }
    tree
}

/// `tree` plus a write holder in one file whose long operation, if any, is
/// three calls down, each step in a file of its own; `leaf` is the body of
/// the last, `top` a text put above the first step's definition.
pub fn with_chain(mut tree: IdTree, top: &str, leaf: &str) -> IdTree {
    let files = [
        ("mm/chain_holder.c", "void chain_holder(struct mm_struct *mm)\n{\n\tmmap_write_lock(mm);\n\tchain_step_one(mm);\n\tmmap_write_unlock(mm);\n}\n".to_string()),
        ("mm/chain_one.c", format!("{top}void chain_step_one(struct mm_struct *mm)\n{{\n\tchain_step_two(mm);\n}}\n")),
        ("mm/chain_two.c", "void chain_step_two(struct mm_struct *mm)\n{\n\tchain_step_three(mm);\n}\n".to_string()),
        ("mm/chain_three.c", format!("/* the end of the chain */\nvoid chain_step_three(struct mm_struct *mm)\n{{\n{leaf}}}\n")),
    ];
    for (path, text) in files {
        tree.files.insert(path.to_string(), text.into_bytes());
    }
    tree
}

/// Chain leaves: nothing long, and a zap.
pub const QUIET: &str = "\tmm->flags = 0;\n";
pub const LONG: &str = "\tunmap_vmas(NULL, NULL, 0, 0, 0, false);\n";
