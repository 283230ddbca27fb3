//! The sans-IO client core.
