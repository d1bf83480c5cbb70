//! The parsers against the real bank files in `../shared/corpora` (read in place; skipped with a
//! message where the folder is absent).

mod corpus;
mod service;
