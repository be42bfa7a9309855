//! Tests of the git layer against real git in temporary repositories.

mod changes;
mod kit;
mod merge;
mod rebase;
mod repo;
mod review;
mod worktree;
