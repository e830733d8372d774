//! One file per subcommand of the `healthcode` binary.

pub mod admin;
pub mod audit;
pub mod build;
pub mod check;
pub mod client;
pub mod demo;
pub mod eval;
pub mod explain;
pub mod generate;
pub mod health;
pub mod logging;
pub mod query;
pub mod serve;
pub mod serve_config;
pub mod verify;
