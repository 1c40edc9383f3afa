//! placeholder

pub mod datasets;
