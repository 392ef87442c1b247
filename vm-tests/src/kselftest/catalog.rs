//! The mm selftests mmstall knows how to run: each entry is one invocation
//! of a binary of `tools/testing/selftests/mm` with the arguments the tree's
//! own `run_vmtests.sh` gives it, and whether it belongs to the curated
//! default subset (`--kselftest mm`), which must fit 15 minutes per kernel
//! under TCG on 2 cores. `mm:all` runs every entry; `mm:NAME,...` names
//! entries or binaries (a binary selects all of its entries).

/// One test invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique name (file names of the logs, KTAP descriptions).
    pub name: &'static str,
    /// Binary in the selftests' output directory.
    pub binary: &'static str,
    pub args: &'static [&'static str],
    /// Part of the default subset.
    pub default: bool,
    /// What it exercises (documentation; the README's tables follow it).
    pub what: &'static str,
}

const fn e(
    name: &'static str,
    binary: &'static str,
    args: &'static [&'static str],
    default: bool,
    what: &'static str,
) -> Entry {
    Entry {
        name,
        binary,
        args,
        default,
        what,
    }
}

/// Every known entry, default subset first. Arguments follow 6.12's
/// run_vmtests.sh.
pub const MM: &[Entry] = &[
    e(
        "mlock2-tests",
        "mlock2-tests",
        &[],
        true,
        "mlock2(MLOCK_ONFAULT), mlockall, VM_LOCKED flags and locked pages in smaps",
    ),
    e(
        "mlock-random-test",
        "mlock-random-test",
        &[],
        true,
        "mlock/mlock2 of random ranges against RLIMIT_MEMLOCK",
    ),
    e(
        "mremap_test",
        "mremap_test",
        &[],
        true,
        "mremap moves of PTE/PMD/PUD-aligned ranges, content checked",
    ),
    e(
        "mremap_dontunmap",
        "mremap_dontunmap",
        &[],
        true,
        "mremap(MREMAP_DONTUNMAP)",
    ),
    e(
        "map_fixed_noreplace",
        "map_fixed_noreplace",
        &[],
        true,
        "mmap(MAP_FIXED_NOREPLACE) over existing mappings",
    ),
    e(
        "map_populate",
        "map_populate",
        &[],
        true,
        "mmap(MAP_POPULATE) of a shared mapping across fork",
    ),
    e(
        "madv_populate",
        "madv_populate",
        &[],
        true,
        "madvise(MADV_POPULATE_READ/WRITE)",
    ),
    e(
        "mkdirty",
        "mkdirty",
        &[],
        true,
        "mprotect/ptrace/mremap must not set the dirty bit of a read-only PTE/PMD",
    ),
    e(
        "mdwe_test",
        "mdwe_test",
        &[],
        true,
        "prctl(PR_SET_MDWE): mprotect/mmap to W+X refused",
    ),
    e(
        "soft-dirty",
        "soft-dirty",
        &[],
        true,
        "soft-dirty bits through /proc/PID/pagemap and clear_refs",
    ),
    e(
        "ksm_functional_tests",
        "ksm_functional_tests",
        &[],
        true,
        "KSM merging, unmerging, prctl(PR_SET_MEMORY_MERGE), fork",
    ),
    e(
        "ksm_tests-merge",
        "ksm_tests",
        &["-M", "-p", "10"],
        true,
        "KSM merges 10 identical pages",
    ),
    e(
        "ksm_tests-unmerge",
        "ksm_tests",
        &["-U"],
        true,
        "KSM unmerges (MADV_UNMERGEABLE)",
    ),
    e(
        "ksm_tests-zero-pages-0",
        "ksm_tests",
        &["-Z", "-p", "10", "-z", "0"],
        true,
        "KSM with use_zero_pages=0",
    ),
    e(
        "ksm_tests-zero-pages-1",
        "ksm_tests",
        &["-Z", "-p", "10", "-z", "1"],
        true,
        "KSM with use_zero_pages=1",
    ),
    e(
        "uffd-stress-anon",
        "uffd-stress",
        &["anon", "20", "16"],
        true,
        "userfaultfd bounce stress, anonymous memory",
    ),
    e(
        "gup_test-dump",
        "gup_test",
        &["-ct", "-F", "0x1", "0", "19", "0x1000"],
        true,
        "pin_user_pages of pages 0, 19, 4096 and dump",
    ),
    e(
        "gup_test-get-fast",
        "gup_test",
        &["-u"],
        true,
        "get_user_pages_fast() over 128 MiB",
    ),
    e(
        "gup_test-pin-fast",
        "gup_test",
        &["-a"],
        true,
        "pin_user_pages_fast() over 128 MiB",
    ),
    e(
        "gup_longterm",
        "gup_longterm",
        &[],
        true,
        "long-term pins of anonymous, shmem, memfd and file pages",
    ),
    e(
        "mrelease_test",
        "mrelease_test",
        &[],
        true,
        "process_mrelease() of a killed process",
    ),
    // Full list only (`mm:all` or by name).
    e(
        "uffd-unit-tests",
        "uffd-unit-tests",
        &[],
        false,
        "userfaultfd: register, missing/wp/minor faults, move, events (flaky under TCG: `events on anon` failed 1 run in 4 with UFFDIO_COPY -ENOENT)",
    ),
    e(
        "cow",
        "cow",
        &[],
        false,
        "copy-on-write with pins, THP, KSM and io_uring (long)",
    ),
    e(
        "pagemap_ioctl",
        "pagemap_ioctl",
        &[],
        false,
        "PAGEMAP_SCAN ioctl",
    ),
    e(
        "uffd-stress-shmem",
        "uffd-stress",
        &["shmem", "20", "16"],
        false,
        "userfaultfd bounce stress, shmem",
    ),
    e(
        "uffd-stress-shmem-private",
        "uffd-stress",
        &["shmem-private", "20", "16"],
        false,
        "userfaultfd bounce stress, private shmem",
    ),
    e(
        "ksm_tests-huge",
        "ksm_tests",
        &["-H", "-s", "100"],
        false,
        "KSM merge time of 100 MiB with THP",
    ),
    e(
        "ksm_tests-perf",
        "ksm_tests",
        &["-P", "-s", "100"],
        false,
        "KSM merge time of 100 MiB",
    ),
    e(
        "ksm_tests-numa-1",
        "ksm_tests",
        &["-N", "-m", "1"],
        false,
        "KSM merge across NUMA nodes (skips on one node)",
    ),
    e(
        "ksm_tests-numa-0",
        "ksm_tests",
        &["-N", "-m", "0"],
        false,
        "KSM no merge across NUMA nodes (skips on one node)",
    ),
    e(
        "compaction_test",
        "compaction_test",
        &[],
        false,
        "compaction of most free memory to huge pages",
    ),
    e(
        "khugepaged",
        "khugepaged",
        &[],
        false,
        "khugepaged and MADV_COLLAPSE collapses",
    ),
    e(
        "khugepaged-swap",
        "khugepaged",
        &["-s", "2"],
        false,
        "khugepaged collapses, swapped pages",
    ),
    e(
        "transhuge-stress",
        "transhuge-stress",
        &["-d", "20"],
        false,
        "THP split/collapse stress for 20 s",
    ),
    e(
        "split_huge_page_test",
        "split_huge_page_test",
        &[],
        false,
        "splitting THPs through debugfs",
    ),
    e(
        "migration",
        "migration",
        &[],
        false,
        "page migration between NUMA nodes (skips on one node)",
    ),
    e(
        "memfd_secret",
        "memfd_secret",
        &[],
        false,
        "memfd_secret(2) (needs secretmem boot option)",
    ),
    e(
        "protection_keys_64",
        "protection_keys_64",
        &[],
        false,
        "memory protection keys (needs PKU)",
    ),
    e(
        "pkey_sighandler_tests_64",
        "pkey_sighandler_tests_64",
        &[],
        false,
        "protection keys in signal handlers (needs PKU)",
    ),
    e(
        "map_hugetlb",
        "map_hugetlb",
        &[],
        false,
        "MAP_HUGETLB (needs reserved huge pages)",
    ),
    e(
        "hugepage-mmap",
        "hugepage-mmap",
        &[],
        false,
        "hugetlbfs mmap (needs reserved huge pages)",
    ),
    e(
        "hugepage-shm",
        "hugepage-shm",
        &[],
        false,
        "SHM_HUGETLB (needs reserved huge pages)",
    ),
    e(
        "hugepage-mremap",
        "hugepage-mremap",
        &[],
        false,
        "mremap of hugetlb mappings (needs reserved huge pages)",
    ),
    e(
        "hugetlb-madvise",
        "hugetlb-madvise",
        &[],
        false,
        "madvise on hugetlb (needs reserved huge pages)",
    ),
    e(
        "thuge-gen",
        "thuge-gen",
        &[],
        false,
        "hugetlb page sizes (needs reserved huge pages)",
    ),
    e(
        "mseal_test",
        "mseal_test",
        &[],
        false,
        "mseal(2) (64-bit only, needs CONFIG_64BIT)",
    ),
    e(
        "seal_elf",
        "seal_elf",
        &[],
        false,
        "mseal of the ELF segments",
    ),
    e("droppable", "droppable", &[], false, "MAP_DROPPABLE"),
    e(
        "virtual_address_range",
        "virtual_address_range",
        &[],
        false,
        "mmap up to the end of the address space",
    ),
];

/// What `--kselftest` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub suite: &'static str,
    pub entries: Vec<Entry>,
    /// How the user wrote it (`mm`, `mm:all`, `mm:mlock2-tests,...`).
    pub spec: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("--kselftest {0}: only the `mm` selftests are supported (mm, mm:all, mm:TEST,...)")]
    UnknownSuite(String),
    #[error("--kselftest {spec}: unknown test `{name}`; known: {known}")]
    UnknownTest {
        spec: String,
        name: String,
        known: String,
    },
    #[error("--kselftest {0}: empty test list after `mm:`")]
    Empty(String),
}

/// Parses `mm`, `mm:all`, `mm:NAME[,NAME...]` (entry names or binaries;
/// duplicates dropped, catalogue order kept).
pub fn select(spec: &str) -> Result<Selection, SelectError> {
    let spec = spec.trim();
    let (suite, list) = match spec.split_once(':') {
        Some((s, l)) => (s, Some(l)),
        None => (spec, None),
    };
    if suite != "mm" {
        return Err(SelectError::UnknownSuite(spec.to_string()));
    }
    let entries: Vec<Entry> = match list {
        None => MM.iter().filter(|e| e.default).cloned().collect(),
        Some(l) if l.trim() == "all" => MM.to_vec(),
        Some(l) => {
            let names: Vec<&str> = l
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if names.is_empty() {
                return Err(SelectError::Empty(spec.to_string()));
            }
            for n in &names {
                if !MM.iter().any(|e| e.name == *n || e.binary == *n) {
                    let mut known: Vec<&str> = MM.iter().map(|e| e.name).collect();
                    known.sort_unstable();
                    return Err(SelectError::UnknownTest {
                        spec: spec.to_string(),
                        name: n.to_string(),
                        known: known.join(", "),
                    });
                }
            }
            // An entry's own name selects it; a binary's name that is no
            // entry's name selects all of the binary's entries.
            let picks = |e: &Entry, n: &str| {
                e.name == n || (e.binary == n && !MM.iter().any(|o| o.name == n))
            };
            MM.iter()
                .filter(|e| names.iter().any(|n| picks(e, n)))
                .cloned()
                .collect()
        }
    };
    Ok(Selection {
        suite: "mm",
        entries,
        spec: spec.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_file_safe() {
        let mut seen = std::collections::HashSet::new();
        for e in MM {
            assert!(seen.insert(e.name), "duplicate {}", e.name);
            assert!(
                e.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{}",
                e.name
            );
        }
        // The default subset comes first (the README's table follows it).
        let first_full = MM.iter().position(|e| !e.default).unwrap();
        assert!(MM[first_full..].iter().all(|e| !e.default));
    }

    #[test]
    fn selects_default_all_names_and_binaries() {
        let d = select("mm").unwrap();
        assert!(d.entries.iter().all(|e| e.default));
        assert!(d.entries.iter().any(|e| e.name == "mlock2-tests"));
        assert!(!d.entries.iter().any(|e| e.name == "cow"));
        assert_eq!(select("mm:all").unwrap().entries.len(), MM.len());
        let s = select("mm:cow, mlock2-tests,cow").unwrap();
        let names: Vec<_> = s.entries.iter().map(|e| e.name).collect();
        assert_eq!(names, ["mlock2-tests", "cow"]);
        let k = select("mm:ksm_tests").unwrap();
        assert!(k.entries.len() >= 4);
        assert!(k.entries.iter().all(|e| e.binary == "ksm_tests"));
    }

    #[test]
    fn bad_specs_are_errors() {
        assert_eq!(select("net"), Err(SelectError::UnknownSuite("net".into())));
        assert!(matches!(select("mm:"), Err(SelectError::Empty(_))));
        match select("mm:mlock2-tests,nope") {
            Err(SelectError::UnknownTest { name, known, .. }) => {
                assert_eq!(name, "nope");
                assert!(known.contains("mremap_test"));
            }
            other => panic!("{other:?}"),
        }
    }
}
