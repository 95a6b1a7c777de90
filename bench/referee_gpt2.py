"""The referee at GPT-2's shapes: what one batch of logits costs the harness before and after the logits
exchange (scoring/logits.py), with a stand-in model whose forward costs next to nothing, so that the
harness's own work shows on a CPU; and the training batches' round trip.

    python bench/referee_gpt2.py [--smoke] [--json PATH]

Shapes (B x T x V): nanoGPT's GPT-2 (12 x 1024 x 50,304), the same at T=256, and the built-in task's
(its frozen block's BATCH_SIZE, BLOCK_SIZE, VOCAB_SIZE, run as the harness runs it). An evaluation is the
built-in task's EVAL_ITERS batches (monitoring) or the final plan's batches (fitness, test and probe rows,
scoring/plan.py) at every shape.

After (main today): `logits.fetch` against `logits.answer`, over a socket.socketpair, the answering side in
a thread of this process. A monitoring batch goes through the frozen estimate_loss's own call
(F.cross_entropy on scoring.remote's Logits: the targets, K=1); a final batch asks for plan.Reader's ids
(K = 3 + 256 probe columns, 3 + V below 256) and is read by Reader.add.
Before (the previous protocol, emulated): the answering side sends the batch's whole float32 logits
(B, T, V) as one array with wire.send; the referee wire.recv's it (an array above wire.MAX_ARRAY_BYTES is
refused: a task at GPT-2's T=1024 was an integrity_violation), converts it to float64
(torch.from_numpy(a.astype(np.float64))) and runs, for a monitoring batch, the frozen
F.cross_entropy(logits.reshape(-1, V).float(), y), for a final batch torch.log_softmax(logits.double(), -1)
and takes the target column. At T=1024 it is also run with the cap lifted (labelled) when this machine
has the memory (MIN_FREE_FOR_LIFTED).
The stand-in model: logits = a fixed (V,) float32 vector plus a per-token scalar from an embedding,
materialized: one write of the logits. Its time is measured and left out of the harness's.

Measured:
- bytes: every byte each side writes on its socket (headers included), for one batch; an evaluation is
  that times its batches.
- seconds per batch: the referee's call, wall time, median of REPEATS, before and after interleaved.
  "harness" is that minus the stand-in's forward. Each side's busy time is the wall time minus the time
  it was blocked reading a message's first 4 bytes (waiting for the other side); a transfer counts on both
  sides. Both sides share this process's 2 cores and torch's default threads (the real referee uses 1).
- peak memory: each side in its own process (the two over a socketpair), one batch: VmHWM from
  /proc/self/status, the high-water mark reset (/proc/self/clear_refs) after setup, so the peak RSS during
  the batch (imports and setup included, as they stay resident); and the RSS after setup.
- the training batch: get_batch as the frozen block's (np.memmap windows stacked, int64, on a token file
  in the page cache), and its round trip as the harness does it (a `batch` request, get_batch, wire.send of
  x and y, wire.recv), medians in microseconds.
- the ratio to a GPU: harness seconds per batch over the published GPT-2 124M figures below.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scoring import logits, wire  # noqa: E402
from scoring import plan as planning  # noqa: E402
from scoring.remote import RemoteModel  # noqa: E402

# GPT-2 124M on one A100 at batch 12 x 1024 tokens, from published training runs (seconds):
# - nanoGPT (github.com/karpathy/nanoGPT, README): train.py "reproduces GPT-2 (124M) on OpenWebText, running
#   on a single 8XA100 40GB node in about 4 days"; config/train_gpt2.py: max_iters = 600000 of
#   "12 batch size * 1024 block size * 5 gradaccum * 8 GPUs = 491,520" tokens. 4 x 86,400 s / 600,000 =
#   0.576 s an iteration = 5 micro-steps of 12 x 1024 on each GPU: 0.115 s a forward + backward (its share
#   of the optimizer and all-reduce included); the forward is ~1/3 of it (backward ~2x the forward's FLOPs).
# - llm.c (github.com/karpathy/llm.c/discussions/481, "Reproducing GPT-2 (124M) in llm.c in 90 minutes for
#   $20"): 10B tokens on one 8X A100 80GB SXM node in ~90 minutes: 10e9 / 5,400 s / 8 = 231k tokens/s a
#   GPU, 12,288 tokens in 0.053 s forward + backward, the forward ~1/3 of it.
NANOGPT_STEP = 4 * 86_400 / 600_000 / 5
LLMC_STEP = 12 * 1024 / (10e9 / (90 * 60) / 8)
GPU_FORWARD = {"nanoGPT, A100 40GB": NANOGPT_STEP / 3, "llm.c, A100 80GB": LLMC_STEP / 3}
REPEATS = 5  # the machine may be shared: medians, and the least (the closest to an idle machine)
MIN_FREE_FOR_LIFTED = 16 << 30  # bytes available before the T=1024 `before` runs with the cap lifted (~12 GB)


# ---- the stand-in model and the two answering sides ----

class StandIn:
    """logits[b, t] = base + scale[x[b, t]]: (R, T, V) float32, written once."""

    def __init__(self, V: int):
        g = torch.Generator().manual_seed(0)
        self.base, self.scale = torch.randn(V, generator=g), torch.randn(V, generator=g)
        self.seconds = 0.0

    def __call__(self, x: np.ndarray) -> torch.Tensor:
        t = time.perf_counter()
        out = self.base + self.scale[torch.from_numpy(x)][..., None]
        self.seconds += time.perf_counter() - t
        return out


def serve(sock, model: StandIn, proto: str) -> None:
    """Answer `forward` messages until anything else (or the end of the channel)."""
    try:
        while True:
            header, arrays = wire.recv(sock)
            if header["kind"] != "forward":
                return
            if proto == "after":
                logits.answer(sock, header, arrays[0], model(arrays[0]))
            else:
                wire.send(sock, "logits", (model(arrays[0]).numpy(),))
    except (wire.Closed, OSError):
        pass


class Counted:
    """A socket that counts the bytes written to it (all wire.send and wire.recv use)."""

    def __init__(self, sock: socket.socket):
        self.sock, self.sent = sock, 0

    def sendall(self, data) -> None:
        self.sent += memoryview(data).nbytes
        self.sock.sendall(data)

    def recv_into(self, *args) -> int:
        return self.sock.recv_into(*args)


# ---- the referee's side ----

class Source:
    """What scoring.remote's Logits asks (the referee's `at` / `whole`), through logits.fetch."""

    def __init__(self, sock, V: int, rng: np.random.Generator):
        self.sock, self.V, self.rng = sock, V, rng

    def at(self, x, ids):
        got = logits.fetch(self.sock, x, self.V, ids, self.rng)
        return got.lse, got.values

    def whole(self, x):
        return logits.fetch(self.sock, x, self.V, None, self.rng).values


def _whole_before(sock) -> torch.Tensor:
    _, (a,) = wire.recv(sock)
    return torch.from_numpy(a.astype(np.float64))  # the float32 buffer is freed on return


def ask(sock, proto: str, kind: str, x: np.ndarray, y: np.ndarray, V: int, reader, rng) -> float:
    """One batch as the referee reads it; returns the batch's mean loss."""
    yt = torch.from_numpy(y)
    if proto == "after" and kind == "monitor":
        out = RemoteModel(Source(sock, V, rng), V)(torch.from_numpy(x))
        return F.cross_entropy(out.reshape(-1, out.size(-1)).float(), yt.reshape(-1)).item()
    if proto == "after":
        got = logits.fetch(sock, x, V, reader.ids(0, len(x)), rng)
        reader.add(0, got.lse, got.values)
        return float(reader.nll[: len(x)].mean())
    wire.send(sock, "forward", (x,), vocab=V)
    z = _whole_before(sock)
    if kind == "monitor":
        return F.cross_entropy(z.reshape(-1, z.size(-1)).float(), yt.reshape(-1)).item()
    logp = torch.log_softmax(z.double(), -1)
    del z
    return float(-logp.gather(-1, yt[..., None]).mean())


def inputs(B: int, T: int, V: int, eval_iters: int):
    """x, y of one batch and a Reader over the final plan (on random tokens) whose first batch is x."""
    rng = np.random.default_rng(0)
    p = planning.build(*(rng.integers(0, V, 4 * eval_iters * B * (T + 1)) for _ in range(2)), T, B, eval_iters)
    return p.x[:B], p.y[:B], planning.Reader(p, V, secret=1)


def final_batches(B: int, eval_iters: int) -> int:
    n = eval_iters * B
    return (2 * n + 2 * planning.probes_per_side(n, B)) // B


# ---- timing, in this process ----

WAITS: dict[int, list] = defaultdict(list)  # thread -> (start, end) blocked reading a message's first bytes
PENDING: dict[int, float] = {}
_read = wire._read


def _timed_read(sock, n: int):
    if n != 4:
        return _read(sock, n)
    me = threading.get_ident()
    PENDING[me] = time.perf_counter()
    try:
        return _read(sock, n)
    finally:
        WAITS[me].append((PENDING.pop(me), time.perf_counter()))


def waited(ident: int, t0: float, t1: float) -> float:
    spans = WAITS[ident] + ([(PENDING[ident], t1)] if ident in PENDING else [])
    return sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in spans)


class Pair:
    """A referee socket and an answering thread over a socketpair."""

    def __init__(self, V: int, proto: str):
        self.model, (ref, cand) = StandIn(V), socket.socketpair()
        self.ref, self.cand = Counted(ref), Counted(cand)
        self.thread = threading.Thread(target=serve, args=(self.cand, self.model, proto), daemon=True)
        self.thread.start()

    def batch(self, proto, kind, x, y, V, reader, rng) -> dict:
        while self.thread.ident not in PENDING:  # the answering side is waiting for its next batch
            time.sleep(1e-4)
        sent0, got0, fwd0 = self.ref.sent, self.cand.sent, self.model.seconds
        t0 = time.perf_counter()
        ask(self.ref, proto, kind, x, y, V, reader, rng)
        t1 = time.perf_counter()
        while self.thread.ident not in PENDING:
            time.sleep(1e-4)
        forward = self.model.seconds - fwd0
        return {"to_model": self.ref.sent - sent0, "to_referee": self.cand.sent - got0, "wall": t1 - t0,
                "forward": forward, "harness": t1 - t0 - forward,
                "referee_busy": t1 - t0 - waited(threading.get_ident(), t0, t1),
                "answer_busy": t1 - t0 - waited(self.thread.ident, t0, t1) - forward}

    def close(self):
        self.ref.sock.close()
        self.thread.join(30)
        self.cand.sock.close()


# ---- peak memory, each side in its own process ----

def _status() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", text).group(1)) << 10 for k in ("VmRSS", "VmHWM")}


def child(spec: dict, fd: int) -> None:
    """One side of one batch in this process: prints its RSS after setup and its peak during the batch."""
    sock, (B, T, V) = socket.socket(fileno=fd), spec["shape"]
    if spec["lift"]:
        wire.MAX_ARRAY_BYTES = 1 << 40
    if spec["side"] == "referee":
        x, y, reader = inputs(B, T, V, spec["eval_iters"])
        rng = logits.audit_rng(1)
    else:
        model = StandIn(V)
    after_setup = _status()["VmRSS"]
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    if spec["side"] == "referee":
        ask(sock, spec["proto"], spec["kind"], x, y, V, reader, rng)
        wire.send(sock, "end")
    else:
        serve(sock, model, spec["proto"])
    print(json.dumps({"setup": after_setup, "peak": _status()["VmHWM"]}))


def peaks(proto: str, kind: str, shape: tuple, eval_iters: int, lift: bool) -> dict:
    ref, cand = socket.socketpair()
    procs = {}
    for side, s in (("referee", ref), ("answer", cand)):
        spec = {"side": side, "proto": proto, "kind": kind, "shape": shape, "eval_iters": eval_iters, "lift": lift}
        procs[side] = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec), "--fd",
                                        str(s.fileno())], pass_fds=(s.fileno(),), stdout=subprocess.PIPE, text=True)
    ref.close()
    cand.close()
    out = {}
    for side, p in procs.items():
        text, _ = p.communicate()
        if p.returncode != 0:
            sys.exit(f"the {side} process of {proto} {kind} {shape} failed ({p.returncode})")
        out[side] = json.loads(text.strip().splitlines()[-1])
    return out


# ---- the training batch ----

def training_round_trip(B: int, T: int, V: int, n: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "train.bin")
        np.random.default_rng(0).integers(0, V, 4_000_000).astype(np.uint16).tofile(path)
        data, rng = np.memmap(path, dtype=np.uint16, mode="r"), np.random.default_rng(1337)

        def get_batch():  # the frozen block's, on the CPU
            offsets = rng.integers(0, len(data) - T - 1, B)
            x = np.stack([data[i : i + T] for i in offsets]).astype(np.int64)
            y = np.stack([data[i + 1 : i + 1 + T] for i in offsets]).astype(np.int64)
            return torch.from_numpy(x), torch.from_numpy(y)

        def referee(sock):
            while wire.recv(sock)[0]["kind"] == "batch":
                x, y = get_batch()
                wire.send(sock, "batch", (x.cpu().numpy(), y.cpu().numpy()))

        alone = []
        for _ in range(n):
            t = time.perf_counter()
            get_batch()
            alone.append(time.perf_counter() - t)
        ref, cand = socket.socketpair()
        counted = Counted(ref)
        thread = threading.Thread(target=referee, args=(counted,), daemon=True)
        thread.start()
        trips = []
        for _ in range(n):
            t = time.perf_counter()
            wire.send(cand, "batch")
            wire.recv(cand)
            trips.append(time.perf_counter() - t)
        wire.send(cand, "end")
        thread.join(10)
        ref.close()
        cand.close()
    return {"bytes": counted.sent // n, "get_batch": statistics.median(alone), "round_trip": statistics.median(trips)}


# ---- the run ----

def builtin_shape() -> tuple[tuple[int, int, int], int]:
    """(B, T, V) and EVAL_ITERS of the built-in task, from its frozen block run as the harness runs it."""
    from scoring import data, guard
    from scoring.task import builtin_task_dir, load_task
    from scoring.task_check import run_frozen_block

    task = load_task(builtin_task_dir())
    text = task.seed_files[task.frozen.file]
    first, last = guard.frozen_region(text, task)
    block = "\n".join(text.splitlines()[first - 1 : last])
    v = run_frozen_block(task, block, data.dataset(task.dataset))["full"]["values"]
    f = task.frozen
    return (v[f.batch_size_name], v[f.context_name], v[f.vocab_name]), v[f.eval_iters_name]


def size(n: float) -> str:
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= k:
            return f"{n / k:,.{2 if unit == 'GB' else 1}f} {unit}"
    return f"{n:,.0f} B"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny shapes, in a few seconds")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(json.loads(args.child), args.fd)
        return
    wire._read = _timed_read
    builtin, eval_iters = builtin_shape()
    shapes = [("tiny", (2, 32, 3000)), ("built-in", builtin)] if args.smoke else \
        [("GPT-2", (12, 1024, 50304)), ("GPT-2, T=256", (12, 256, 50304)), ("built-in", builtin)]
    free = int(re.search(r"MemAvailable:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) << 10
    rows = []
    for name, (B, T, V) in shapes:
        batches = final_batches(B, eval_iters)
        x, y, reader = inputs(B, T, V, eval_iters)
        refused = B * T * V * 4 > wire.MAX_ARRAY_BYTES
        lift = refused and not args.smoke and free >= MIN_FREE_FOR_LIFTED
        protos = ["before", "after"] if not refused or lift else ["after"]
        pairs = {p: Pair(V, p) for p in protos}
        if lift:
            wire.MAX_ARRAY_BYTES = 1 << 40
        runs = defaultdict(list)
        for _ in range(REPEATS):  # before and after interleaved
            for proto in protos:
                for kind in ("monitor", "final"):
                    runs[proto, kind].append(pairs[proto].batch(proto, kind, x, y, V, reader, logits.audit_rng(1)))
        wire.MAX_ARRAY_BYTES = 1 << 31
        for pair in pairs.values():
            pair.close()
        for proto in ("before", "after"):
            for kind in ("monitor", "final"):
                row = {"shape": name, "B": B, "T": T, "V": V, "proto": proto, "kind": kind, "lifted": lift,
                       "batches": eval_iters if kind == "monitor" else batches}
                if (proto, kind) in runs:
                    r = runs[proto, kind]
                    row.update({k: r[0][k] for k in ("to_model", "to_referee")})
                    row.update({k: statistics.median(m[k] for m in r) for k in r[0] if k not in row})
                    row.update(harness_min=min(m["harness"] for m in r), runs=r)
                    if not args.smoke or name == shapes[0][0]:  # smoke: each process start costs ~2 s
                        row["memory"] = peaks(proto, kind, (B, T, V), eval_iters, lift)
                else:
                    row.update(refused=True, to_referee=B * T * V * 4)
                rows.append(row)
        print(f"{name} done", file=sys.stderr)
    trips = {name: training_round_trip(B, T, V, 5 if args.smoke else 200) for name, (B, T, V) in shapes}
    report(rows, trips, eval_iters)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows, "training": trips, "gpu_forward_s": GPU_FORWARD,
                                               "eval_iters": eval_iters, "repeats": REPEATS}, indent=1))


def label(r: dict) -> str:
    return r["proto"] + (" (refused; cap lifted here)" if r["lifted"] and r["proto"] == "before" else "")


def report(rows: list[dict], trips: dict, eval_iters: int) -> None:
    print(f"Per batch of logits; seconds are medians of {REPEATS} (the least in brackets), before and after "
          f"interleaved. An evaluation is {eval_iters} batches (monitoring) or the final plan's batches.\n")
    print("| shape B x T x V | batch | protocol | referee → model | model → referee | per evaluation (both ways) "
          "| s per batch | stand-in forward s | harness s | answering side busy s | referee busy s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        shape = f"{r['shape']}: {r['B']} x {r['T']} x {r['V']:,}"
        batch = f"{r['kind']} (x{r['batches']})"
        if r.get("refused"):
            print(f"| {shape} | {batch} | {r['proto']} | | {size(r['to_referee'])} | refused: above the wire's "
                  f"{size(wire.MAX_ARRAY_BYTES)} cap | | | | | |")
            continue
        print(f"| {shape} | {batch} | {label(r)} | {size(r['to_model'])} | {size(r['to_referee'])} "
              f"| {size((r['to_model'] + r['to_referee']) * r['batches'])} | {r['wall']:.3f} | {r['forward']:.3f} "
              f"| {r['harness']:.3f} ({r['harness_min']:.3f}) | {r['answer_busy']:.3f} | {r['referee_busy']:.3f} |")
    print("\nPeak memory (VmHWM during one batch, each side in its own process; in brackets its RSS after imports "
          "and setup):\n")
    print("| shape | batch | protocol | referee peak | answering side peak |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "memory" in r:
            m = r["memory"]
            ref, ans = (f"{size(m[side]['peak'])} ({size(m[side]['setup'])})" for side in ("referee", "answer"))
            print(f"| {r['shape']} | {r['kind']} | {label(r)} | {ref} | {ans} |")
    print("\nHarness seconds per batch at T=1024 against GPT-2 124M's forward on one A100 at 12 x 1024 tokens "
          "(published runs, derived in bench/referee_gpt2.py): "
          + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in GPU_FORWARD.items()) + "\n")
    print("| batch | protocol | harness s | " + " | ".join(f"x {k} forward" for k in GPU_FORWARD) + " |")
    print("|---|---|---|" + "---|" * len(GPU_FORWARD))
    for r in rows:
        if r["T"] == 1024 and "harness" in r:
            print(f"| {r['kind']} | {label(r)} | {r['harness']:.3f} ({r['harness_min']:.3f}) | " + " | ".join(
                f"{r['harness'] / v:,.0f}x ({r['harness_min'] / v:,.0f}x)" for v in GPU_FORWARD.values()) + " |")
    step = LLMC_STEP
    print(f"\nTraining batches (x and y int64, from a np.memmap token file in the page cache), medians; a fast GPU "
          f"step (llm.c, A100, forward + backward at 12 x 1024) is {step * 1e3:.0f} ms:\n")
    print("| shape | bytes per batch | get_batch µs | round trip µs (get_batch incl.) | share of a fast GPU step |")
    print("|---|---|---|---|---|")
    for name, t in trips.items():
        print(f"| {name} | {size(t['bytes'])} | {t['get_batch'] * 1e6:,.0f} | {t['round_trip'] * 1e6:,.0f} "
              f"| {t['round_trip'] / step:.2%} |")


if __name__ == "__main__":
    main()
