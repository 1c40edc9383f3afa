"""Reference side of the wallet compatibility test (bittensor-wallet).

Usage:
  wallet_compat.py create ROOT NAME HOTKEY          -> prints the hotkey's SS58 address
  wallet_compat.py verify SS58 MESSAGE SIGNATURE_HEX -> exit 0 if valid, 1 if not
  wallet_compat.py sign ROOT NAME HOTKEY MESSAGE    -> prints 0x-hex signature
"""
import sys

import bittensor_wallet as bw


def main() -> int:
    cmd = sys.argv[1]
    if cmd == "create":
        root, name, hotkey = sys.argv[2:5]
        w = bw.Wallet(name=name, hotkey=hotkey, path=root)
        w.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
        print(w.hotkey.ss58_address)
        return 0
    if cmd == "verify":
        ss58, message, sig = sys.argv[2:5]
        kp = bw.Keypair(ss58_address=ss58)
        sig_bytes = bytes.fromhex(sig[2:] if sig.startswith("0x") else sig)
        ok = kp.verify(message.encode(), sig_bytes)
        print("valid" if ok else "invalid")
        return 0 if ok else 1
    if cmd == "sign":
        root, name, hotkey, message = sys.argv[2:6]
        w = bw.Wallet(name=name, hotkey=hotkey, path=root)
        print("0x" + w.hotkey.sign(message.encode()).hex())
        return 0
    print(f"unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
