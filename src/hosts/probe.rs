//! What a host has, asked in one round trip: a small POSIX `sh` script run
//! there (in a login shell, so the PATH is the one its user has), sent on
//! its standard input (`sh -s`: the user's own shell, csh or fish, has no
//! quoting of it to do), its arguments passed as quoted words, never
//! pasted into the script.

use super::ssh::{Connection, Output, SshError, run_timed_with_input};
use std::process::Command;
use std::time::Duration;

/// Where the script's answer starts: a login shell's rc files may print
/// before it.
const MARK: &str = "@@switchboard-probe@@";

/// `$1`: the workdir (empty: home; `~/…` is the home's); `$2…`: programs.
const SCRIPT: &str = r#"wd=$1; shift
case $wd in
  '' | '~') wd=$HOME ;;
  '~/'*) wd=$HOME/${wd#'~/'} ;;
esac
echo '@@switchboard-probe@@'
printf 'who\t%s@%s\n' "$(id -un 2>/dev/null)" "$(uname -n 2>/dev/null)"
printf 'os\t%s\n' "$(uname -s 2>/dev/null)"
printf 'arch\t%s\n' "$(uname -m 2>/dev/null)"
printf 'home\t%s\n' "$HOME"
if command -v tmux >/dev/null 2>&1; then printf 'tmux\t%s\n' "$(tmux -V 2>&1 | head -n 1)"; fi
if command -v git >/dev/null 2>&1; then printf 'git\t%s\n' "$(git --version 2>&1 | head -n 1)"; fi
sb=$(command -v switchboard 2>/dev/null)
if [ -z "$sb" ] && [ -x "$HOME/.local/bin/switchboard" ]; then sb=$HOME/.local/bin/switchboard; fi
if [ -n "$sb" ]; then
  printf 'switchboard\t%s\n' "$sb"
  printf 'switchboard_says\t%s\n' "$("$sb" --version 2>&1 | head -n 1)"
fi
for p in "$@"; do printf 'program\t%s\t%s\n' "$p" "$(command -v "$p" 2>/dev/null)"; done
d=$wd
while [ -n "$d" ] && [ ! -d "$d" ] && [ "$d" != / ]; do d=$(dirname "$d"); done
printf 'disk\t%s\t%s\n' "$d" "$(df -Pk "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')"
if [ -r /proc/meminfo ]; then
  awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { printf "mem\t%s\t%s\n", a, t }' /proc/meminfo
fi
"#;

/// What the script found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    /// `user@hostname`.
    pub who: String,
    /// `uname -s`, `uname -m`.
    pub os: String,
    pub arch: String,
    pub home: String,
    /// `tmux -V`, `git --version`; None when not on PATH.
    pub tmux: Option<String>,
    pub git: Option<String>,
    /// The switchboard binary (on PATH, else `~/.local/bin`) and the first
    /// line its `--version` printed.
    pub switchboard: Option<(String, String)>,
    /// Each program asked for, with where it is (None: not found).
    pub programs: Vec<(String, Option<String>)>,
    /// The workdir, or its nearest existing parent, and its free KiB.
    pub disk: Option<(String, Option<u64>)>,
    /// Available and total memory, KiB (Linux only).
    pub memory: Option<(u64, u64)>,
}

impl Probe {
    /// The version a `switchboard --version` line names (`switchboard 0.1.0`).
    pub fn switchboard_version(&self) -> Option<&str> {
        let (_, says) = self.switchboard.as_ref()?;
        says.strip_prefix("switchboard ").map(str::trim)
    }
}

/// A program name worth asking a shell about: no options, no shell syntax.
pub fn askable(program: &str) -> bool {
    !program.is_empty()
        && !program.starts_with('-')
        && program
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-/".contains(c))
}

/// Ask a host over its connection.
pub fn remote(
    conn: &Connection,
    workdir: Option<&str>,
    programs: &[&str],
    timeout: Duration,
) -> Result<Probe, SshError> {
    let mut argv = vec!["sh", "-l", "-s", "--", workdir.unwrap_or("")];
    argv.extend(programs.iter().copied().filter(|p| askable(p)));
    let out = conn.run_with_input(&argv, SCRIPT.as_bytes(), timeout)?;
    read_output(&out)
}

/// Ask this machine, in this process's environment (the one workers get).
pub fn local(workdir: &str, programs: &[&str], timeout: Duration) -> Result<Probe, SshError> {
    let mut cmd = Command::new("sh");
    cmd.args(["-s", "--", workdir])
        .args(programs.iter().copied().filter(|p| askable(p)));
    read_output(&run_timed_with_input(&mut cmd, SCRIPT.as_bytes(), timeout)?)
}

fn read_output(out: &Output) -> Result<Probe, SshError> {
    parse(&out.stdout).ok_or_else(|| {
        let why = if out.code == Some(255) {
            "ssh failed"
        } else {
            "the check printed no answer"
        };
        SshError::Io(std::io::Error::other(format!(
            "{why}: {}",
            super::ssh::last_line(&out.stderr)
        )))
    })
}

/// The script's lines after its mark; None when the mark is missing.
pub fn parse(stdout: &str) -> Option<Probe> {
    let (_, answer) = stdout.split_once(MARK)?;
    let mut p = Probe::default();
    for line in answer.lines() {
        let mut fields = line.split('\t');
        let key = fields.next().unwrap_or("");
        let mut next = || fields.next().unwrap_or("").to_string();
        let some = |s: String| Some(s).filter(|s| !s.is_empty());
        match key {
            "who" => p.who = next(),
            "os" => p.os = next(),
            "arch" => p.arch = next(),
            "home" => p.home = next(),
            "tmux" => p.tmux = Some(next()),
            "git" => p.git = Some(next()),
            "switchboard" => p.switchboard = Some((next(), String::new())),
            "switchboard_says" => {
                if let Some((_, says)) = p.switchboard.as_mut() {
                    *says = next();
                }
            }
            "program" => {
                let name = next();
                p.programs.push((name, some(next())));
            }
            "disk" => {
                let dir = next();
                p.disk = Some((dir, next().parse().ok()));
            }
            "mem" => {
                let (available, total) = (next().parse().ok(), next().parse().ok());
                p.memory = available.zip(total);
            }
            _ => {}
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_starts_at_its_mark() {
        let out = "welcome from .profile\n@@switchboard-probe@@\nwho\tdev@big1\nos\tLinux\n\
                   arch\tx86_64\nhome\t/home/dev\ntmux\ttmux 3.3a\n\
                   switchboard\t/home/dev/.local/bin/switchboard\nswitchboard_says\tswitchboard 0.1.0\n\
                   program\tclaude\t/usr/bin/claude\nprogram\tcodex\t\n\
                   disk\t/home/dev\t1048576\nmem\t2097152\t4194304\n";
        let p = parse(out).unwrap();
        assert_eq!(p.who, "dev@big1");
        assert_eq!((p.os.as_str(), p.arch.as_str()), ("Linux", "x86_64"));
        assert_eq!(p.tmux.as_deref(), Some("tmux 3.3a"));
        assert_eq!(p.git, None);
        assert_eq!(p.switchboard_version(), Some("0.1.0"));
        assert_eq!(
            p.programs,
            [
                ("claude".to_string(), Some("/usr/bin/claude".to_string())),
                ("codex".to_string(), None)
            ]
        );
        assert_eq!(p.disk, Some(("/home/dev".into(), Some(1_048_576))));
        assert_eq!(p.memory, Some((2_097_152, 4_194_304)));
        assert_eq!(parse("no mark here"), None);
    }

    #[test]
    fn a_binary_that_does_not_run_has_no_version() {
        let p = parse("@@switchboard-probe@@\nswitchboard\t/x/switchboard\nswitchboard_says\tsh: 1: /x/switchboard: Exec format error\n").unwrap();
        assert_eq!(p.switchboard_version(), None);
    }

    /// The script itself, on this machine: what it finds is what `sh` finds.
    #[test]
    fn the_script_runs_here_with_hostile_arguments_as_data() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("not yet/made");
        let p = local(
            &work.display().to_string(),
            &["sh", "no-such-program-xyz", "$(touch pwned)", "-x"],
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(!p.os.is_empty() && !p.arch.is_empty(), "{p:?}");
        assert_eq!(p.programs.len(), 2, "only askable names: {p:?}");
        assert!(p.programs[0].1.is_some());
        assert_eq!(p.programs[1].1, None);
        let (disk_dir, free) = p.disk.clone().unwrap();
        assert_eq!(disk_dir, dir.path().display().to_string());
        assert!(free.is_some());
        assert!(!std::path::Path::new("pwned").exists());
    }
}
