//! A host's `ssh` setting read as `ssh` itself reads its command line:
//! options (with their values), then the destination. What switchboard
//! needs from it: the options to pass on, the destination, and the same
//! options in a form `scp` accepts.

/// `ssh`'s own option letters (OpenSSH 9's `SSH_OPTSTRING`); a `:` after a
/// letter means it takes a value.
const SSH_OPTSTRING: &str =
    "1246ab:c:e:fgi:kl:m:no:p:qstvx:AB:CD:E:F:GI:J:KL:MNO:P:Q:R:S:TVw:W:XYy";

/// Options that change what `ssh` does rather than how it connects:
/// switchboard sets them itself, or they would stop it from working.
const OURS: &[(char, &str)] = &[
    ('M', "the control connection is switchboard's"),
    ('S', "the control socket is switchboard's"),
    ('O', "the control connection is switchboard's"),
    ('N', "switchboard runs commands on the host"),
    ('f', "switchboard runs ssh in the foreground"),
    ('n', "switchboard decides what ssh reads"),
    ('s', "switchboard runs commands, not subsystems"),
    ('t', "switchboard decides when a terminal is needed"),
    ('T', "switchboard decides when a terminal is needed"),
    ('W', "switchboard runs commands on the host"),
    ('G', "it only prints the configuration"),
    ('V', "it only prints ssh's version"),
    ('Q', "it only queries ssh's algorithms"),
];

/// A host's `ssh` setting, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshArgs {
    /// Every option, in order, each as written (`-p`, `2222`).
    pub options: Vec<String>,
    /// `big1`, `dev@big1`, `ssh://dev@big1:2222`.
    pub destination: String,
}

impl SshArgs {
    /// Split `line` as a shell would and read it as ssh's options and one
    /// destination. The error says what is wrong, for a plan diagnostic.
    pub fn parse(line: &str) -> Result<SshArgs, String> {
        if line.chars().any(char::is_control) {
            return Err("holds a control character (newline, tab, …)".into());
        }
        let words = shlex::split(line).ok_or("has an unclosed quote or a trailing backslash")?;
        if words.is_empty() {
            return Err(
                "is empty: write the destination (`big1`, `dev@big1`), after any ssh options"
                    .into(),
            );
        }
        let mut options = Vec::new();
        let mut destination: Option<String> = None;
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            if word == "--" {
                if let Some(next) = words.next() {
                    set_destination(&mut destination, next)?;
                }
                continue;
            }
            let Some(letters) = word.strip_prefix('-').filter(|l| !l.is_empty()) else {
                set_destination(&mut destination, word)?;
                continue;
            };
            options.push(word.clone());
            for (i, letter) in letters.char_indices() {
                if let Some((_, why)) = OURS.iter().find(|(l, _)| *l == letter) {
                    return Err(format!(
                        "has the option -{letter}, which switchboard cannot take: {why}"
                    ));
                }
                match takes_value(letter) {
                    None => return Err(format!("has -{letter}, which is not an ssh option")),
                    Some(false) => {}
                    Some(true) => {
                        // `-p2222` holds its value; `-p 2222` has it next.
                        if letters[i + letter.len_utf8()..].is_empty() {
                            let value = words
                                .next()
                                .ok_or(format!("ends with -{letter}, which needs a value"))?;
                            options.push(value);
                        }
                        break;
                    }
                }
            }
        }
        let destination = destination.ok_or(
            "has options but no destination: write it last (`-p 2222 dev@big1`)".to_string(),
        )?;
        Ok(SshArgs {
            options,
            destination,
        })
    }

    /// The options with a shell's tilde expansion: `-F ~/.ssh/work_config`
    /// names a file in the home of the user running switchboard.
    pub fn expanded_options(&self) -> Vec<String> {
        let home = std::env::var("HOME").unwrap_or_default();
        self.options
            .iter()
            .map(|w| match w.strip_prefix('~') {
                Some(rest) if !home.is_empty() && (rest.is_empty() || rest.starts_with('/')) => {
                    format!("{home}{rest}")
                }
                _ => w.clone(),
            })
            .collect()
    }

    /// The same options as `scp` takes them: ssh's letters that mean
    /// something else to scp (`-p` port is scp's `-P`; `-l` user, scp's
    /// bandwidth) become `-o Keyword=value`; forwarding, X11, escape
    /// characters and log files, which a copy has no use for, are left out.
    pub fn scp_options(&self) -> Vec<String> {
        let options = self.expanded_options();
        let mut out = Vec::new();
        let mut words = options.iter();
        while let Some(word) = words.next() {
            let Some(letters) = word.strip_prefix('-') else {
                continue;
            };
            for (i, letter) in letters.char_indices() {
                if takes_value(letter) == Some(true) {
                    let rest = &letters[i + letter.len_utf8()..];
                    let value = if rest.is_empty() {
                        words.next().cloned().unwrap_or_default()
                    } else {
                        rest.to_string()
                    };
                    out.extend(scp_option_with_value(letter, value));
                    break;
                }
                out.extend(scp_flag(letter));
            }
        }
        out
    }

    /// `host:path` for scp: the destination's user and host (a URI's port
    /// is in [`Self::scp_options`]'s place: the control connection carries
    /// it), an IPv6 address in brackets.
    pub fn scp_target(&self, path: &str) -> String {
        let dest = self.destination.as_str();
        let (user, host) = match dest.strip_prefix("ssh://") {
            Some(uri) => {
                let authority = uri.split('/').next().unwrap_or(uri);
                let (user, hostport) = match authority.rsplit_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, authority),
                };
                let host = match hostport.strip_prefix('[') {
                    Some(v6) => v6.split(']').next().unwrap_or(v6),
                    None => hostport.split(':').next().unwrap_or(hostport),
                };
                (user, host)
            }
            None => match dest.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, dest),
            },
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        match user {
            Some(u) => format!("{u}@{host}:{path}"),
            None => format!("{host}:{path}"),
        }
    }
}

fn set_destination(slot: &mut Option<String>, word: String) -> Result<(), String> {
    match slot {
        None => {
            *slot = Some(word);
            Ok(())
        }
        Some(first) => Err(format!(
            "has '{word}' after the destination '{first}': a remote command there would run \
             instead of switchboard's; write only options and the destination"
        )),
    }
}

/// Whether ssh's option `letter` takes a value; None when it is not one.
fn takes_value(letter: char) -> Option<bool> {
    let at = SSH_OPTSTRING.find(letter).filter(|_| letter != ':')?;
    Some(SSH_OPTSTRING[at + 1..].starts_with(':'))
}

fn scp_flag(letter: char) -> Vec<String> {
    let o = |kv: &str| vec!["-o".to_string(), kv.to_string()];
    match letter {
        '4' => o("AddressFamily=inet"),
        '6' => o("AddressFamily=inet6"),
        'A' => o("ForwardAgent=yes"),
        'a' => o("ForwardAgent=no"),
        'C' => o("Compression=yes"),
        'K' => o("GSSAPIAuthentication=yes"),
        'k' => o("GSSAPIDelegateCredentials=no"),
        'q' => vec!["-q".into()],
        'v' => vec!["-v".into()],
        // -1 -2 (obsolete), -g -X -x -Y (forwarding), -y (syslog): nothing for a copy.
        _ => Vec::new(),
    }
}

fn scp_option_with_value(letter: char, value: String) -> Vec<String> {
    let keyword = match letter {
        'F' => return vec!["-F".into(), value],
        'o' => return vec!["-o".into(), value],
        'B' => "BindInterface",
        'b' => "BindAddress",
        'c' => "Ciphers",
        'I' => "PKCS11Provider",
        'i' => "IdentityFile",
        'J' => "ProxyJump",
        'l' => "User",
        'm' => "MACs",
        'P' => "Tag",
        'p' => "Port",
        // -D -L -R -w (forwards), -E (log file), -e (escape character).
        _ => return Vec::new(),
    };
    vec!["-o".into(), format!("{keyword}={value}")]
}

#[cfg(test)]
mod tests {
    use super::SshArgs;

    fn parsed(line: &str) -> (Vec<String>, String) {
        let a = SshArgs::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        (a.options, a.destination)
    }

    #[test]
    fn destinations_with_options_split_as_ssh_reads_them() {
        assert_eq!(parsed("big1"), (vec![], "big1".into()));
        assert_eq!(parsed("dev@big1").1, "dev@big1");
        assert_eq!(
            parsed("-p 2222 dev@big1"),
            (vec!["-p".into(), "2222".into()], "dev@big1".into())
        );
        assert_eq!(
            parsed("-F '~/.ssh/work config' big1"),
            (
                vec!["-F".into(), "~/.ssh/work config".into()],
                "big1".into()
            )
        );
        assert_eq!(parsed("-p2222 -4C big1").0, ["-p2222", "-4C"]);
        assert_eq!(parsed("-A -o ConnectTimeout=3 -- big1").1, "big1");
        // ssh takes options after the destination too.
        assert_eq!(parsed("big1 -p 2222").0, ["-p", "2222"]);
    }

    #[test]
    fn what_ssh_cannot_do_for_switchboard_is_refused_with_why() {
        let err = |line: &str| SshArgs::parse(line).expect_err(line);
        assert!(err("").contains("is empty"));
        assert!(err("   ").contains("is empty"));
        assert!(err("-p 2222").contains("no destination"));
        assert!(err("dev@big1 -p").contains("needs a value"));
        assert!(err("'big1").contains("unclosed quote"));
        assert!(err("big1\nrm").contains("control character"));
        assert!(err("big1 rm -rf /").contains("after the destination"));
        assert!(err("-f big1").contains("-f"));
        assert!(err("-NT big1").contains("-N"));
        assert!(err("-S /tmp/x big1").contains("control socket"));
        assert!(err("-Z big1").contains("not an ssh option"));
    }

    #[test]
    fn scp_gets_the_same_connection_in_its_own_words() {
        let a = SshArgs::parse("-p 2222 -l dev -i key -F cfg -4 -L 80:x:80 -o A=b big1").unwrap();
        assert_eq!(
            a.scp_options(),
            [
                "-o",
                "Port=2222",
                "-o",
                "User=dev",
                "-o",
                "IdentityFile=key",
                "-F",
                "cfg",
                "-o",
                "AddressFamily=inet",
                "-o",
                "A=b"
            ]
        );
        assert_eq!(
            SshArgs::parse("-p2222 big1").unwrap().scp_options(),
            ["-o", "Port=2222"]
        );
    }

    #[test]
    fn scp_targets_keep_the_user_and_bracket_ipv6() {
        let t = |dest: &str| SshArgs::parse(dest).unwrap().scp_target("/p");
        assert_eq!(t("big1"), "big1:/p");
        assert_eq!(t("dev@big1"), "dev@big1:/p");
        assert_eq!(t("dev@fe80::1"), "dev@[fe80::1]:/p");
        assert_eq!(t("ssh://dev@big1:2222"), "dev@big1:/p");
        assert_eq!(t("ssh://[::1]:22/"), "[::1]:/p");
    }

    #[test]
    fn a_leading_tilde_is_the_home_of_whoever_runs_switchboard() {
        let home = std::env::var("HOME").unwrap_or_default();
        if home.is_empty() {
            return;
        }
        let a = SshArgs::parse("-F ~/.ssh/c -i ~x/k big1").unwrap();
        assert_eq!(
            a.expanded_options(),
            ["-F", &format!("{home}/.ssh/c"), "-i", "~x/k"]
        );
    }
}
