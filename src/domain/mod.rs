//! The domain of DOMAIN.md §2–§4 as pure code: document numbers, phones, days, region codes,
//! the record types the feeds carry, the matching of stays to risk areas, and the rules that turn a person's records into a colour.
//!
//! Invariant: nothing in `domain` does I/O, allocates per call beyond its outputs, or knows of
//! CSV, the index format or gRPC.

pub mod day;
pub mod id;
pub mod mask;
pub mod matching;
pub mod phone;
pub mod records;
pub mod region;
pub mod rules;

pub use day::{Day, DayError, DayText};
pub use id::{IdError, IdNumber};
pub use matching::RiskAreaSet;
pub use phone::{Phone, PhoneError, PhoneTail};
pub use records::*;
pub use region::{Precision, RegionCode, RegionError, shown_name};
pub use rules::{Code, Color, Finding, Policy, Query, Reason, evaluate, evaluate_into};
