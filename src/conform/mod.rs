//! `keypool conform`: run scenarios against a real gateway and judge what it did.
//!
//! Per scenario: `keypool serve`'s upstream in-process, the gateway started through its
//! adapter ([`adapter`]) with the scenario's keys pointed at that upstream, the workload sent at
//! the scenario's arrival times, the client's view joined with the upstream's record into a
//! trace ([`crate::invariants::observed`]), and the invariants and the scenario's expectations
//! checked on it. A gateway that cannot be installed, never becomes ready or dies is reported as
//! exactly that, never as a pass or a violation.

pub mod adapter;
pub mod config;
pub mod diff;
pub mod process;
pub mod report;
pub mod run;
