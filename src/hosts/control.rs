//! A tmux control-mode connection to a host's tmux server, over the host's
//! ssh connection: `ssh … host tmux -L <socket> -C new-session -A -s
//! <session> cat`, driven by the same client as the local one
//! ([`ControlClient`]), so a host's panes are listed, captured and typed
//! into as locally (one `list-panes -a` per poll): the engine's
//! [`HostLink`](crate::engine::host_link::HostLink) holds one per host.

use super::ssh::Connection;
use crate::tmux::{ControlClient, TmuxError};

/// Connect to `session` on the host's tmux server `socket` (its default
/// server when None), starting the server if none runs there. `conn`
/// proves the host is reachable and keeps its master up; this connection
/// rides on that master as one more session of it.
pub async fn connect(
    conn: &Connection,
    socket: Option<&str>,
    session: &str,
) -> Result<ControlClient, TmuxError> {
    let argv = ControlClient::argv(socket, session)?;
    let remote = shlex::try_join(argv.iter().map(String::as_str))
        .map_err(|_| TmuxError::Invalid(format!("a NUL byte in {argv:?}")))?;
    let mut command = tokio::process::Command::new("ssh");
    // No terminal: `tmux -C` (one C) speaks its protocol over pipes.
    command.args(conn.host().ssh_argv(&["-T"], Some(&remote)));
    ControlClient::connect_through(command, session).await
}

#[cfg(test)]
mod tests {
    use crate::tmux::{ControlClient, PrivateServer, Tmux};
    use std::path::Path;
    use std::time::Duration;

    /// What a host's sshd gives tmux: no locale. The client still reads
    /// every pane, its title's `✳` included (tmux turned both the field
    /// separator and the `✳` into `_` before `-u`).
    #[tokio::test]
    async fn panes_read_the_same_without_a_utf8_locale() {
        let server = PrivateServer::new("sbhostloc");
        let tmux = Tmux::new(Some(server.name().to_string()));
        let argv = ControlClient::argv(Some(server.name()), "sb-loc-control").unwrap();
        let mut command = tokio::process::Command::new(&argv[0]);
        command.args(&argv[1..]);
        for var in ["LANG", "LC_ALL", "LC_CTYPE"] {
            command.env_remove(var);
        }
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            ControlClient::connect_through(command, "sb-loc-control"),
        )
        .await
        .expect("hang guard")
        .unwrap();
        let argv: Vec<String> = ["sh", "-c", "printf '\\033]2;✳ idle\\007'; exec cat"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let pane = tmux
            .new_session("work", Path::new("/"), &[], &argv, (80, 24))
            .unwrap();
        let mut seen = None;
        for _ in 0..200 {
            let panes = client.list_panes().await.unwrap();
            seen = panes.into_iter().find(|p| p.pane_id == pane);
            if seen.as_ref().is_some_and(|p| p.title == "✳ idle") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen = seen.expect("the pane is listed");
        assert_eq!(
            (seen.session_name.as_str(), seen.title.as_str()),
            ("work", "✳ idle")
        );
    }
}
