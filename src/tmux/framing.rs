//! The control-mode wire format, line by line: `%begin T N F` … `%end T N F` /
//! `%error T N F` reply blocks, and `%…` notifications between them. Pure, so the
//! framing rules are tested without tmux.

/// What one or more lines from `tmux -C` amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A finished reply block. `from_client` is tmux's flag bit 1: the command
    /// came from our stdin. Blocks without it (the `new-session` on the command
    /// line, hooks) answer nobody's request.
    Reply {
        from_client: bool,
        ok: bool,
        lines: Vec<String>,
    },
    /// `%exit [reason]`: tmux is detaching this client; nothing more will come.
    Exit { reason: Option<String> },
    /// Any other `%` line outside a block (`%window-add @3`, `%sessions-changed`, …).
    Notification(String),
    /// A line outside any block that is not a notification; tmux should not send one.
    Stray(String),
}

#[derive(Debug, Default)]
pub(crate) struct Framer {
    open: Option<OpenBlock>,
}

#[derive(Debug)]
struct OpenBlock {
    /// `T N F` from `%begin`; only `%end`/`%error` with the same three ends the
    /// block, so reply text that happens to read `%end …` (a captured pane)
    /// stays text.
    guard: String,
    from_client: bool,
    lines: Vec<String>,
}

impl Framer {
    /// Feeds one line (without its `\n`); returns a frame when one is complete.
    pub(crate) fn push(&mut self, line: String) -> Option<Frame> {
        if let Some(block) = &mut self.open {
            let end = line
                .strip_prefix("%end ")
                .map(|g| (g, true))
                .or_else(|| line.strip_prefix("%error ").map(|g| (g, false)));
            if let Some((guard, ok)) = end
                && guard == block.guard
            {
                let block = self.open.take()?;
                return Some(Frame::Reply {
                    from_client: block.from_client,
                    ok,
                    lines: block.lines,
                });
            }
            block.lines.push(line);
            return None;
        }
        if let Some(guard) = line.strip_prefix("%begin ") {
            let flags = guard.split(' ').nth(2).and_then(|f| f.parse::<u32>().ok());
            self.open = Some(OpenBlock {
                guard: guard.to_string(),
                from_client: flags.is_some_and(|f| f & 1 == 1),
                lines: Vec::new(),
            });
            return None;
        }
        if line == "%exit" {
            return Some(Frame::Exit { reason: None });
        }
        if let Some(reason) = line.strip_prefix("%exit ") {
            return Some(Frame::Exit {
                reason: Some(reason.to_string()),
            });
        }
        if line.starts_with('%') {
            return Some(Frame::Notification(line));
        }
        Some(Frame::Stray(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> Vec<Frame> {
        let mut framer = Framer::default();
        lines
            .iter()
            .filter_map(|l| framer.push(l.to_string()))
            .collect()
    }

    fn reply(from_client: bool, ok: bool, lines: &[&str]) -> Frame {
        Frame::Reply {
            from_client,
            ok,
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn blocks_notifications_and_exit() {
        let frames = feed(&[
            "%begin 1795317474 259 0",
            "%end 1795317474 259 0",
            "%window-add @0",
            "%session-changed $0 ctl",
            "%begin 1795317474 266 1",
            "a",
            "",
            "b",
            "%end 1795317474 266 1",
            "%begin 1795317474 269 1",
            "parse error: unknown command: bogus",
            "%error 1795317474 269 1",
            "%exit server exited",
        ]);
        assert_eq!(
            frames,
            vec![
                reply(false, true, &[]),
                Frame::Notification("%window-add @0".into()),
                Frame::Notification("%session-changed $0 ctl".into()),
                reply(true, true, &["a", "", "b"]),
                reply(true, false, &["parse error: unknown command: bogus"]),
                Frame::Exit {
                    reason: Some("server exited".into())
                },
            ]
        );
    }

    #[test]
    fn lookalike_guards_inside_a_block_are_text() {
        let frames = feed(&[
            "%begin 10 5 1",
            "%end 1 2 1",
            "%error 10 5 0",
            "%exit",
            "%begin 9 9 9",
            "%end 10 5 1",
            "%exit",
        ]);
        assert_eq!(
            frames,
            vec![
                reply(
                    true,
                    true,
                    &["%end 1 2 1", "%error 10 5 0", "%exit", "%begin 9 9 9"]
                ),
                Frame::Exit { reason: None },
            ]
        );
    }

    #[test]
    fn odd_flags_and_stray_lines() {
        let frames = feed(&[
            "stray",
            "%begin 1 2 3",
            "%end 1 2 3",
            "%begin 1 3 x",
            "%end 1 3 x",
        ]);
        assert_eq!(
            frames,
            vec![
                Frame::Stray("stray".into()),
                reply(true, true, &[]),
                reply(false, true, &[]),
            ]
        );
    }
}
