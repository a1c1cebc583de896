//! The one connection that is not pooled: it `LISTEN`s on the invalidation
//! channel, applies what arrives (see `coherence.rs`), answers with
//! acknowledgements and sends this instance's heartbeats. It runs on the engine's
//! runtime for the life of the store, reconnecting with a growing pause; the cache
//! is usable only while it listens and its heartbeats come back.

use super::cache::Cache;
use super::coherence::HEARTBEAT;
use super::sql::CHANNEL;
use super::tls::MakeRustls;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, Client};

const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Listens until the runtime stops.
pub(super) async fn run(cache: Arc<Cache>, config: tokio_postgres::Config, tls: MakeRustls) {
    let mut pause = FIRST_PAUSE;
    loop {
        match session(&cache, &config, &tls).await {
            Ok(()) => pause = FIRST_PAUSE,
            Err(e) => tracing::debug!(error = %e, "cache listener"),
        }
        cache.lost();
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Sends one message on the channel from the listener's connection (in the
/// background: the session keeps reading meanwhile).
fn send(client: &Arc<Client>, payload: String) {
    let client = Arc::clone(client);
    tokio::spawn(async move {
        if let Err(e) = client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await {
            tracing::debug!(error = %e, "cache listener could not send");
        }
    });
}

/// One connection: listen, then apply messages and beat until it fails or a
/// writer asks for a reconnect. `Ok` when it had been listening.
async fn session(cache: &Cache, config: &tokio_postgres::Config, tls: &MakeRustls) -> Result<(), String> {
    let (client, mut conn) = config.connect(tls.clone()).await.map_err(|e| e.to_string())?;
    let client = Arc::new(client);
    let sql = format!("LISTEN {CHANNEL}");
    let listen = client.batch_execute(&sql);
    tokio::pin!(listen);
    let mut listening = false;
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = |listening: bool, why: String| if listening { Ok(()) } else { Err(why) };
    loop {
        tokio::select! {
            r = &mut listen, if !listening => {
                r.map_err(|e| e.to_string())?;
                listening = true;
                cache.listening();
                send(&client, cache.beat());
            }
            _ = beat.tick(), if listening => send(&client, cache.beat()),
            m = std::future::poll_fn(|cx| conn.poll_message(cx)) => match m {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if let Some(ack) = cache.on_message(n.payload()) {
                        send(&client, ack);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return ended(listening, e.to_string()),
                None => return ended(listening, "connection closed".into()),
            },
            _ = cache.reconnect.notified() => return Ok(()),
        }
    }
}
