//! A pane started again in place (`respawn-pane`): how a pool worker's
//! session takes its next task's shim, logged from its first line.

use super::{NewPane, PaneLog, Tmux, literal, program_argv};
use crate::tmux::error::{Result, TmuxError};
use crate::tmux::names;
use std::path::Path;
use tmux_interface::{DisplayMessage, PipePane, RespawnPane, SetOption};

impl Tmux {
    /// Starts `argv` again in `pane` (`respawn-pane -k`: whatever ran there
    /// is killed), in `cwd` with `env` added, its output copied to `log`
    /// from its first line on (the pipe is replaced in the same tmux
    /// invocation), and `label` as its session's status-left: a pool worker
    /// taking its next task. Returns the pane and the pid of its new process.
    pub fn respawn_pane(
        &self,
        pane: &str,
        label: &str,
        log: &PaneLog,
        cwd: &Path,
        env: &[(String, String)],
        argv: &[String],
    ) -> Result<NewPane> {
        if !names::is_pane_id(pane) {
            return Err(TmuxError::Invalid(format!("{pane:?} is not a pane id")));
        }
        if label.contains('#') {
            return Err(TmuxError::Invalid(format!(
                "status label {label:?} holds '#'"
            )));
        }
        let cwd = cwd
            .to_str()
            .ok_or_else(|| TmuxError::Invalid(format!("working directory {cwd:?} is not UTF-8")))?;
        let mut respawn = RespawnPane::new()
            .kill()
            .target_pane(pane.to_string())
            .start_directory(literal(cwd))
            .build();
        // As for new-session: PATH travels as this tmux process's own. Each
        // variable is its own `-e` (the builder keeps only one), and each
        // overrides the session's environment, which holds the values of
        // the session's first process.
        let mut client_path = None;
        for (var, value) in env {
            if var == "PATH" {
                client_path = Some(value.as_str());
                continue;
            }
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(TmuxError::Invalid(format!(
                    "bad environment variable name {var:?}"
                )));
            }
            respawn.push_option("-e", literal(&format!("{var}={value}")));
        }
        for arg in program_argv(argv) {
            respawn.push_param(literal(&arg));
        }
        let commands = vec![
            respawn,
            // Without -o: the previous attempt's copier is closed, this
            // attempt's opened, before tmux reads the new process's output.
            PipePane::new()
                .target_pane(pane.to_string())
                .shell_command(literal(&log.shell_command()?))
                .build(),
            SetOption::new()
                .target_pane(pane.to_string())
                .option("status-left")
                .value(literal(&format!("[{label}] ")))
                .build(),
            SetOption::new()
                .target_pane(pane.to_string())
                .option("status-left-length")
                .value((label.chars().count() + 3).to_string())
                .build(),
            DisplayMessage::new()
                .print()
                .target_pane(pane.to_string())
                .message("#{pane_id} #{pane_pid}")
                .build(),
        ];
        let out = self.exec_with_path("respawn-pane", commands, client_path)?;
        super::parse_new_pane("respawn-pane", &out)
    }
}
