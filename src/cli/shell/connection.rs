//! Opening and closing the session: [`Shell::new`], `connect`, `disconnect`, state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zookeeper_client::{Client, Error, SessionState};

use super::convert::keeper;
use super::{EventSink, Shell, WatchTable};
use crate::cli::format::keeper_error_message;
use crate::cli::parse::CliError;

impl Shell {
    pub fn new(host: &str, timeout: Duration, readonly: bool, events: Arc<EventSink>) -> Self {
        Shell {
            host: host.to_string(),
            timeout,
            readonly,
            client: None,
            want_connected: true,
            events,
            watches: Arc::new(Mutex::new(WatchTable::default())),
            shared: Arc::new(Mutex::new(None)),
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Slot holding the current client (for tab completion).
    pub fn shared_client(&self) -> Arc<Mutex<Option<Client>>> {
        self.shared.clone()
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn events(&self) -> &Arc<EventSink> {
        &self.events
    }

    /// Java `ZooKeeper.States` name for the prompt.
    pub fn state_name(&self) -> &'static str {
        match &self.client {
            Some(c) => crate::cli::format::zk_state_name(Some(c.state())),
            None if self.want_connected => "CONNECTING",
            None => "CLOSED",
        }
    }

    /// Opens a session to `self.host`, replacing any previous one.
    pub async fn connect(&mut self) -> Result<(), Error> {
        self.disconnect().await;
        self.want_connected = true;
        let client = Client::connector()
            .with_session_timeout(self.timeout)
            .with_readonly(self.readonly)
            .with_fail_eagerly()
            .connect(&self.host)
            .await?;
        let mut states = client.state_watcher();
        let events = self.events.clone();
        events.session_event(client.state());
        let closing = Arc::new(AtomicBool::new(false));
        self.closing = closing.clone();
        tokio::spawn(async move {
            loop {
                let state = states.changed().await;
                if !(state == SessionState::Closed && closing.load(Ordering::SeqCst)) {
                    events.session_event(state);
                }
                if state.is_terminated() {
                    break;
                }
            }
        });
        *self.shared.lock().unwrap() = Some(client.clone());
        self.client = Some(client);
        Ok(())
    }

    /// Closes the session (if any) and waits briefly for the server to acknowledge.
    pub async fn disconnect(&mut self) {
        self.watches.lock().unwrap().entries.clear();
        self.shared.lock().unwrap().take();
        if let Some(client) = self.client.take() {
            let mut states = client.state_watcher();
            let alive = !client.state().is_terminated();
            self.closing.store(true, Ordering::SeqCst);
            drop(client);
            if alive {
                let _ = tokio::time::timeout(Duration::from_secs(3), async {
                    while !states.changed().await.is_terminated() {}
                })
                .await;
                self.events.session_event(SessionState::Closed);
            }
        }
    }

    /// A live client, connecting first if needed. `Ok(None)` means zkCli's
    /// "Not connected" (closed by the user, expired or failed authentication).
    pub(super) async fn client(&mut self, path: &str) -> Result<Option<Client>, CliError> {
        match &self.client {
            Some(c) if !c.state().is_terminated() => return Ok(Some(c.clone())),
            Some(_) => return Ok(None),
            None if !self.want_connected => return Ok(None),
            None => {}
        }
        match self.connect().await {
            Ok(()) => Ok(self.client.clone()),
            Err(Error::AuthFailed) => Err(keeper(Error::AuthFailed, path)),
            Err(_) => Err(CliError::Keeper(keeper_error_message(
                &Error::ConnectionLoss,
                path,
            ))),
        }
    }
}
