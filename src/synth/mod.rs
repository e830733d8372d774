//! The synthetic data generator behind `healthcode gen` (not implemented yet).
