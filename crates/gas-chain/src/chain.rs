//! The Bittensor (subtensor) chain client for `gascli d push`: registration check, the
//! `Commitments.set_commitment` extrinsic and the `Commitments.CommitmentOf` read-back.
//!
//! Built on subxt's [`OnlineClient`] over the *legacy* JSON-RPC backend (`chain_*`, `state_*`,
//! `author_submitAndWatchExtrinsic`), which every subtensor node serves. The runtime metadata is
//! read from the node, so pallet/call indices, storage hashers and the transaction extensions come
//! from the runtime itself; everything is addressed dynamically by name.

use std::sync::Arc;
use std::time::Duration;

use subxt::backend::LegacyBackend;
use subxt::config::{DefaultExtrinsicParamsBuilder, HashFor};
use subxt::dynamic::Value;
use subxt::error::{
    BackendError, DispatchError, ExtrinsicError, OnlineClientAtBlockError, OnlineClientError,
    RpcError, StorageError, TransactionEventsError, TransactionProgressError,
    TransactionStatusError,
};
use subxt::ext::jsonrpsee::client_transport::ws::{Url, WsTransportClientBuilder};
use subxt::ext::jsonrpsee::core::client::Client as WsClient;
use subxt::ext::scale_value::{At, ValueDef};
use subxt::{OnlineClient, SubstrateConfig};
use subxt_signer::sr25519::Keypair;

use crate::commitment::MAX_COMMITMENT_BYTES;

/// The chain configuration: subtensor uses the generic Substrate types (AccountId32,
/// MultiSignature, BlakeTwo256, u32 block numbers).
pub type Config = SubstrateConfig;

/// Transactions are mortal for this many blocks (the network's client uses the same).
pub const MORTAL_PERIOD: u64 = 128;

/// Errors talking to the chain. [`ChainError::is_transient`] says which are worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("invalid chain endpoint {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to the chain node at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("connection to the chain node lost or timed out while {during}: {reason}")]
    Connection {
        during: &'static str,
        reason: String,
    },
    #[error("the chain node answered an error while {during}: {reason}")]
    Node {
        during: &'static str,
        reason: String,
    },
    #[error(
        "the runtime metadata of the chain node has no {what}: is this a subtensor (Bittensor) \
         node?"
    )]
    MissingInMetadata { what: String },
    #[error("cannot decode {what} from the chain: {reason}")]
    Decode { what: String, reason: String },
    #[error("the node rejected the transaction as invalid: {reason}")]
    InvalidTransaction { reason: String },
    #[error("the transaction was dropped before finalization: {reason}")]
    Dropped { reason: String },
    #[error("the transaction failed on chain: {error}")]
    Dispatch {
        /// The runtime's error name, e.g. `Commitments::SpaceLimitExceeded`.
        error: String,
    },
    #[error(
        "commitment is {0} bytes; the chain's Data::Raw field holds at most \
         {MAX_COMMITMENT_BYTES}"
    )]
    CommitmentTooLong(usize),
}

impl ChainError {
    /// Transient errors (connection problems, timeouts, dropped transactions) may succeed when
    /// retried; permanent ones (invalid transaction, dispatch error, metadata mismatch) will not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Connect { .. } | ChainError::Connection { .. } | ChainError::Dropped { .. }
        )
    }
}

/// Classifies a backend (RPC) error: transport problems are transient, answers are not.
fn backend_err(during: &'static str, e: &BackendError) -> ChainError {
    match e {
        BackendError::Rpc(RpcError::ClientError(subxt::rpcs::Error::User(u))) => ChainError::Node {
            during,
            reason: user_error_text(u),
        },
        // The transport's own message ("connection closed; restart required", "request
        // timeout"), without subxt's layers of prefixes.
        BackendError::Rpc(RpcError::ClientError(subxt::rpcs::Error::Client(inner))) => {
            ChainError::Connection {
                during,
                reason: inner.to_string(),
            }
        }
        BackendError::Rpc(RpcError::ClientError(
            subxt::rpcs::Error::DisconnectedWillReconnect(_),
        ))
        | BackendError::Rpc(RpcError::SubscriptionDropped | RpcError::LimitReached) => {
            ChainError::Connection {
                during,
                reason: e.to_string(),
            }
        }
        other => ChainError::Node {
            during,
            reason: other.to_string(),
        },
    }
}

fn user_error_text(u: &subxt::rpcs::UserError) -> String {
    match &u.data {
        Some(d) => {
            // `data` is usually a JSON string ("Transaction has a bad signature").
            let data = serde_json::from_str::<String>(d.get()).unwrap_or_else(|_| d.to_string());
            format!("{} ({}): {data}", u.message, u.code)
        }
        None => format!("{} ({})", u.message, u.code),
    }
}

fn at_block_err(during: &'static str, e: OnlineClientAtBlockError) -> ChainError {
    use OnlineClientAtBlockError as E;
    match &e {
        E::CannotGetCurrentBlock { reason }
        | E::CannotGetBlockHeader { reason, .. }
        | E::CannotGetBlockHash { reason, .. }
        | E::CannotGetSpecVersion { reason, .. } => backend_err(during, reason),
        E::CannotGetMetadata { .. } => ChainError::Connection {
            during,
            reason: e.to_string(),
        },
        _ => ChainError::Node {
            during,
            reason: e.to_string(),
        },
    }
}

fn storage_err(during: &'static str, e: StorageError) -> ChainError {
    match &e {
        StorageError::CannotFetchValue(b)
        | StorageError::CannotIterateValues(b)
        | StorageError::StreamFailure(b) => backend_err(during, b),
        StorageError::PalletNameNotFound(p) => ChainError::MissingInMetadata {
            what: format!("pallet {p}"),
        },
        StorageError::StorageEntryNotFound {
            pallet_name,
            entry_name,
        } => ChainError::MissingInMetadata {
            what: format!("storage entry {pallet_name}.{entry_name}"),
        },
        _ => ChainError::Decode {
            what: during.to_string(),
            reason: e.to_string(),
        },
    }
}

fn dispatch_err(e: &DispatchError) -> ChainError {
    let error = match e {
        DispatchError::Module(m) => m.details_string(),
        other => other.to_string(),
    };
    ChainError::Dispatch { error }
}

fn extrinsic_err(e: ExtrinsicError) -> ChainError {
    match &e {
        ExtrinsicError::ErrorSubmittingTransaction(b) => match b {
            BackendError::Rpc(RpcError::ClientError(subxt::rpcs::Error::User(u))) => {
                // Substrate's author RPC: 1010 invalid, 1011 unknown validity, 1012 temporarily
                // banned, 1013 already imported, 1014 priority too low, 1016 immediately dropped.
                let reason = user_error_text(u);
                match u.code {
                    1012 | 1014 | 1016 => ChainError::Dropped { reason },
                    _ => ChainError::InvalidTransaction { reason },
                }
            }
            other => backend_err("submitting the transaction", other),
        },
        ExtrinsicError::AccountNonceError { reason, .. } => match reason {
            subxt::error::AccountNonceError::CouldNotRetrieve(b) => {
                backend_err("reading the account nonce", b)
            }
            other => ChainError::Decode {
                what: "the account nonce".into(),
                reason: other.to_string(),
            },
        },
        ExtrinsicError::TransactionStatusStreamError(b) => {
            backend_err("watching the transaction", b)
        }
        ExtrinsicError::TransactionStatusError(s) => status_err(s),
        _ => ChainError::Node {
            during: "building the transaction",
            reason: e.to_string(),
        },
    }
}

fn status_err(s: &TransactionStatusError) -> ChainError {
    match s {
        TransactionStatusError::Invalid(m) => ChainError::InvalidTransaction { reason: m.clone() },
        TransactionStatusError::Dropped(m) => ChainError::Dropped { reason: m.clone() },
        TransactionStatusError::Error(m) => ChainError::Dropped { reason: m.clone() },
        other => ChainError::Dropped {
            reason: other.to_string(),
        },
    }
}

fn progress_err(e: TransactionProgressError) -> ChainError {
    match &e {
        TransactionProgressError::CannotGetNextProgressUpdate(b) => {
            backend_err("watching the transaction", b)
        }
        TransactionProgressError::TransactionStatusError(s) => status_err(s),
        _ => ChainError::Connection {
            during: "watching the transaction",
            reason: e.to_string(),
        },
    }
}

fn events_err(e: TransactionEventsError) -> ChainError {
    match &e {
        TransactionEventsError::ExtrinsicFailed(d) => dispatch_err(d),
        TransactionEventsError::CannotFetchBlockBody { error, .. } => {
            backend_err("fetching the block with the transaction", error)
        }
        TransactionEventsError::CannotInstantiateClientAtBlock(_) => ChainError::Connection {
            during: "fetching the transaction's events",
            reason: e.to_string(),
        },
        _ => ChainError::Node {
            during: "fetching the transaction's events",
            reason: e.to_string(),
        },
    }
}

/// Where a commitment landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub block_number: u64,
    /// `0x` + 64 hex digits.
    pub block_hash: String,
    /// `0x` + 64 hex digits; empty when the commitment was found already on chain after a retry.
    pub extrinsic_hash: String,
}

/// A `Commitments.CommitmentOf` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChainCommitment {
    /// The block in which the commitment was set.
    pub block: u64,
    /// `info.fields[0]` (a `Data::RawN`) as UTF-8 text.
    pub text: String,
}

/// Retry policy for [`ChainClient::commit_with_retries`].
#[derive(Debug, Clone, Copy)]
pub struct ChainRetry {
    /// Retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    pub retry_delay: Duration,
}

/// Timeouts for the WebSocket connection.
#[derive(Debug, Clone, Copy)]
pub struct ChainTimeouts {
    pub connect: Duration,
    /// Per JSON-RPC request.
    pub request: Duration,
    /// From submission to finalization (Bittensor finalizes in well under a minute).
    pub finalize: Duration,
}

impl Default for ChainTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(15),
            request: Duration::from_secs(60),
            finalize: Duration::from_secs(300),
        }
    }
}

/// A connection to a subtensor node.
pub struct ChainClient {
    url: String,
    timeouts: ChainTimeouts,
    api: OnlineClient<Config>,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn hex_hash(h: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(h.as_ref()))
}

impl ChainClient {
    /// Connects to `url` (`ws://` or `wss://`) with default timeouts.
    pub async fn connect(url: &str) -> Result<Self, ChainError> {
        Self::connect_with(url, ChainTimeouts::default()).await
    }

    /// Connects to `url` (`ws://` or `wss://`).
    pub async fn connect_with(url: &str, timeouts: ChainTimeouts) -> Result<Self, ChainError> {
        let parsed = Url::parse(url).map_err(|e| ChainError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "ws" | "wss") {
            return Err(ChainError::BadUrl {
                url: url.to_string(),
                reason: "expected a ws:// or wss:// URL".into(),
            });
        }
        let connect_err = |reason: String| ChainError::Connect {
            url: url.to_string(),
            reason,
        };
        let (tx, rx) = WsTransportClientBuilder::default()
            .connection_timeout(timeouts.connect)
            .max_response_size(64 * 1024 * 1024)
            .build(parsed)
            .await
            .map_err(|e| connect_err(e.to_string()))?;
        let ws = WsClient::builder()
            .request_timeout(timeouts.request)
            .max_buffer_capacity_per_subscription(4096)
            .build_with_tokio(tx, rx);
        let backend = LegacyBackend::<Config>::builder().build(subxt::rpcs::RpcClient::new(ws));
        let api = OnlineClient::from_backend_with_config(Config::new(), Arc::new(backend))
            .await
            .map_err(|e| match e {
                OnlineClientError::CannotGetGenesisHash(b) => match backend_err("connecting", &b) {
                    ChainError::Connection { reason, .. } => connect_err(reason),
                    other => other,
                },
                other => connect_err(other.to_string()),
            })?;
        Ok(Self {
            url: url.to_string(),
            timeouts,
            api,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The hotkey's uid on `netuid` (`SubtensorModule.Uids(netuid, hotkey)`), if registered.
    pub async fn uid(&self, netuid: u16, hotkey: &[u8; 32]) -> Result<Option<u16>, ChainError> {
        const DURING: &str = "reading SubtensorModule.Uids";
        let at = self
            .api
            .at_current_block()
            .await
            .map_err(|e| at_block_err(DURING, e))?;
        let addr = subxt::dynamic::storage::<(u16, [u8; 32]), u16>("SubtensorModule", "Uids");
        let v = at
            .storage()
            .try_fetch(addr, (netuid, *hotkey))
            .await
            .map_err(|e| storage_err(DURING, e))?;
        match v {
            None => Ok(None),
            Some(v) => v.decode().map(Some).map_err(|e| ChainError::Decode {
                what: "SubtensorModule.Uids".into(),
                reason: e.to_string(),
            }),
        }
    }

    /// Whether the hotkey is registered on `netuid`.
    pub async fn is_registered(&self, netuid: u16, hotkey: &[u8; 32]) -> Result<bool, ChainError> {
        Ok(self.uid(netuid, hotkey).await?.is_some())
    }

    /// `Commitments.CommitmentOf(netuid, account)` at the latest finalized block.
    pub async fn read_commitment(
        &self,
        netuid: u16,
        account: &[u8; 32],
    ) -> Result<Option<OnChainCommitment>, ChainError> {
        const DURING: &str = "reading Commitments.CommitmentOf";
        let at = self
            .api
            .at_current_block()
            .await
            .map_err(|e| at_block_err(DURING, e))?;
        let addr = subxt::dynamic::storage::<(u16, [u8; 32]), Value>("Commitments", "CommitmentOf");
        let Some(v) = at
            .storage()
            .try_fetch(addr, (netuid, *account))
            .await
            .map_err(|e| storage_err(DURING, e))?
        else {
            return Ok(None);
        };
        let value = v.decode().map_err(|e| ChainError::Decode {
            what: "Commitments.CommitmentOf".into(),
            reason: e.to_string(),
        })?;
        decode_registration(&value).map(Some)
    }

    /// The signed `Commitments.set_commitment(netuid, {fields: [Data::RawN(commitment)]})`
    /// extrinsic (hotkey-signed, mortal for [`MORTAL_PERIOD`] blocks from the latest finalized
    /// block, nonce from the chain), ready to submit.
    async fn signed_commitment_tx(
        &self,
        netuid: u16,
        commitment: &str,
        hotkey: &Keypair,
    ) -> Result<
        subxt::transactions::SubmittableTransaction<
            Config,
            subxt::client::OnlineClientAtBlockImpl<Config>,
        >,
        ChainError,
    > {
        let bytes = commitment.as_bytes();
        if bytes.len() > MAX_COMMITMENT_BYTES {
            return Err(ChainError::CommitmentTooLong(bytes.len()));
        }
        let info = Value::named_composite([(
            "fields",
            Value::unnamed_composite([Value::unnamed_variant(
                format!("Raw{}", bytes.len()),
                [Value::from_bytes(bytes)],
            )]),
        )]);
        let payload = subxt::dynamic::tx(
            "Commitments",
            "set_commitment",
            (Value::u128(netuid.into()), info),
        );
        let at = self
            .api
            .at_current_block()
            .await
            .map_err(|e| at_block_err("preparing the transaction", e))?;
        let params = DefaultExtrinsicParamsBuilder::<Config>::new()
            .mortal(MORTAL_PERIOD)
            .build();
        let mut txs = at.transactions();
        txs.create_signed(&payload, hotkey, params)
            .await
            .map_err(extrinsic_err)
    }

    /// The SCALE bytes of the signed `set_commitment` extrinsic that [`Self::set_commitment`]
    /// would submit (for inspection and tests).
    pub async fn signed_commitment_extrinsic(
        &self,
        netuid: u16,
        commitment: &str,
        hotkey: &Keypair,
    ) -> Result<Vec<u8>, ChainError> {
        Ok(self
            .signed_commitment_tx(netuid, commitment, hotkey)
            .await?
            .into_encoded())
    }

    /// Signs `Commitments.set_commitment(netuid, {fields: [Data::RawN(commitment)]})` with the
    /// hotkey (mortal for [`MORTAL_PERIOD`] blocks, nonce from the chain), submits it and waits
    /// until it is finalized and its events show success.
    pub async fn set_commitment(
        &self,
        netuid: u16,
        commitment: &str,
        hotkey: &Keypair,
    ) -> Result<Committed, ChainError> {
        let tx = self
            .signed_commitment_tx(netuid, commitment, hotkey)
            .await?;
        let progress = tx.submit_and_watch().await.map_err(extrinsic_err)?;
        let extrinsic_hash = hex_hash(progress.extrinsic_hash());
        let in_block = tokio::time::timeout(self.timeouts.finalize, progress.wait_for_finalized())
            .await
            .map_err(|_| ChainError::Connection {
                during: "waiting for finalization",
                reason: format!(
                    "transaction {extrinsic_hash} not finalized within {} s",
                    self.timeouts.finalize.as_secs()
                ),
            })?
            .map_err(progress_err)?;
        in_block.wait_for_success().await.map_err(events_err)?;
        let block_hash: HashFor<Config> = in_block.block_hash();
        let block = in_block
            .at()
            .await
            .map_err(|e| at_block_err("reading the finalized block", e))?;
        Ok(Committed {
            block_number: block.block_number(),
            block_hash: hex_hash(block_hash),
            extrinsic_hash,
        })
    }

    /// [`Self::set_commitment`], retrying transient errors after `retry.retry_delay` (reconnecting
    /// first), at most `retry.max_retries` times; permanent errors are returned at once. Before a
    /// retry the current commitment is read: if the failed attempt did land, that is success.
    /// `on_retry(attempt, error, delay)` is called before each retry.
    pub async fn commit_with_retries(
        &mut self,
        netuid: u16,
        commitment: &str,
        hotkey: &Keypair,
        retry: ChainRetry,
        mut on_retry: impl FnMut(u32, &ChainError, Duration),
    ) -> Result<Committed, ChainError> {
        let account = hotkey.public_key().0;
        let mut attempt = 0u32;
        loop {
            let result = if attempt == 0 {
                self.set_commitment(netuid, commitment, hotkey).await
            } else {
                self.retry_once(netuid, commitment, hotkey, &account).await
            };
            match result {
                Ok(c) => return Ok(c),
                Err(e) if e.is_transient() && attempt < retry.max_retries => {
                    attempt += 1;
                    on_retry(attempt, &e, retry.retry_delay);
                    tokio::time::sleep(retry.retry_delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn retry_once(
        &mut self,
        netuid: u16,
        commitment: &str,
        hotkey: &Keypair,
        account: &[u8; 32],
    ) -> Result<Committed, ChainError> {
        self.api = Self::connect_with(&self.url, self.timeouts).await?.api;
        if let Some(c) = self.read_commitment(netuid, account).await?
            && c.text == commitment
        {
            // The previous attempt landed after all (the connection dropped after submission).
            let hash = self.block_hash(c.block).await?;
            return Ok(Committed {
                block_number: c.block,
                block_hash: hash,
                extrinsic_hash: String::new(),
            });
        }
        self.set_commitment(netuid, commitment, hotkey).await
    }

    /// `0x` hash of block `number`.
    pub async fn block_hash(&self, number: u64) -> Result<String, ChainError> {
        let at = self
            .api
            .at_block(number)
            .await
            .map_err(|e| at_block_err("reading a block hash", e))?;
        Ok(hex_hash(at.block_hash()))
    }
}

/// Decodes a `pallet_commitments::types::Registration { deposit, block, info }` value.
fn decode_registration(v: &Value) -> Result<OnChainCommitment, ChainError> {
    let bad = |reason: &str| ChainError::Decode {
        what: "Commitments.CommitmentOf".into(),
        reason: reason.to_string(),
    };
    let block = v
        .at("block")
        .and_then(|b| b.as_u128())
        .ok_or_else(|| bad("no numeric `block` field"))?;
    let fields = v
        .at("info")
        .and_then(|i| i.at("fields"))
        .ok_or_else(|| bad("no `info.fields`"))?;
    // `fields` is a BoundedVec<Data>: descend through the wrapper(s) to the first Data variant.
    let mut cur = fields;
    let variant = loop {
        match &cur.value {
            ValueDef::Composite(c) => {
                cur = c
                    .values()
                    .next()
                    .ok_or_else(|| bad("`info.fields` is empty"))?;
            }
            ValueDef::Variant(var) => break var,
            _ => return Err(bad("`info.fields[0]` is not a Data variant")),
        }
    };
    let raw_len: usize = variant
        .name
        .strip_prefix("Raw")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            bad(&format!(
                "`info.fields[0]` is Data::{}, expected Data::RawN",
                variant.name
            ))
        })?;
    let mut bytes = Vec::with_capacity(raw_len);
    for field in variant.values.values() {
        match &field.value {
            ValueDef::Composite(c) => {
                for b in c.values() {
                    let b = b
                        .as_u128()
                        .and_then(|b| u8::try_from(b).ok())
                        .ok_or_else(|| bad("Data::Raw holds a non-byte value"))?;
                    bytes.push(b);
                }
            }
            _ => return Err(bad("Data::Raw does not hold a byte array")),
        }
    }
    if bytes.len() != raw_len {
        return Err(bad(&format!(
            "Data::Raw{raw_len} holds {} bytes",
            bytes.len()
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| bad("the commitment is not UTF-8"))?;
    Ok(OnChainCommitment {
        block: block as u64,
        text,
    })
}
