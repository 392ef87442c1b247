//! Output formats: rustc-like text, JSON, SARIF 2.1.0.

pub mod github;
pub mod json;
pub mod sarif;
pub mod text;
