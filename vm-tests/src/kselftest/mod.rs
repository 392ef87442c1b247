//! The kernel's own mm selftests (`tools/testing/selftests/mm`) in the
//! harness (issue 19): a stall-free series can still break mm semantics (a
//! lost mlock, a wrong mremap), which only functional tests see.
//!
//! - [`catalog`] — the tests mmstall runs, their arguments, the default subset
//! - [`build`] — building them from the kernel's own tree, cached
//! - [`run`] — the guest script, per-test logs, verdicts from exit status and TAP
//!
//! `mmstall vm run --kernel KEY --kselftest mm[:TEST,...]`; see
//! vm-tests/README.md ("mm selftests").

pub mod build;
pub mod catalog;
pub mod run;

pub use build::{ensure, SelftestBuild};
pub use catalog::{select, Selection};
pub use run::{collect, guest_script, Report};
