//! The admin socket's server side: `DATA_DIR/admin.sock`, a Unix socket only the
//! service's user can open (0600, inside the 0700 data directory). The running
//! server answers one JSON [`Request`] line per connection with one JSON [`Reply`]
//! line, executing it with [`ops::execute`] on its own auth core. The CLI's side is
//! `cli::admin_socket`.

use crate::domain::Auth;
use crate::ops::{self, execute, Reply, Request};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::watch;

/// Longest request line accepted (an import carries many rows; see the constant).
const MAX_REQUEST: u64 = ops::MAX_REQUEST_BYTES as u64;

/// Binds the admin socket. A leftover socket file is removed first: this process
/// holds the database lock, so no other server can be listening on it.
pub fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    let p = ops::socket_path(data_dir);
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&p)?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Answers requests until `stop` flips, then removes the socket file.
pub async fn serve(
    listener: UnixListener,
    auth: Arc<Auth>,
    socket_path: PathBuf,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let auth = Arc::clone(&auth);
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
            let got = tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line)).await;
            let reply = match (got, serde_json::from_str::<Request>(line.trim())) {
                (Ok(Ok(_)), Ok(req)) => {
                    match tokio::task::spawn_blocking(move || execute(&auth, req)).await {
                        Ok(r) => r,
                        Err(e) => Reply {
                            ok: false,
                            message: format!("command failed: {e}"),
                            data: serde_json::Value::Null,
                        },
                    }
                }
                (_, Err(e)) => {
                    Reply { ok: false, message: format!("bad request: {e}"), data: serde_json::Value::Null }
                }
                (_, _) => return,
            };
            if let Ok(mut text) = serde_json::to_string(&reply) {
                text.push('\n');
                let _ = write.write_all(text.as_bytes()).await;
            }
        });
    }
    let _ = std::fs::remove_file(socket_path);
}
