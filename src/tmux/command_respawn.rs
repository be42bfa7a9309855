//! A pane started again in place (`respawn-pane`): how a pool worker's
//! session takes its next task's shim, logged from its first line.

use super::{
    NewPane, PaneLog, Tmux, check_label, literal, program_argv, split_env, status_label, utf8_dir,
};
use crate::tmux::error::{Result, TmuxError};
use crate::tmux::names;
use std::path::Path;
use tmux_interface::{DisplayMessage, PipePane, RespawnPane};

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
        check_label(label)?;
        let cwd = utf8_dir(cwd)?;
        let mut respawn = RespawnPane::new()
            .kill()
            .target_pane(pane.to_string())
            .start_directory(literal(cwd))
            .build();
        // As for new-session: PATH travels as this tmux process's own. Each
        // variable is its own `-e` (the builder keeps only one), and each
        // overrides the session's environment, which holds the values of
        // the session's first process.
        let (client_path, vars) = split_env(env)?;
        for (var, value) in vars {
            respawn.push_option("-e", literal(&format!("{var}={value}")));
        }
        for arg in program_argv(argv) {
            respawn.push_param(literal(&arg));
        }
        let mut commands = vec![
            respawn,
            // Without -o: the previous attempt's copier is closed, this
            // attempt's opened, before tmux reads the new process's output.
            PipePane::new()
                .target_pane(pane.to_string())
                .shell_command(literal(&log.shell_command()?))
                .build(),
        ];
        commands.extend(status_label(pane, label));
        commands.push(
            DisplayMessage::new()
                .print()
                .target_pane(pane.to_string())
                .message("#{pane_id} #{pane_pid}")
                .build(),
        );
        let out = self.exec_with_path("respawn-pane", commands, client_path)?;
        super::parse_new_pane("respawn-pane", &out)
    }
}
