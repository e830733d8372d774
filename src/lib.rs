//! healthcode: the library behind the `healthcode` binary — domain rules, the region table, feed
//! readers and the synthetic data generator; the index and the gRPC server build on them.
pub mod audit;
pub mod domain;
pub mod eval;
pub mod feeds;
#[doc(hidden)]
pub mod fuzzing;
pub mod index;
pub mod key;
pub mod overlay;
pub mod pipeline;
pub mod proto;
pub mod regions;
pub mod serve;
pub mod synth;
