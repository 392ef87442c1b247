//! `mmstall vm validate` (filled in below).
