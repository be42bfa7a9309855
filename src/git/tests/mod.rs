//! Tests of the git layer against real git in temporary repositories.

mod changes;
mod kit;
mod merge;
mod merge_check;
mod rebase;
mod repo;
mod review;
mod switch;
mod worktree;
