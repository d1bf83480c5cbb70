//! The parsers against the real bank files in `../shared/corpora` (read in place; skipped with a
//! message where the folder is absent), the import service against real stores, hostile input,
//! and the parsers' fuzz targets.

mod corpus;
mod fuzz;
mod helpers;
mod hostile;
mod inference;
mod pdf;
mod service;
