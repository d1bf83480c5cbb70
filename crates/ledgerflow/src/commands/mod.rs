//! One module per subcommand, each with its `Args` (or `Cmd`) and a `run`.

pub mod account;
pub mod backup;
pub mod category;
pub mod config;
pub mod docker;
pub mod doctor;
pub mod import;
pub mod init;
pub mod journal;
pub mod migrate;
pub mod protect;
pub mod restore;
pub mod serve;
pub mod status;
pub mod token;
pub mod tx;
pub mod user;
