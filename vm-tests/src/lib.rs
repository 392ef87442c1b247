//! Kernel build/boot harness. See vm-tests/README in the crate docs.
