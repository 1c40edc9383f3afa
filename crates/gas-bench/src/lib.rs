//! placeholder

pub mod datasets;
pub mod report;
