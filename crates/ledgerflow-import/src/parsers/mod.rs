//! The whole-file parsers: OFX/QFX, QIF, CAMT, and the text decoding they share. CSV has its
//! own module (`crate::csv`): it is also streamed.

pub mod camt;
pub mod decode;
pub mod ofx;
pub mod qif;
