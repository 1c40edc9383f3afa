"""gascli inference worker: runs a miner's model.py on batches sent by the Rust benchmark runner.

Started by gascli as a child process inside its sandbox (see crates/gas-bench/src/sandbox.rs:
namespaces, a minimal read-only file view with a tmpfs scratch, no capabilities, seccomp, Landlock,
rlimits). Its first act is to forbid execve for itself (the launcher's filter had to allow the one
that started Python). Protocol on stdin/stdout, little-endian, one message each way
per request:

    u32 header_len | header_len bytes of UTF-8 JSON | header["nbytes"] raw payload bytes (optional)

Requests:
    {"op": "load", "package_dir", "weights_path", "model_kwargs": {...}, "dtype", "modality", ...}
    {"op": "infer", "shape": [...], "dtype": "uint8" | "float32", "nbytes": N}  + N bytes
    {"op": "ping"}, {"op": "exit"}
Replies: {"ok": true, ...} (infer: "shape": [B, K], "nbytes", then float32 logits) or
         {"ok": false, "kind": "...", "error": "message"}; a module model.py needs and the venv
         lacks: kind "missing-module", error = the module's name (the parent writes the line).

As the network does (bench.md, "Labels and model outputs"): load_model(weights_path, **kwargs)
with every `model:` key but weights_file, and on TypeError once more with num_classes only; the
model moved to the config's dtype; forward under torch.no_grad(); the output unwrapped (.logits,
a dict's "logits" / "output" / only value, a one-element tuple or list); its last dimension 1, 2,
3 or num_classes. The reply holds one row of K float32 values per sample (the sample's output
flattened); the parent turns each row into the network's probabilities and call.
The payload is read straight into a preallocated buffer and wrapped with torch.frombuffer: no
per-pixel Python work. Anything the model prints goes to stderr (stdout is the protocol).
"""
import importlib.util
import json
import math
import os
import struct
import sys
import traceback


def _forbid_exec():
    """Second seccomp filter, stacked on the launcher's: execve/execveat fail with EPERM from now
    on (the launcher had to allow the one execve that started Python). Installed before torch or
    the model is imported; inside the sandbox (GASCLI_SANDBOX=1) the worker refuses to run
    without it."""
    import ctypes
    import platform

    arches = {"x86_64": (0xC000003E, (59, 322), True), "aarch64": (0xC00000B7, (221, 281), False)}
    arch, (execve, execveat), x32 = arches[platform.machine()]
    LD_ABS_W, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, EPERM, KILL = 0x7FFF0000, 0x00050001, 0x80000000
    prog = [
        (LD_ABS_W, 0, 0, 4),  # A = seccomp_data.arch
        (JEQ, 1, 0, arch),
        (RET, 0, 0, KILL),
        (LD_ABS_W, 0, 0, 0),  # A = seccomp_data.nr
        (JGE, 3, 0, 0x40000000) if x32 else (JEQ, 3, 0, 0xFFFFFFFF),  # x32 ABI: refuse all
        (JEQ, 2, 0, execve),
        (JEQ, 1, 0, execveat),
        (RET, 0, 0, ALLOW),
        (RET, 0, 0, EPERM),
    ]

    class Insn(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Insn))]

    insns = (Insn * len(prog))(*[Insn(*i) for i in prog])
    fprog = Prog(len(prog), insns)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, 2, ctypes.cast(ctypes.pointer(fprog), ctypes.c_void_p), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


if os.environ.get("GASCLI_SANDBOX") == "1":
    try:
        _forbid_exec()
    except Exception as e:  # noqa: BLE001 - any failure means no sandbox: refuse
        sys.stderr.write(f"sandbox: cannot forbid execve in the worker: {e}\n")
        sys.exit(125)

PROTO = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # model prints cannot corrupt the protocol
IN = os.fdopen(os.dup(sys.stdin.fileno()), "rb", buffering=0)

import torch  # noqa: E402  (after the fd shuffle, so torch's own prints go to stderr too)

torch.set_num_threads(max(1, int(os.environ.get("GASCLI_TORCH_THREADS", "0")) or torch.get_num_threads()))


def read_exact(n, buf=None):
    view = memoryview(buf) if buf is not None else memoryview(bytearray(n))
    got = 0
    while got < n:
        r = IN.readinto(view[got:n])
        if not r:
            raise EOFError("runner closed the pipe")
        got += r
    return view.obj


def send(header, payload=b""):
    h = json.dumps(header).encode()
    PROTO.write(struct.pack("<I", len(h)) + h)
    if payload:
        PROTO.write(payload)


def fail(kind, msg):
    send({"ok": False, "kind": kind, "error": msg})


class State:
    model = None
    num_classes = 2
    name = "model"
    device = "cpu"
    buf = bytearray(0)
    pinned = None  # with CUDA: the page-locked host buffer batches are read into


def input_buffer(n):
    """Where a batch's payload is read: a reused bytearray, or with CUDA a reused page-locked
    (pinned) host tensor, so the host-to-device copy is one DMA straight from the bytes the pipe
    delivered (no staging through pageable memory) and may run asynchronously."""
    if State.device == "cuda":
        if State.pinned is None or State.pinned.numel() < n:
            State.pinned = None
            State.pinned = torch.empty(max(n, 1), dtype=torch.uint8).pin_memory()
        return State.pinned.numpy()
    if len(State.buf) < n:
        State.buf = bytearray(n)
    return State.buf


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def call_load_model(fn, weights_path, kwargs):
    """The network's call: all `model:` keys as keyword arguments; on TypeError, num_classes only.
    Returns (model, the TypeError's text when the fallback was taken)."""
    try:
        return fn(weights_path, **kwargs), None
    except TypeError as e:
        return fn(weights_path, num_classes=kwargs.get("num_classes", 2)), f"{e}"


def load(req):
    pkg = req["package_dir"]
    path = os.path.join(pkg, "model.py")
    try:
        spec = importlib.util.spec_from_file_location("gas_miner_model", path)
        mod = importlib.util.module_from_spec(spec)
        sys.path.insert(0, pkg)
        spec.loader.exec_module(mod)
        fn = getattr(mod, "load_model", None)
        if not callable(fn):
            return fail("load", f"{path}: no callable load_model(weights_path, num_classes)")
        kwargs = dict(req.get("model_kwargs") or {"num_classes": req.get("num_classes", 2)})
        model, fallback = call_load_model(fn, req["weights_path"], kwargs)
    except ModuleNotFoundError as e:
        traceback.print_exc(file=sys.stderr)
        return fail("missing-module", e.name or str(e))
    if not isinstance(model, torch.nn.Module):
        return fail("load", f"load_model returned {type(model).__name__}, expected a torch.nn.Module")
    State.device = req.get("device", "cpu")
    if State.device == "cuda" and not torch.cuda.is_available():
        return fail("load", "--device cuda asked for, but torch sees no CUDA device")
    dtype = DTYPES[req.get("dtype") or "float32"]
    State.model = model.to(device=State.device, dtype=dtype).eval()
    State.num_classes = int(kwargs.get("num_classes", 2))
    State.name = req.get("name", "model")
    send({"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
          "kwargs": sorted(kwargs) if fallback is None else ["num_classes"],
          "load_fallback": fallback, "dtype": str(dtype).replace("torch.", "")})


def unwrap(out):
    """The model's output as the network's worker unwraps it, or a ValueError saying why not."""
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, dict):
        if "logits" in out:
            return out["logits"]
        if "output" in out:
            return out["output"]
        if len(out) == 1:
            return next(iter(out.values()))
        raise ValueError(f"forward returned a dict with keys {sorted(map(str, out))} and no "
                         f"'logits' or 'output' key; return the logits tensor or key it 'logits'")
    if isinstance(out, (tuple, list)):
        if len(out) == 1:
            return out[0]
        raise ValueError(f"forward returned a {type(out).__name__} of {len(out)} items; return "
                         f"the logits tensor (a one-element tuple is unwrapped)")
    return out


def infer(req):
    n = int(req["nbytes"])
    buf = input_buffer(n)
    read_exact(n, buf)
    if State.model is None:
        return fail("protocol", "infer before load")
    dtype = {"uint8": torch.uint8, "float32": torch.float32}[req["dtype"]]
    shape = [int(s) for s in req["shape"]]
    if State.device == "cuda":  # input_buffer read it into State.pinned
        # Non-blocking: the copy overlaps the launch of the forward pass; reusing the buffer for
        # the next batch is safe, as the logits' copy back below waits for the whole stream.
        host = State.pinned[: math.prod(shape) * (1 if dtype == torch.uint8 else 4)]
        x = host.view(dtype).reshape(shape).to(State.device, non_blocking=True)
    else:
        x = torch.frombuffer(buf, dtype=dtype, count=math.prod(shape)).reshape(shape)
    with torch.no_grad():
        out = State.model(x.to(State.device))
    b = shape[0]
    where = f"{State.name}: batch {req.get('batch', '?')}"
    want = f"[{b}, {State.num_classes}] logits (last dimension 1, 2, 3 or num_classes)"
    try:
        out = unwrap(out)
    except ValueError as e:
        return fail("output", f"{where}: {e}")
    if not isinstance(out, torch.Tensor):
        return fail("output", f"{where}: forward returned {type(out).__name__}, expected a tensor {want}")
    if out.dim() == 0 or out.shape[-1] not in (1, 2, 3, State.num_classes):
        return fail("output", f"{where}: output shape {list(out.shape)}, expected {want}")
    if out.shape[0] != b:
        return fail("output", f"{where}: output has {out.shape[0]} rows for a batch of {b} samples, expected {want}")
    if out.is_complex():
        return fail("output", f"{where}: output dtype {out.dtype}, expected real logits")
    out = out.detach().to("cpu").to(torch.float32).reshape(b, -1).contiguous()
    send({"ok": True, "shape": list(out.shape), "nbytes": out.numel() * 4}, out.numpy().tobytes())


def main():
    while True:
        try:
            (hlen,) = struct.unpack("<I", read_exact(4))
            req = json.loads(bytes(read_exact(hlen)))
        except EOFError:
            return 0
        op = req.get("op")
        try:
            if op == "load":
                load(req)
            elif op == "infer":
                infer(req)
            elif op == "ping":
                send({"ok": True})
            elif op == "exit":
                send({"ok": True})
                return 0
            else:
                fail("protocol", f"unknown op {op!r}")
        except MemoryError:
            fail("memory", f"{State.name}: out of memory (the sandbox's memory limit)")
        except Exception as e:  # the model's own errors: report, keep serving
            traceback.print_exc(file=sys.stderr)
            fail("exception", f"{type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main())
