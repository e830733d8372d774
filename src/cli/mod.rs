//! One file per subcommand of the `healthcode` binary.

pub mod check;
pub mod explain;
pub mod generate;
