//! Other machines: the plan's `settings.hosts`, reached with OpenSSH (one
//! multiplexed connection per host, never an SSH client of our own), what
//! `switchboard doctor` finds on each, and `switchboard hosts install`.
//!
//! The engine's side of a host is `engine::host_link`; what runs on the
//! host for it is [`on_host`] (`switchboard host-worker`).

pub mod control;
pub mod doctor;
pub mod install;
pub mod on_host;
pub mod orders;
pub mod probe;
pub mod ssh;
pub mod ssh_args;
pub mod verdict;

use crate::plan::{Host, Settings};

/// The local machine's name among the hosts; reserved.
pub const LOCAL: &str = "local";

/// Host names reach file names (control sockets) and will reach tmux
/// socket names: kept short, because a Unix socket path holds at most 107
/// bytes and ssh adds a 17-byte suffix while it binds.
pub const NAME_MAX: usize = 32;

/// Why `name` cannot name a host, if it cannot.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > NAME_MAX {
        return Some(format!("is longer than {NAME_MAX} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("must start with a letter or a digit".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some("has a character other than letters, digits, '-' and '_'".into());
    }
    if name == LOCAL {
        return Some(
            "is reserved for this machine (its workers at once are settings.maxParallel)".into(),
        );
    }
    None
}

/// The longest `workdir`, far below any command line's limit.
const WORKDIR_MAX: usize = 1024;

/// Why `workdir` cannot be a host's working directory, if it cannot.
pub fn workdir_problem(workdir: &str) -> Option<String> {
    if workdir.trim().is_empty() {
        return Some("is empty (leave it out for the host's home)".into());
    }
    if workdir.chars().any(char::is_control) {
        return Some("holds a control character (newline, tab, …)".into());
    }
    if workdir.len() > WORKDIR_MAX {
        return Some(format!(
            "is {} bytes long; at most {WORKDIR_MAX}",
            workdir.len()
        ));
    }
    if workdir.starts_with('~') && workdir != "~" && !workdir.starts_with("~/") {
        return Some("may start with `~/` (the host's home), not `~user`".into());
    }
    None
}

/// Where a host's workers would run: this machine or one reached by ssh.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    Local,
    Ssh(Host),
}

impl Place {
    pub fn name(&self) -> &str {
        match self {
            Place::Local => LOCAL,
            Place::Ssh(h) => &h.name,
        }
    }
}

/// Every host of a plan: `local` first, then `settings.hosts` in order.
pub fn places(settings: &Settings) -> Vec<Place> {
    std::iter::once(Place::Local)
        .chain(settings.hosts.iter().cloned().map(Place::Ssh))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_safe_in_paths_and_socket_names() {
        for good in ["big1", "gpu-2", "a_b", "9lives", &"x".repeat(32)] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "local",
            "-x",
            "_x",
            "a.b",
            "a/b",
            "a b",
            "../x",
            "big1;rm",
            "é",
            &"x".repeat(33),
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn workdirs_may_use_the_host_s_home_not_another_user_s() {
        assert!(workdir_problem("~bob/x").is_some());
        assert!(workdir_problem("a\nb").is_some());
        assert!(workdir_problem(" ").is_some());
        assert_eq!(workdir_problem("~/work/myrepo"), None);
        assert_eq!(workdir_problem("relative/dir"), None);
    }
}
