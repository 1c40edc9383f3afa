//! A fake subtensor node for tests: a WebSocket JSON-RPC server on 127.0.0.1 that speaks the
//! legacy Substrate RPC subset a chain client needs (`chain_*`, `state_call`, `state_getStorage`,
//! `author_submitAndWatchExtrinsic`) and serves the **real** subtensor runtime metadata
//! (`tests/data/finney.scale`, from crates.io `bittensor-rs@0.1.1`).
//!
//! Submitted extrinsics are checked the way a node's transaction pool would: decoded against the
//! metadata (v4 signed), the sr25519 signature verified over the signer payload the node builds
//! itself (call ++ extension values ++ implicit data: spec/tx version, genesis hash, the mortal
//! era's birth block hash, metadata-hash `None`), the nonce and era checked, and the call must be
//! `Commitments.set_commitment` (pallet/call index from the metadata). An accepted extrinsic is
//! put in a new block with `System.Events` (`ExtrinsicSuccess`, or `ExtrinsicFailed` with
//! `Commitments::AccountNotAllowedCommit` for a hotkey that is not registered on the subnet) and
//! the commitment is stored as `Commitments.CommitmentOf`, encoded with the metadata's types.
//!
//! Failure knobs: [`FakeNode::drop_next_submit`], [`FakeNode::invalid_next_submit`],
//! [`FakeNode::stall_next_submit`].
//!
//! This file is compiled both as `gas_chain::testing` (feature `testing`, for gascli's tests) and
//! from this crate's integration tests, so it refers to no `crate::` items.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value as Json, json};
use subxt::Metadata;
use subxt::config::Hasher;
use subxt::config::substrate::{BlakeTwo256, Digest, SubstrateHeader};
use subxt::ext::codec::{Compact, Decode, Encode};
use subxt::ext::frame_decode;
use subxt::ext::scale_encode::EncodeAsType;
use subxt::ext::scale_value::{self, Value};
use subxt::utils::H256;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// The real subtensor runtime metadata (SCALE `RuntimeMetadataPrefixed`, V16).
pub static FINNEY_METADATA: &[u8] = include_bytes!("../data/finney.scale");

/// Runtime versions the fake node reports (`Core_version`).
pub const SPEC_VERSION: u32 = 290;
pub const TX_VERSION: u32 = 1;
/// Blocks produced at start-up (so a mortal era has history to point at).
const INITIAL_BLOCKS: u64 = 20;

/// What happened to one `author_submitAndWatchExtrinsic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Included in block `block` (and finalized); `dispatch_error` is set when it failed there.
    Included {
        block: u64,
        dispatch_error: Option<String>,
    },
    /// Rejected by the pool with JSON-RPC error 1010 and this reason.
    Rejected(String),
    /// The connection was dropped (knob).
    ConnectionDropped,
}

/// A record of one submission.
#[derive(Debug, Clone)]
pub struct Submission {
    pub outcome: SubmitOutcome,
    /// The signer, when the extrinsic could be decoded.
    pub signer: Option<[u8; 32]>,
    /// Mortal era period (None: immortal or undecodable).
    pub era_period: Option<u64>,
    pub nonce: Option<u32>,
}

struct Block {
    header: SubstrateHeader<H256>,
    hash: H256,
    body: Vec<Vec<u8>>,
    storage: HashMap<Vec<u8>, Vec<u8>>,
}

#[derive(Default)]
struct Knobs {
    drop_next_submit: bool,
    invalid_next_submit: Option<String>,
    stall_next_submit: bool,
}

struct State {
    md: Metadata,
    blocks: Vec<Block>,
    nonces: HashMap<[u8; 32], u32>,
    knobs: Knobs,
    submissions: Vec<Submission>,
    connections: usize,
    /// Registered (netuid, hotkey) pairs: applies to blocks produced from now on.
    registered: HashMap<(u16, [u8; 32]), u16>,
}

/// A running fake node; stops when dropped.
pub struct FakeNode {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn hex0x(b: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(b.as_ref()))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).ok()
}

impl FakeNode {
    /// Starts the node on 127.0.0.1 (a free port). Needs a tokio runtime.
    pub async fn start() -> std::io::Result<FakeNode> {
        let md = Metadata::decode_from(FINNEY_METADATA)
            .map_err(|e| std::io::Error::other(format!("finney.scale: {e}")))?;
        let mut state = State {
            md,
            blocks: Vec::new(),
            nonces: HashMap::new(),
            knobs: Knobs::default(),
            submissions: Vec::new(),
            connections: 0,
            registered: HashMap::new(),
        };
        for _ in 0..=INITIAL_BLOCKS {
            state.push_block(Vec::new(), HashMap::new());
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(state));
        let tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (st, tk) = (state.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                lock(&st).connections += 1;
                let h = tokio::spawn(serve_connection(stream, st.clone()));
                lock(&tk).push(h.abort_handle());
            }
        });
        lock(&tasks).push(accept.abort_handle());
        Ok(FakeNode { addr, state, tasks })
    }

    /// `ws://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Registers `hotkey` on `netuid` with `uid` (`SubtensorModule.Uids`), in a new block.
    pub fn register(&self, netuid: u16, hotkey: [u8; 32], uid: u16) {
        let mut st = lock(&self.state);
        st.registered.insert((netuid, hotkey), uid);
        let key = st.key("SubtensorModule", "Uids", (netuid, hotkey));
        st.push_block(Vec::new(), HashMap::from([(key, uid.encode())]));
    }

    /// Stores a commitment for `account` on `netuid` directly (as if committed earlier).
    pub fn preset_commitment(&self, netuid: u16, account: [u8; 32], text: &str) {
        let mut st = lock(&self.state);
        let info = Value::named_composite([(
            "fields",
            Value::unnamed_composite([Value::unnamed_variant(
                format!("Raw{}", text.len()),
                [Value::from_bytes(text.as_bytes())],
            )]),
        )]);
        let number = st.best_number() + 1;
        let (key, value) = st
            .commitment_entry(netuid, account, info, number)
            .expect("commitment encodes with the metadata types");
        st.push_block(Vec::new(), HashMap::from([(key, value)]));
    }

    /// The commitment text stored for `account` on `netuid`, if any (decoded from storage).
    pub fn commitment(&self, netuid: u16, account: [u8; 32]) -> Option<String> {
        let st = lock(&self.state);
        let key = st.key("Commitments", "CommitmentOf", (netuid, account));
        let bytes = st.blocks.last()?.storage.get(&key)?.clone();
        let ty = st.storage_value_ty("Commitments", "CommitmentOf");
        let v = scale_value::scale::decode_as_type(&mut &bytes[..], ty, st.md.types()).ok()?;
        let text: Vec<u8> = raw_bytes_of(&v)?;
        String::from_utf8(text).ok()
    }

    /// The next `author_submitAndWatchExtrinsic` closes the WebSocket connection instead of
    /// answering (nothing is stored).
    pub fn drop_next_submit(&self) {
        lock(&self.state).knobs.drop_next_submit = true;
    }

    /// The next `author_submitAndWatchExtrinsic` is answered with JSON-RPC error 1010 "Invalid
    /// Transaction" and `reason` as data (what a node says for e.g. a bad proof).
    pub fn invalid_next_submit(&self, reason: &str) {
        lock(&self.state).knobs.invalid_next_submit = Some(reason.to_string());
    }

    /// The next valid submission is included in a block but its watch never reports
    /// `finalized` (the client's finalization timeout fires; the commitment is on chain).
    pub fn stall_next_submit(&self) {
        lock(&self.state).knobs.stall_next_submit = true;
    }

    /// All submissions so far.
    pub fn submissions(&self) -> Vec<Submission> {
        lock(&self.state).submissions.clone()
    }

    /// WebSocket connections accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// The latest block number.
    pub fn best_number(&self) -> u64 {
        lock(&self.state).best_number()
    }

    /// `0x` hash of block `number`.
    pub fn block_hash(&self, number: u64) -> Option<String> {
        lock(&self.state)
            .blocks
            .get(number as usize)
            .map(|b| hex0x(b.hash))
    }

    /// Checks a raw extrinsic as the submit handler does, without applying it.
    pub fn check_extrinsic(&self, ext: &[u8]) -> Result<(), String> {
        lock(&self.state)
            .check_extrinsic(ext)
            .map(|_| ())
            .map_err(|(reason, _)| reason)
    }
}

/// The bytes of the first `Data::RawN` in a `Registration { info: { fields } }` value.
fn raw_bytes_of<T>(v: &Value<T>) -> Option<Vec<u8>> {
    use scale_value::{At, ValueDef};
    let mut cur = v.at("info")?.at("fields")?;
    loop {
        match &cur.value {
            ValueDef::Composite(c) => cur = c.values().next()?,
            ValueDef::Variant(var) => {
                var.name.strip_prefix("Raw")?;
                let inner = var.values.values().next()?;
                let ValueDef::Composite(bytes) = &inner.value else {
                    return None;
                };
                return bytes
                    .values()
                    .map(|b| b.as_u128().and_then(|b| u8::try_from(b).ok()))
                    .collect();
            }
            _ => return None,
        }
    }
}

/// A checked `Commitments.set_commitment` extrinsic.
struct Checked {
    signer: [u8; 32],
    nonce: u32,
    era_period: Option<u64>,
    netuid: u16,
    info: Value<()>,
}

/// Partial information when a check fails.
#[derive(Default)]
struct Partial {
    signer: Option<[u8; 32]>,
    nonce: Option<u32>,
    era_period: Option<u64>,
}

impl State {
    fn best_number(&self) -> u64 {
        (self.blocks.len() - 1) as u64
    }

    fn key(
        &self,
        pallet: &str,
        entry: &str,
        keys: impl frame_decode::storage::IntoEncodableValues,
    ) -> Vec<u8> {
        frame_decode::storage::encode_storage_key(pallet, entry, keys, &self.md, self.md.types())
            .expect("storage key encodes with the metadata")
    }

    fn storage_value_ty(&self, pallet: &str, entry: &str) -> u32 {
        self.md
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .map(|e| e.value_ty())
            .expect("storage entry exists in the metadata")
    }

    /// A `CommitmentOf` (key, value) for `info` set at block `block`.
    fn commitment_entry(
        &self,
        netuid: u16,
        account: [u8; 32],
        info: Value<()>,
        block: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let key = self.key("Commitments", "CommitmentOf", (netuid, account));
        let reg = Value::named_composite([
            ("deposit", Value::u128(0)),
            ("block", Value::u128(block.into())),
            ("info", info),
        ]);
        let ty = self.storage_value_ty("Commitments", "CommitmentOf");
        let value = reg
            .encode_as_type(ty, self.md.types())
            .map_err(|e| format!("cannot encode CommitmentOf: {e}"))?;
        Ok((key, value))
    }

    /// Appends a block with `body`, applying `changes` to the previous block's storage.
    fn push_block(&mut self, body: Vec<Vec<u8>>, changes: HashMap<Vec<u8>, Vec<u8>>) -> H256 {
        let (parent_hash, number, mut storage) = match self.blocks.last() {
            Some(b) => (b.hash, b.header.number + 1, b.storage.clone()),
            None => (H256::zero(), 0, HashMap::new()),
        };
        // Events are per block.
        let events_key = self.key("System", "Events", ());
        storage.remove(&events_key);
        storage.extend(changes);
        let extrinsics_root = BlakeTwo256.hash(&body.encode());
        let header = SubstrateHeader {
            parent_hash,
            number,
            state_root: BlakeTwo256.hash(&number.to_le_bytes()),
            extrinsics_root,
            digest: Digest::default(),
        };
        let hash = BlakeTwo256.hash(&header.encode());
        self.blocks.push(Block {
            header,
            hash,
            body,
            storage,
        });
        hash
    }

    fn block_by_hash(&self, h: Option<&Json>) -> Option<&Block> {
        match h.and_then(|h| h.as_str()) {
            None => self.blocks.last(),
            Some(s) => {
                let bytes = unhex(s)?;
                self.blocks
                    .iter()
                    .find(|b| b.hash.as_bytes() == bytes.as_slice())
            }
        }
    }

    fn header_json(b: &Block) -> Json {
        serde_json::to_value(&b.header).expect("header serializes")
    }

    fn runtime_call(&self, method: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        Ok(match method {
            "Core_version" => {
                // sp_version::RuntimeVersion
                let apis: Vec<([u8; 8], u32)> = Vec::new();
                (
                    "node-subtensor".to_string(),
                    "node-subtensor".to_string(),
                    1u32,
                    SPEC_VERSION,
                    1u32,
                    apis,
                    TX_VERSION,
                    1u8,
                )
                    .encode()
            }
            "Metadata_metadata_versions" => vec![14u32, 15, 16].encode(),
            "Metadata_metadata_at_version" => {
                let v = u32::decode(&mut &data[..]).map_err(|e| e.to_string())?;
                // Option<OpaqueMetadata>: the file holds V16 metadata.
                let m: Option<Vec<u8>> = (v == 16).then(|| FINNEY_METADATA.to_vec());
                m.encode()
            }
            "Metadata_metadata" => FINNEY_METADATA.to_vec().encode(),
            "AccountNonceApi_account_nonce" => {
                let who = <[u8; 32]>::decode(&mut &data[..]).map_err(|e| e.to_string())?;
                self.nonces.get(&who).copied().unwrap_or(0).encode()
            }
            other => {
                return Err(format!(
                    "runtime API {other} is not served by the fake node"
                ));
            }
        })
    }

    /// The pool's validity check plus the call check; see the module docs.
    fn check_extrinsic(&self, ext: &[u8]) -> Result<Checked, (String, Partial)> {
        let mut partial = Partial::default();
        let fail = |msg: String, p: &Partial| {
            Err((
                msg,
                Partial {
                    signer: p.signer,
                    nonce: p.nonce,
                    era_period: p.era_period,
                },
            ))
        };
        let md = &self.md;
        let info = match frame_decode::extrinsics::decode_extrinsic(&mut &ext[..], md, md.types()) {
            Ok(i) => i,
            Err(e) => return fail(format!("Could not decode extrinsic: {e}"), &partial),
        };
        if info.version() != 4 || !info.is_signed() {
            return fail(
                format!(
                    "expected a v4 signed extrinsic, got version {}",
                    info.version()
                ),
                &partial,
            );
        }
        let sig = info.signature_payload().expect("signed");
        let address = &ext[sig.address_range()];
        let signature = &ext[sig.signature_range()];
        // MultiAddress::Id(AccountId32) and MultiSignature::Sr25519([u8; 64]).
        let (Some((&0, signer)), Some((&1, signature))) =
            (address.split_first(), signature.split_first())
        else {
            return fail(
                "only MultiAddress::Id signers with sr25519 signatures are accepted".into(),
                &partial,
            );
        };
        let signer: [u8; 32] = signer
            .try_into()
            .map_err(|_| ("address is not 32 bytes".to_string(), Partial::default()))?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| ("signature is not 64 bytes".to_string(), Partial::default()))?;
        partial.signer = Some(signer);

        let exts = info.transaction_extension_payload().expect("signed");
        let ext_bytes = &ext[exts.range()];
        let best = self.best_number();
        let mut implicit = Vec::new();
        let mut nonce = None;
        for meta_ext in md
            .extrinsic()
            .transaction_extensions_by_version(0)
            .into_iter()
            .flatten()
        {
            let name = meta_ext.identifier();
            let value = exts
                .iter()
                .find(|e| e.name() == name)
                .map(|e| &ext[e.range()])
                .unwrap_or(&[]);
            match name {
                "CheckSpecVersion" => SPEC_VERSION.encode_to(&mut implicit),
                "CheckTxVersion" => TX_VERSION.encode_to(&mut implicit),
                "CheckGenesis" => implicit.extend_from_slice(self.blocks[0].hash.as_bytes()),
                "CheckMortality" => match decode_era(value) {
                    Err(e) => return fail(e, &partial),
                    Ok(None) => implicit.extend_from_slice(self.blocks[0].hash.as_bytes()),
                    Ok(Some((period, phase))) => {
                        partial.era_period = Some(period);
                        let birth = (best.max(phase) - phase) / period * period + phase;
                        if birth > best || best >= birth + period {
                            return fail("Transaction has an ancient birth block".into(), &partial);
                        }
                        implicit.extend_from_slice(self.blocks[birth as usize].hash.as_bytes());
                    }
                },
                "CheckNonce" => {
                    let n = Compact::<u32>::decode(&mut &value[..])
                        .map_err(|e| (format!("bad CheckNonce: {e}"), Partial::default()))?
                        .0;
                    nonce = Some(n);
                    partial.nonce = Some(n);
                }
                "CheckMetadataHash" => {
                    // mode 0 (disabled) → implicit Option<H256>::None.
                    if value != [0u8] {
                        return fail(
                            "CheckMetadataHash mode must be Disabled for the fake node".into(),
                            &partial,
                        );
                    }
                    implicit.push(0);
                }
                _ => {
                    let ty = meta_ext.additional_ty();
                    let empty = ().encode_as_type(ty, md.types()).is_ok();
                    if !empty {
                        return fail(
                            format!("extension {name} has implicit data the fake node lacks"),
                            &partial,
                        );
                    }
                }
            }
        }

        // The signer payload, built independently of the client: call ++ extensions ++ implicit.
        let mut payload = ext[info.call_data_range()].to_vec();
        payload.extend_from_slice(ext_bytes);
        payload.extend_from_slice(&implicit);
        if payload.len() > 256 {
            payload = BlakeTwo256.hash(&payload).as_bytes().to_vec();
        }
        let ok = subxt_signer::sr25519::verify(
            &subxt_signer::sr25519::Signature(signature),
            &payload,
            &subxt_signer::sr25519::PublicKey(signer),
        );
        if !ok {
            return fail("Transaction has a bad signature".into(), &partial);
        }

        let expected_nonce = self.nonces.get(&signer).copied().unwrap_or(0);
        let nonce =
            nonce.ok_or_else(|| ("no CheckNonce extension".to_string(), Partial::default()))?;
        if nonce < expected_nonce {
            return fail("Transaction is outdated".into(), &partial);
        }
        if nonce > expected_nonce {
            return fail("Transaction will be valid in the future".into(), &partial);
        }

        // The call: Commitments.set_commitment, indices from the metadata.
        let pallet = md
            .pallet_by_name("Commitments")
            .expect("Commitments pallet");
        let call = pallet
            .call_variant_by_name("set_commitment")
            .expect("set_commitment call");
        if info.pallet_index() != pallet.call_index() || info.call_index() != call.index {
            return fail(
                format!(
                    "the fake node only accepts Commitments.set_commitment, got {}.{}",
                    info.pallet_name(),
                    info.call_name()
                ),
                &partial,
            );
        }
        let mut netuid = None;
        let mut commit_info = None;
        for arg in info.call_data() {
            let bytes = &ext[arg.range()];
            match arg.name() {
                "netuid" => netuid = u16::decode(&mut &bytes[..]).ok(),
                "info" => {
                    commit_info =
                        scale_value::scale::decode_as_type(&mut &bytes[..], *arg.ty(), md.types())
                            .ok()
                            .map(|v| v.remove_context())
                }
                _ => {}
            }
        }
        let (Some(netuid), Some(commit_info)) = (netuid, commit_info) else {
            return fail("cannot decode set_commitment arguments".into(), &partial);
        };
        Ok(Checked {
            signer,
            nonce,
            era_period: partial.era_period,
            netuid,
            info: commit_info,
        })
    }

    /// Puts a checked extrinsic in a new block; returns (block number, hash, dispatch error).
    fn apply(&mut self, ext: Vec<u8>, c: Checked) -> (u64, H256, Option<String>) {
        let number = self.best_number() + 1;
        *self.nonces.entry(c.signer).or_insert(0) = c.nonce + 1;
        let mut changes = HashMap::new();
        let commitments = self.md.pallet_by_name("Commitments").expect("pallet");
        let error_index = commitments.error_index();
        let registered = self.registered.contains_key(&(c.netuid, c.signer));
        let dispatch_error =
            (!registered).then(|| "Commitments::AccountNotAllowedCommit".to_string());
        let dispatch_info = Value::named_composite([
            (
                "weight",
                Value::named_composite([
                    ("ref_time", Value::u128(1_000_000)),
                    ("proof_size", Value::u128(0)),
                ]),
            ),
            ("class", Value::unnamed_variant("Normal", [])),
            ("pays_fee", Value::unnamed_variant("Yes", [])),
        ]);
        let event = if registered {
            match self.commitment_entry(c.netuid, c.signer, c.info, number) {
                Ok((k, v)) => {
                    changes.insert(k, v);
                }
                Err(e) => panic!("{e}"),
            }
            Value::named_variant("ExtrinsicSuccess", [("dispatch_info", dispatch_info)])
        } else {
            let not_allowed = commitments
                .error_variants()
                .and_then(|vs| vs.iter().find(|v| v.name == "AccountNotAllowedCommit"))
                .map(|v| v.index)
                .expect("AccountNotAllowedCommit error");
            Value::named_variant(
                "ExtrinsicFailed",
                [
                    (
                        "dispatch_error",
                        Value::unnamed_variant(
                            "Module",
                            [Value::named_composite([
                                ("index", Value::u128(error_index.into())),
                                ("error", Value::from_bytes([not_allowed, 0, 0, 0])),
                            ])],
                        ),
                    ),
                    ("dispatch_info", dispatch_info),
                ],
            )
        };
        let record = Value::named_composite([
            (
                "phase",
                Value::unnamed_variant("ApplyExtrinsic", [Value::u128(0)]),
            ),
            ("event", Value::unnamed_variant("System", [event])),
            ("topics", Value::unnamed_composite([])),
        ]);
        let events = Value::unnamed_composite([record]);
        let ty = self.storage_value_ty("System", "Events");
        let encoded = events
            .encode_as_type(ty, self.md.types())
            .expect("events encode with the metadata types");
        changes.insert(self.key("System", "Events", ()), encoded);
        let hash = self.push_block(vec![ext], changes);
        (number, hash, dispatch_error)
    }
}

/// Decodes `sp_runtime::generic::Era`: `Ok(None)` immortal, `Ok(Some((period, phase)))` mortal.
fn decode_era(b: &[u8]) -> Result<Option<(u64, u64)>, String> {
    match b {
        [0] => Ok(None),
        [lo, hi] => {
            let encoded = u16::from_le_bytes([*lo, *hi]) as u64;
            let period = 2u64 << (encoded % (1 << 4));
            let quantize = (period >> 12).max(1);
            let phase = (encoded >> 4) * quantize;
            if period >= 4 && phase < period {
                Ok(Some((period, phase)))
            } else {
                Err("Invalid mortal era".into())
            }
        }
        _ => Err("Invalid era encoding".into()),
    }
}

type WsSender = soketto::connection::Sender<tokio_util::compat::Compat<TcpStream>>;

async fn send(sender: &mut WsSender, v: &Json) -> Result<(), soketto::connection::Error> {
    sender.send_text(v.to_string()).await?;
    sender.flush().await
}

async fn serve_connection(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut server = soketto::handshake::Server::new(stream.compat());
    let key = match server.receive_request().await {
        Ok(req) => req.key(),
        Err(_) => return,
    };
    let accept = soketto::handshake::server::Response::Accept {
        key,
        protocol: None,
    };
    if server.send_response(&accept).await.is_err() {
        return;
    }
    let mut builder = server.into_builder();
    builder.set_max_message_size(16 * 1024 * 1024);
    let (mut sender, mut receiver) = builder.finish();
    let mut next_sub = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if receiver.receive_data(&mut buf).await.is_err() {
            return;
        }
        let Ok(req) = serde_json::from_slice::<Json>(&buf) else {
            let _ = send(
                &mut sender,
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
            )
            .await;
            continue;
        };
        let id = req.get("id").cloned().unwrap_or(Json::Null);
        let method = req.get("method").and_then(|m| m.as_str()).unwrap_or("");
        let params = req
            .get("params")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();

        if method == "author_submitAndWatchExtrinsic" {
            next_sub += 1;
            let sub_id = format!("fake-sub-{next_sub}");
            match submit(&state, &params) {
                SubmitResult::Drop => return,
                SubmitResult::Error(e) => {
                    let _ = send(
                        &mut sender,
                        &json!({"jsonrpc": "2.0", "id": id, "error": e}),
                    )
                    .await;
                }
                SubmitResult::Included { hash, stall } => {
                    let notify = |result: Json| {
                        json!({"jsonrpc": "2.0", "method": "author_extrinsicUpdate",
                               "params": {"subscription": sub_id, "result": result}})
                    };
                    let h = hex0x(hash);
                    let mut msgs = vec![
                        json!({"jsonrpc": "2.0", "id": id, "result": sub_id}),
                        notify(json!("ready")),
                        notify(json!({"inBlock": h})),
                    ];
                    if !stall {
                        msgs.push(notify(json!({"finalized": h})));
                    }
                    for msg in msgs {
                        if send(&mut sender, &msg).await.is_err() {
                            return;
                        }
                    }
                }
            }
            continue;
        }

        let result = handle(&state, method, &params);
        let reply = match result {
            Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
            Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e}),
        };
        if send(&mut sender, &reply).await.is_err() {
            return;
        }
    }
}

enum SubmitResult {
    Drop,
    Error(Json),
    Included { hash: H256, stall: bool },
}

fn invalid(reason: &str) -> Json {
    json!({"code": 1010, "message": "Invalid Transaction", "data": reason})
}

fn submit(state: &Mutex<State>, params: &[Json]) -> SubmitResult {
    let mut st = lock(state);
    let record = |st: &mut State, outcome, p: Partial| {
        st.submissions.push(Submission {
            outcome,
            signer: p.signer,
            era_period: p.era_period,
            nonce: p.nonce,
        })
    };
    if std::mem::take(&mut st.knobs.drop_next_submit) {
        record(
            &mut st,
            SubmitOutcome::ConnectionDropped,
            Partial::default(),
        );
        return SubmitResult::Drop;
    }
    let Some(ext) = params.first().and_then(|p| p.as_str()).and_then(unhex) else {
        return SubmitResult::Error(json!({"code": -32602, "message": "Invalid params"}));
    };
    if let Some(reason) = st.knobs.invalid_next_submit.take() {
        record(
            &mut st,
            SubmitOutcome::Rejected(reason.clone()),
            Partial::default(),
        );
        return SubmitResult::Error(invalid(&reason));
    }
    match st.check_extrinsic(&ext) {
        Err((reason, p)) => {
            record(&mut st, SubmitOutcome::Rejected(reason.clone()), p);
            SubmitResult::Error(invalid(&reason))
        }
        Ok(c) => {
            let p = Partial {
                signer: Some(c.signer),
                nonce: Some(c.nonce),
                era_period: c.era_period,
            };
            let (block, hash, dispatch_error) = st.apply(ext, c);
            record(
                &mut st,
                SubmitOutcome::Included {
                    block,
                    dispatch_error,
                },
                p,
            );
            let stall = std::mem::take(&mut st.knobs.stall_next_submit);
            SubmitResult::Included { hash, stall }
        }
    }
}

fn rpc_error(code: i64, message: impl Into<String>) -> Json {
    json!({"code": code, "message": message.into()})
}

fn handle(state: &Mutex<State>, method: &str, params: &[Json]) -> Result<Json, Json> {
    let st = lock(state);
    let bad_params = || rpc_error(-32602, "Invalid params");
    match method {
        "chain_getBlockHash" => {
            let n = match params.first() {
                None | Some(Json::Null) => Some(st.best_number()),
                Some(Json::Number(n)) => n.as_u64(),
                Some(Json::String(s)) => {
                    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
                }
                Some(_) => None,
            }
            .ok_or_else(bad_params)?;
            Ok(st
                .blocks
                .get(n as usize)
                .map(|b| json!(hex0x(b.hash)))
                .unwrap_or(Json::Null))
        }
        "chain_getFinalizedHead" => Ok(json!(hex0x(st.blocks.last().expect("blocks").hash))),
        "chain_getHeader" => Ok(st
            .block_by_hash(params.first())
            .map(State::header_json)
            .unwrap_or(Json::Null)),
        "chain_getBlock" => Ok(st
            .block_by_hash(params.first())
            .map(|b| {
                json!({"block": {"header": State::header_json(b),
                        "extrinsics": b.body.iter().map(hex0x).collect::<Vec<_>>()},
                       "justifications": null})
            })
            .unwrap_or(Json::Null)),
        "state_call" => {
            let name = params
                .first()
                .and_then(|m| m.as_str())
                .ok_or_else(bad_params)?;
            let data = params
                .get(1)
                .and_then(|d| d.as_str())
                .and_then(unhex)
                .ok_or_else(bad_params)?;
            st.runtime_call(name, &data)
                .map(|r| json!(hex0x(r)))
                .map_err(|e| rpc_error(-32000, e))
        }
        "state_getStorage" => {
            let key = params
                .first()
                .and_then(|k| k.as_str())
                .and_then(unhex)
                .ok_or_else(bad_params)?;
            let block = st
                .block_by_hash(params.get(1))
                .ok_or_else(|| rpc_error(-32000, "unknown block"))?;
            Ok(block
                .storage
                .get(&key)
                .map(|v| json!(hex0x(v)))
                .unwrap_or(Json::Null))
        }
        "author_unwatchExtrinsic" => Ok(json!(true)),
        "system_chain" => Ok(json!("Bittensor (fake)")),
        "rpc_methods" => Ok(json!({"methods": [
            "chain_getBlockHash", "chain_getFinalizedHead", "chain_getHeader", "chain_getBlock",
            "state_call", "state_getStorage", "author_submitAndWatchExtrinsic",
            "author_unwatchExtrinsic"]})),
        _ => Err(rpc_error(-32601, "Method not found")),
    }
}
