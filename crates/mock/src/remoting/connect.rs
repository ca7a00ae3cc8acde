//! Disconnected runspace pools ([MS-PSRP] 3.2.5.3.14-19, 3.2.5.4.29-30): Disconnect,
//! Reconnect (the same client), Connect (another client: `connectXml` in,
//! `connectResponseXml` out), and the pools as the shell resource
//! (`http://schemas.microsoft.com/wbem/wsman/1/windows/shell`) lists them for
//! pypsrp's `RunspacePool.get_runspace_pools()` and `is_alive()`.

use psrp::fragment::{self, Defragmenter};
use psrp::records::{self, RunspacePoolState, SessionCapability};
use psrp::{Guid, Message, MessageType};

use super::{DEFAULT_CONFIGURATION, Pools, PsrpError, World, application_private_data};

/// A pool as the shell resource (`.../windows/shell`) shows it.
pub(crate) struct ShellInfo {
    /// The ShellId (upper case).
    pub id: String,
    /// The session configuration.
    pub configuration: String,
    pub owner: String,
    pub disconnected: bool,
    /// Its pipelines' CommandIds.
    pub commands: Vec<String>,
}

impl Pools {
    /// Disconnect ([MS-PSRP] 3.2.5.3.16); disconnecting a disconnected pool is
    /// answered as done.
    pub(crate) fn disconnect(&mut self, shell_id: &str, user: &str) -> Result<(), PsrpError> {
        self.any_pool_mut(shell_id, user)?.disconnected = true;
        Ok(())
    }

    /// Reconnect ([MS-PSRP] 3.2.5.3.18): the pool goes on where it was; one that is
    /// not disconnected is a fault.
    pub(crate) fn reconnect(&mut self, shell_id: &str, user: &str) -> Result<(), PsrpError> {
        let pool = self.any_pool_mut(shell_id, user)?;
        if !pool.disconnected {
            return Err(PsrpError::Disconnected(format!(
                "The runspace pool {} is not disconnected, so it cannot be reconnected.",
                shell_id.trim()
            )));
        }
        pool.disconnected = false;
        Ok(())
    }

    /// Connect from another client ([MS-PSRP] 3.2.5.3.14, 3.2.5.4.29): `connect` is the
    /// `connectXml` (SESSION_CAPABILITY, then CONNECT_RUNSPACEPOOL) for a disconnected
    /// pool; gives the `connectResponseXml` (the server's SESSION_CAPABILITY and
    /// RUNSPACEPOOL_INIT_DATA) and queues APPLICATION_PRIVATE_DATA and RUNSPACEPOOL_STATE
    /// Opened for the pool.
    pub(crate) fn connect(
        &mut self,
        shell_id: &str,
        user: &str,
        connect: &[u8],
        world: &World<'_>,
        now: u64,
    ) -> Result<Vec<u8>, PsrpError> {
        let pool = self.any_pool_mut(shell_id, user)?;
        let mut defrag = Defragmenter::new(fragment::Limits::default());
        let mut whole = Vec::new();
        defrag
            .push_stream(connect, &mut whole)
            .map_err(|e| PsrpError::BadCreation(format!("connectXml: {e}")))?;
        let kinds: Vec<MessageType> = whole
            .iter()
            .map(|b| Message::decode(b).map(|m| m.kind))
            .collect::<Result<_, _>>()
            .map_err(|e| PsrpError::BadCreation(format!("connectXml: {e}")))?;
        if kinds
            != [
                MessageType::SESSION_CAPABILITY,
                MessageType::CONNECT_RUNSPACEPOOL,
            ]
        {
            return Err(PsrpError::BadCreation(
                "connectXml carries no SESSION_CAPABILITY followed by CONNECT_RUNSPACEPOOL".into(),
            ));
        }
        if !pool.disconnected {
            return Err(PsrpError::Disconnected(format!(
                "The runspace pool {} is connected to another client.",
                shell_id.trim()
            )));
        }
        pool.disconnected = false;
        let mut answer = Vec::new();
        for (kind, v) in [
            (
                MessageType::SESSION_CAPABILITY,
                SessionCapability::default().to_value(),
            ),
            (
                MessageType::RUNSPACEPOOL_INIT_DATA,
                psrp::server::runspacepool_init_data(pool.min, pool.max),
            ),
        ] {
            let (oid, bytes) = pool.message(kind, Guid::NIL, &v);
            let f = fragment::split_encoded(oid, &bytes, 32_768)
                .map_err(|e| PsrpError::Internal(e.to_string()))?;
            answer.extend(f);
        }
        if !world.defects.no_application_private_data {
            let apd = application_private_data();
            pool.queue_for_pool(now, MessageType::APPLICATION_PRIVATE_DATA, &apd);
        }
        // The pool is Opened again, and RUNSPACEPOOL_STATE says so (3.2.5.4.9); pypsrp
        // reads both in the one Receive it sends after Connect.
        let v = records::runspace_pool_state(RunspacePoolState::Opened, None);
        pool.queue_for_pool(now, MessageType::RUNSPACEPOOL_STATE, &v);
        Ok(answer)
    }

    /// The pools `user` may see, for an Enumerate or Get of the shell resource (by
    /// ShellId).
    pub(crate) fn shells(&self, user: &str) -> Vec<ShellInfo> {
        let mut v: Vec<ShellInfo> = self
            .pools
            .iter()
            .filter(|(_, p)| p.owner.eq_ignore_ascii_case(user))
            .map(|(id, p)| {
                let mut commands: Vec<String> = p.pipelines.keys().cloned().collect();
                commands.sort();
                ShellInfo {
                    id: id.clone(),
                    configuration: p
                        .config
                        .clone()
                        .unwrap_or_else(|| DEFAULT_CONFIGURATION.to_owned()),
                    owner: p.owner.clone(),
                    disconnected: p.disconnected,
                    commands,
                }
            })
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}
