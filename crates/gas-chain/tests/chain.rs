//! The chain client against the fake subtensor node (real finney runtime metadata, sr25519
//! signature verification, storage encoded with the metadata's types); all on 127.0.0.1.

use std::time::Duration;

use gas_chain::Hotkey;
use gas_chain::chain::{ChainClient, ChainError, ChainRetry, ChainTimeouts, MORTAL_PERIOD};
use gas_chain::commitment::commitment_string;
use gas_chain::testing::{FakeNode, SubmitOutcome};

const NETUID: u16 = 34;

fn hotkey(n: u8) -> Hotkey {
    Hotkey::from_seed([n; 32])
}

fn commitment_for(hk: &Hotkey, key: &str) -> String {
    commitment_string(key, &"ab".repeat(32), hk.ss58()).unwrap()
}

fn fast_retry(max_retries: u32) -> ChainRetry {
    ChainRetry {
        max_retries,
        retry_delay: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn registered_hotkey_commits_reads_back_and_overwrites() {
    let node = FakeNode::start().await.unwrap();
    let hk = hotkey(1);
    let pk = hk.public_key();
    node.register(NETUID, pk, 7);
    let client = ChainClient::connect(&node.url()).await.unwrap();

    assert_eq!(client.uid(NETUID, &pk).await.unwrap(), Some(7));
    assert!(client.is_registered(NETUID, &pk).await.unwrap());
    assert!(!client.is_registered(NETUID + 1, &pk).await.unwrap());
    assert_eq!(client.read_commitment(NETUID, &pk).await.unwrap(), None);

    let c1 = commitment_for(&hk, "models/first.zip");
    let committed = client
        .set_commitment(NETUID, &c1, hk.keypair())
        .await
        .unwrap();
    assert_eq!(committed.block_number, node.best_number());
    assert_eq!(
        Some(committed.block_hash.clone()),
        node.block_hash(committed.block_number)
    );
    assert!(committed.extrinsic_hash.starts_with("0x") && committed.extrinsic_hash.len() == 66);

    // What the node stored (decoded with the metadata types) and what the client reads back.
    assert_eq!(node.commitment(NETUID, pk).as_deref(), Some(c1.as_str()));
    let back = client.read_commitment(NETUID, &pk).await.unwrap().unwrap();
    assert_eq!(back.text, c1);
    assert_eq!(back.block, committed.block_number);

    let subs = node.submissions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].signer, Some(pk));
    assert_eq!(subs[0].era_period, Some(MORTAL_PERIOD));
    assert_eq!(subs[0].nonce, Some(0));

    // A second commit overwrites the slot; the nonce comes from the chain.
    let c2 = commitment_for(&hk, "models/second.zip");
    let committed2 = client
        .set_commitment(NETUID, &c2, hk.keypair())
        .await
        .unwrap();
    assert!(committed2.block_number > committed.block_number);
    assert_eq!(node.submissions()[1].nonce, Some(1));
    let back = client.read_commitment(NETUID, &pk).await.unwrap().unwrap();
    assert_eq!(back.text, c2);
}

#[tokio::test]
async fn unregistered_hotkey_is_reported_and_commit_fails_permanently() {
    let node = FakeNode::start().await.unwrap();
    let hk = hotkey(2);
    let pk = hk.public_key();
    // Registered elsewhere only: the check must look at the right subnet.
    node.register(NETUID + 1, pk, 3);
    let mut client = ChainClient::connect(&node.url()).await.unwrap();
    assert_eq!(client.uid(NETUID, &pk).await.unwrap(), None);
    assert!(!client.is_registered(NETUID, &pk).await.unwrap());

    // Committing anyway: the runtime's dispatch error, by name, and no retry.
    let mut retries = 0;
    let err = client
        .commit_with_retries(
            NETUID,
            &commitment_for(&hk, "m.zip"),
            hk.keypair(),
            fast_retry(3),
            |_, _, _| retries += 1,
        )
        .await
        .unwrap_err();
    match &err {
        ChainError::Dispatch { error } => {
            assert!(error.contains("AccountNotAllowedCommit"), "{error}")
        }
        other => panic!("expected a dispatch error, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(retries, 0);
    assert_eq!(node.commitment(NETUID, pk), None);
}

#[tokio::test]
async fn invalid_transaction_is_permanent_with_the_nodes_reason() {
    let node = FakeNode::start().await.unwrap();
    let hk = hotkey(3);
    node.register(NETUID, hk.public_key(), 1);
    node.invalid_next_submit("Transaction has a bad signature");
    let mut client = ChainClient::connect(&node.url()).await.unwrap();
    let mut retries = 0;
    let err = client
        .commit_with_retries(
            NETUID,
            &commitment_for(&hk, "m.zip"),
            hk.keypair(),
            fast_retry(3),
            |_, _, _| retries += 1,
        )
        .await
        .unwrap_err();
    match &err {
        ChainError::InvalidTransaction { reason } => {
            assert!(reason.contains("bad signature"), "{reason}");
            assert!(reason.contains("1010"), "{reason}");
        }
        other => panic!("expected an invalid-transaction error, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(retries, 0);
    assert_eq!(node.submissions().len(), 1);
    assert_eq!(node.commitment(NETUID, hk.public_key()), None);
}

#[tokio::test]
async fn dropped_connection_is_transient_and_retried() {
    let node = FakeNode::start().await.unwrap();
    let hk = hotkey(4);
    let pk = hk.public_key();
    node.register(NETUID, pk, 2);
    let c = commitment_for(&hk, "models/retry.zip");

    // One attempt: the error is transient.
    node.drop_next_submit();
    let client = ChainClient::connect(&node.url()).await.unwrap();
    let err = client
        .set_commitment(NETUID, &c, hk.keypair())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    // No retries allowed: the transient error comes back.
    node.drop_next_submit();
    let mut client = ChainClient::connect(&node.url()).await.unwrap();
    let err = client
        .commit_with_retries(NETUID, &c, hk.keypair(), fast_retry(0), |_, _, _| {})
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    // With retries: reconnects and succeeds on the second attempt.
    node.drop_next_submit();
    let connections_before = node.connections();
    let mut client = ChainClient::connect(&node.url()).await.unwrap();
    let mut seen = Vec::new();
    let committed = client
        .commit_with_retries(
            NETUID,
            &c,
            hk.keypair(),
            fast_retry(2),
            |attempt, e, delay| seen.push((attempt, e.is_transient(), delay)),
        )
        .await
        .unwrap();
    assert_eq!(seen, vec![(1, true, Duration::from_millis(5))]);
    assert_eq!(node.connections(), connections_before + 2);
    assert_eq!(node.commitment(NETUID, pk).as_deref(), Some(c.as_str()));
    assert_eq!(
        client
            .read_commitment(NETUID, &pk)
            .await
            .unwrap()
            .unwrap()
            .block,
        committed.block_number
    );
    let outcomes: Vec<_> = node.submissions().into_iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes.len(), 4);
    assert!(
        outcomes[..3]
            .iter()
            .all(|o| *o == SubmitOutcome::ConnectionDropped)
    );
    assert!(matches!(
        outcomes[3],
        SubmitOutcome::Included {
            dispatch_error: None,
            ..
        }
    ));
}

#[tokio::test]
async fn connect_failure_is_transient_and_bad_urls_are_not() {
    // A port nobody listens on (bound, then released).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = ChainClient::connect(&format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
    let err = ChainClient::connect("http://127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::BadUrl { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn fake_node_verifies_signatures() {
    let node = FakeNode::start().await.unwrap();
    let hk = hotkey(5);
    node.register(NETUID, hk.public_key(), 4);
    let client = ChainClient::connect(&node.url()).await.unwrap();
    let c = commitment_for(&hk, "models/signed.zip");
    let ext = client
        .signed_commitment_extrinsic(NETUID, &c, hk.keypair())
        .await
        .unwrap();
    assert_eq!(node.check_extrinsic(&ext), Ok(()));

    // Tampered call data: one byte of the commitment text changed.
    let pos = ext
        .windows(c.len())
        .position(|w| w == c.as_bytes())
        .expect("commitment bytes in the extrinsic");
    let mut tampered = ext.clone();
    tampered[pos + 3] ^= 0x01;
    assert_eq!(
        node.check_extrinsic(&tampered),
        Err("Transaction has a bad signature".to_string())
    );

    // Right payload, signed by another key but claiming the registered hotkey as signer.
    let other = hotkey(6);
    let forged = client
        .signed_commitment_extrinsic(NETUID, &c, other.keypair())
        .await
        .unwrap();
    let signer_pos = forged
        .windows(32)
        .position(|w| w == other.public_key())
        .expect("signer in the extrinsic");
    let mut forged = forged;
    forged[signer_pos..signer_pos + 32].copy_from_slice(&hk.public_key());
    assert_eq!(
        node.check_extrinsic(&forged),
        Err("Transaction has a bad signature".to_string())
    );

    // Nothing was applied by the checks.
    assert!(node.submissions().is_empty());
    assert_eq!(node.commitment(NETUID, hk.public_key()), None);
}

#[tokio::test]
async fn finalization_timeout_is_transient_and_a_landed_commit_is_not_resubmitted() {
    let node = FakeNode::start().await.unwrap();
    let hk = hotkey(7);
    let pk = hk.public_key();
    node.register(NETUID, pk, 9);
    let c = commitment_for(&hk, "models/stalled.zip");
    let timeouts = ChainTimeouts {
        finalize: Duration::from_millis(300),
        ..ChainTimeouts::default()
    };
    let mut client = ChainClient::connect_with(&node.url(), timeouts)
        .await
        .unwrap();
    node.stall_next_submit();
    let mut seen = Vec::new();
    let committed = client
        .commit_with_retries(NETUID, &c, hk.keypair(), fast_retry(2), |attempt, e, _| {
            seen.push((attempt, e.to_string()))
        })
        .await
        .unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].1.contains("not finalized within"), "{seen:?}");
    // The stalled transaction had landed: found on chain, not submitted again.
    let subs = node.submissions();
    assert_eq!(subs.len(), 1);
    let SubmitOutcome::Included { block, .. } = subs[0].outcome else {
        panic!("{:?}", subs[0].outcome)
    };
    assert_eq!(committed.block_number, block);
    assert_eq!(Some(committed.block_hash), node.block_hash(block));
    assert!(committed.extrinsic_hash.is_empty());
    assert_eq!(node.commitment(NETUID, pk).as_deref(), Some(c.as_str()));
}
