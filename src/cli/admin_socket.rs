//! The admin socket's client side: send one [`Request`] to the server running on
//! a data directory, if one is listening there (see `server::admin_socket`).

use crate::ops::{self, Reply, Request};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

/// Sends `req` to a running server, if one listens on `data_dir`'s socket.
/// `None` means no server is running there.
pub fn send(data_dir: &Path, req: &Request) -> Option<std::io::Result<Reply>> {
    let stream = std::os::unix::net::UnixStream::connect(ops::socket_path(data_dir)).ok()?;
    Some((|| {
        stream.set_read_timeout(Some(Duration::from_secs(600)))?;
        let mut text = serde_json::to_string(req).map_err(std::io::Error::other)?;
        if text.len() >= ops::MAX_REQUEST_BYTES {
            return Err(std::io::Error::other(format!(
                "the request is {} MiB, more than the admin socket takes ({} MiB): stop the server and run the command again, to work on the data directory directly",
                text.len() >> 20,
                ops::MAX_REQUEST_BYTES >> 20
            )));
        }
        text.push('\n');
        (&stream).write_all(text.as_bytes())?;
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line)?;
        serde_json::from_str(line.trim()).map_err(std::io::Error::other)
    })())
}
