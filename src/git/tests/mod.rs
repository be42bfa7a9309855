//! Tests of the git layer against real git in temporary repositories.
