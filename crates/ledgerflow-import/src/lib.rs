//! Bank file parsers. Each takes the file's bytes and returns a [`ParsedFile`]: statements of
//! transactions with exact decimal amounts, warnings, and the rows it could not read (each naming
//! its line). The parsers never touch the store; [`service::import_file`] (the CLI's
//! `ledgerflow import` and the web upload) turns a file into an import batch.
//!
//! - [`parsers`]: OFX/QFX, QIF, CAMT, MT940 and the text decoding they share; [`parse`] and [`detect`].
//! - [`csv`]: profiles and presets, read whole or streamed.
//! - [`pdf`]: PDF statements (positioned words, the transaction table, templates).
//! - [`model`]: what every parser produces.
//! - [`service`]: the import, one step a file.
//!
//! No input may panic a parser: they are fuzzed (proptest, `tests/it/fuzz.rs`) and run over
//! every corpus sample. Nor may it exhaust a stack or memory: elements nest at most
//! [`MAX_DEPTH`] levels and a line (or an element's text) holds at most [`MAX_LINE`] bytes.

pub mod csv;
mod files;
pub mod model;
pub mod parsers;
pub mod pdf;
pub mod service;

pub use model::{
    Balance, Format, MAX_DEPTH, MAX_LINE, ParseError, ParsedFile, ParsedTxn, RowError, Statement,
};
pub use parsers::{camt, decode, detect, mt940, ofx, parse, qif};
