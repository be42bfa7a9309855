//! Judging a host from what its probe found: each line of doctor's block
//! (✓, ! or ✗), whether it is usable, and this build to compare it with.

use super::Place;
use super::probe::Probe;
use super::ssh::SshError;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Below this much free disk or memory a host is worth a warning.
const LOW_KIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Ok,
    Note,
    Bad,
}

impl Mark {
    fn sign(self) -> &'static str {
        match self {
            Mark::Ok => "✓",
            Mark::Note => "!",
            Mark::Bad => "✗",
        }
    }
}

/// One line of a host's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub mark: Mark,
    pub label: String,
    pub text: String,
}

/// What doctor says of one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub name: String,
    /// `this machine`, `ssh dev@big1`.
    pub how: String,
    pub rows: Vec<Row>,
}

impl Verdict {
    /// What makes the host unusable: the labels of its ✗ rows.
    pub fn blockers(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.mark == Mark::Bad)
            .map(|r| r.label.as_str())
            .collect()
    }

    /// The block doctor prints, labels aligned.
    /// What a host printed (versions, paths) is shown with its control
    /// characters escaped: a host must not drive this terminal.
    pub fn render(&self) -> String {
        use crate::plan::diagnostic::printable;
        let width = self.rows.iter().map(|r| r.label.chars().count()).max();
        let mut out = format!("host {} ({}):\n", self.name, printable(&self.how));
        for r in &self.rows {
            let pad = width.unwrap_or(0) - r.label.chars().count();
            out.push_str(&format!(
                "  {} {}{}  {}\n",
                r.mark.sign(),
                printable(&r.label),
                " ".repeat(pad),
                printable(&r.text)
            ));
        }
        out
    }
}

/// What this switchboard is, to compare a host's with.
#[derive(Debug, Clone)]
pub struct ThisBuild {
    pub version: String,
    /// `std::env::consts::OS` and `ARCH`.
    pub os: String,
    pub arch: String,
    pub exe: String,
}

impl ThisBuild {
    pub fn current() -> ThisBuild {
        ThisBuild {
            version: env!("CARGO_PKG_VERSION").to_string(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            exe: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "switchboard".into()),
        }
    }

    /// Whether a host's `uname -s` and `uname -m` name this build's target.
    pub fn runs_on(&self, uname_s: &str, uname_m: &str) -> bool {
        let os = match uname_s {
            "Linux" => "linux",
            "Darwin" => "macos",
            "FreeBSD" => "freebsd",
            "OpenBSD" => "openbsd",
            "NetBSD" => "netbsd",
            other => other,
        };
        let arch = match uname_m {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            "i386" | "i486" | "i586" | "i686" => "x86",
            m if m.starts_with("armv") => "arm",
            other => other,
        };
        os == self.os && arch == self.arch
    }
}

/// A host that could not be reached.
pub fn unreachable(name: &str, how: &str, why: &SshError) -> Verdict {
    let text = match why {
        SshError::Unreachable(reason) => reason.clone(),
        other => other.to_string(),
    };
    Verdict {
        name: name.into(),
        how: how.into(),
        rows: vec![Row {
            mark: Mark::Bad,
            label: "ssh".into(),
            text: format!("unreachable: {text}"),
        }],
    }
}

/// Judge what a probe found. `reached`: how long ssh took (None: this
/// machine); `programs`: each agent program with the profiles that run it.
pub fn assess(
    place: &Place,
    probe: &Probe,
    reached: Option<Duration>,
    this: &ThisBuild,
    programs: &BTreeMap<String, Vec<String>>,
) -> Verdict {
    let mut rows = Vec::new();
    let mut row = |mark, label: &str, text: String| {
        rows.push(Row {
            mark,
            label: label.into(),
            text,
        })
    };
    let (how, local) = match place {
        Place::Local => ("this machine".to_string(), true),
        Place::Ssh(h) => (format!("ssh {}", h.ssh), false),
    };
    if let Some(took) = reached {
        row(
            Mark::Ok,
            "ssh",
            format!("reachable as {} in {:.1} s", probe.who, took.as_secs_f64()),
        );
    }
    let system = format!("{} {}", probe.os, probe.arch);
    if local || this.runs_on(&probe.os, &probe.arch) {
        let same = if local { "" } else { " (as this machine)" };
        row(Mark::Ok, "system", format!("{system}{same}"));
    } else {
        row(
            Mark::Note,
            "system",
            format!(
                "{system}: this build is for {} {}, so `hosts install` cannot copy it there",
                this.os, this.arch
            ),
        );
    }
    for (label, found) in [("tmux", &probe.tmux), ("git", &probe.git)] {
        match found {
            Some(v) => row(Mark::Ok, label, v.clone()),
            None => row(Mark::Bad, label, "not found on PATH".into()),
        }
    }
    if local {
        row(
            Mark::Ok,
            "switchboard",
            format!("{} (this build, at {})", this.version, this.exe),
        );
    } else {
        switchboard_row(place.name(), probe, this, &mut row);
    }
    for (program, profiles) in programs {
        let whose = format!(
            "profile{} {}",
            if profiles.len() == 1 { "" } else { "s" },
            profiles.join(", ")
        );
        let found = probe.programs.iter().find(|(p, _)| p == program);
        match found.and_then(|(_, at)| at.as_ref()) {
            Some(at) => row(
                Mark::Ok,
                &format!("agent {program}"),
                format!("{at} ({whose})"),
            ),
            None => row(
                Mark::Note,
                &format!("agent {program}"),
                format!("not found: {whose} cannot run here"),
            ),
        }
    }
    let workdir = match place {
        Place::Ssh(h) => h.workdir.clone().unwrap_or_else(|| "~".into()),
        Place::Local => String::new(),
    };
    match &probe.disk {
        Some((dir, Some(kib))) => {
            let at = if local || dir_names(&workdir, dir, &probe.home) {
                dir.clone()
            } else {
                format!("{dir} ({workdir} is not made yet)")
            };
            let mark = if *kib < LOW_KIB { Mark::Note } else { Mark::Ok };
            row(mark, "disk", format!("{} free in {at}", size(*kib)));
        }
        _ => row(Mark::Note, "disk", "free space unknown (no df)".into()),
    }
    match probe.memory {
        Some((available, total)) => {
            let mark = if available < LOW_KIB {
                Mark::Note
            } else {
                Mark::Ok
            };
            row(
                mark,
                "memory",
                format!("{} available of {}", size(available), size(total)),
            );
        }
        None => row(Mark::Note, "memory", "unknown (no /proc/meminfo)".into()),
    }
    Verdict {
        name: place.name().to_string(),
        how,
        rows,
    }
}

fn switchboard_row(
    name: &str,
    probe: &Probe,
    this: &ThisBuild,
    row: &mut impl FnMut(Mark, &str, String),
) {
    let install = format!("`switchboard hosts install {name}` copies this build there");
    match (&probe.switchboard, probe.switchboard_version()) {
        (None, _) => row(
            Mark::Bad,
            "switchboard",
            format!("not found on PATH or in ~/.local/bin: {install}"),
        ),
        (Some((at, says)), None) => row(
            Mark::Bad,
            "switchboard",
            format!("{at} does not run: {says}"),
        ),
        (Some((at, _)), Some(v)) if v == this.version => row(
            Mark::Ok,
            "switchboard",
            format!("{v} at {at} (as this build)"),
        ),
        (Some((at, _)), Some(v)) => row(
            Mark::Bad,
            "switchboard",
            format!("{v} at {at}, this build is {}: {install}", this.version),
        ),
    }
}

/// Whether the directory df measured is the workdir itself.
fn dir_names(workdir: &str, measured: &str, home: &str) -> bool {
    let full = match workdir.strip_prefix('~') {
        Some(rest) => format!("{home}{rest}"),
        None if workdir.starts_with('/') => workdir.to_string(),
        None => format!("{home}/{workdir}"),
    };
    Path::new(&full) == Path::new(measured) || workdir == measured
}

/// KiB as people read sizes.
fn size(kib: u64) -> String {
    if kib >= 1024 * 1024 {
        format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} MiB", kib / 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Host;

    fn this() -> ThisBuild {
        ThisBuild {
            version: "0.1.0".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            exe: "/usr/bin/switchboard".into(),
        }
    }

    fn big1() -> Place {
        Place::Ssh(Host {
            name: "big1".into(),
            ssh: "dev@big1".into(),
            max_parallel: None,
            labels: vec![],
            workdir: Some("~/work/repo".into()),
        })
    }

    fn probe() -> Probe {
        Probe {
            who: "dev@big1".into(),
            os: "Linux".into(),
            arch: "x86_64".into(),
            home: "/home/dev".into(),
            tmux: Some("tmux 3.3a".into()),
            git: Some("git version 2.39.5".into()),
            switchboard: Some((
                "/home/dev/.local/bin/switchboard".into(),
                "switchboard 0.1.0".into(),
            )),
            programs: vec![
                ("claude".into(), Some("/usr/bin/claude".into())),
                ("codex".into(), None),
            ],
            disk: Some(("/home/dev".into(), Some(40 * 1024 * 1024))),
            memory: Some((3 * 1024 * 1024, 8 * 1024 * 1024)),
        }
    }

    fn programs() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("claude".to_string(), vec!["claude".to_string()]),
            (
                "codex".to_string(),
                vec!["codex".to_string(), "cx".to_string()],
            ),
        ])
    }

    #[test]
    fn a_good_host_reads_as_one_aligned_block() {
        let v = assess(
            &big1(),
            &probe(),
            Some(Duration::from_millis(310)),
            &this(),
            &programs(),
        );
        assert_eq!(
            v.render(),
            "host big1 (ssh dev@big1):\n\
             \x20 ✓ ssh           reachable as dev@big1 in 0.3 s\n\
             \x20 ✓ system        Linux x86_64 (as this machine)\n\
             \x20 ✓ tmux          tmux 3.3a\n\
             \x20 ✓ git           git version 2.39.5\n\
             \x20 ✓ switchboard   0.1.0 at /home/dev/.local/bin/switchboard (as this build)\n\
             \x20 ✓ agent claude  /usr/bin/claude (profile claude)\n\
             \x20 ! agent codex   not found: profiles codex, cx cannot run here\n\
             \x20 ✓ disk          40.0 GiB free in /home/dev (~/work/repo is not made yet)\n\
             \x20 ✓ memory        3.0 GiB available of 8.0 GiB\n"
        );
        assert!(v.blockers().is_empty());
    }

    #[test]
    fn what_workers_need_missing_makes_a_host_unusable() {
        let mut p = probe();
        p.tmux = None;
        p.switchboard = Some(("/usr/bin/switchboard".into(), "switchboard 0.0.9".into()));
        let v = assess(&big1(), &p, Some(Duration::ZERO), &this(), &programs());
        assert_eq!(v.blockers(), ["tmux", "switchboard"]);
        let text = v.render();
        assert!(
            text.contains("0.0.9 at /usr/bin/switchboard, this build is 0.1.0: `switchboard hosts install big1`"),
            "{text}"
        );
        p.switchboard = None;
        let v = assess(&big1(), &p, Some(Duration::ZERO), &this(), &programs());
        assert!(v.render().contains("not found on PATH or in ~/.local/bin"));
        let down = unreachable(
            "big3",
            "ssh big3",
            &SshError::Unreachable("ssh: connect to host big3 port 22: Connection refused".into()),
        );
        assert_eq!(
            down.render(),
            "host big3 (ssh big3):\n  ✗ ssh  unreachable: ssh: connect to host big3 port 22: Connection refused\n"
        );
        assert_eq!(down.blockers(), ["ssh"]);
    }

    #[test]
    fn a_host_s_words_cannot_drive_the_terminal() {
        let mut p = probe();
        p.tmux = Some("tmux 3.3a\u{1b}]0;pwned\u{7}".into());
        let text = assess(&big1(), &p, Some(Duration::ZERO), &this(), &programs()).render();
        assert!(text.contains("tmux 3.3a\\u{1b}]0;pwned\\u{7}"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn another_system_is_a_note_not_a_blocker() {
        let mut p = probe();
        (p.os, p.arch) = ("Darwin".into(), "arm64".into());
        let v = assess(&big1(), &p, Some(Duration::ZERO), &this(), &programs());
        assert!(v.blockers().is_empty());
        assert!(
            v.render()
                .contains("! system        Darwin arm64: this build is for linux x86_64")
        );
        assert!(this().runs_on("Linux", "amd64"));
        assert!(!this().runs_on("Linux", "aarch64"));
    }
}
