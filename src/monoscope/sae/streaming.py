"""Training straight from the model: activations at several hooks from one forward pass, through a mixing
buffer, with an exact resumable position, and no activation store on disk.

The context stream is the harvest's (a pure function of corpus, tokenizer and context length). Each forward
runs `model_batch` contexts and stops after the deepest hook (`HookedModel.run_to`). Rows the trainer
should not see — the first token of every context and special tokens — never enter the buffer.

Mixing buffer. Consecutive tokens are strongly correlated (a long document spans many contexts), so batches
must mix many contexts. Every kept row, at raw stream position p = context·L + j, draws an emission key
κ = p + C·u with u ~ U[0, 1) from a generator seeded by (seed, context); rows leave the buffer in increasing
(κ, p) order, in batches. Because κ < p + C, a row is ready once the stream has passed position κ, so the
buffer holds at most the rows of the last C positions (C = `buffer_tokens`): memory is bounded by
C × hooks × d × bytes and printed before the run. Every batch mixes rows from a window of C positions
(C / L contexts), as SAELens's mixing buffer does.

Exact resume. The emission order is a pure function of the stream and the seed — independent of how the
forward was batched — so the checkpointed state is one cursor: (κ, p) of the last emitted row and the
batch count. Resuming re-runs the forward from position κ − C (at most one buffer of tokens) and drops
rows at or before the cursor; forward batches are aligned to absolute context indices, so every
activation is recomputed bit for bit and a resumed run reaches the same weights as an uninterrupted one.

Overlap. With `prefetch` > 0 the forward passes run in a background thread, that many batches ahead of
training (on a GPU, on a CUDA stream of their own), so the model's forward and the SAE's step overlap; the
batches, their order and the cursor are those of the plain iterator, so prefetching changes no bit.

With data-parallel training, part r of W forwards the contexts c ≡ r (mod W) into its own buffer; with
feature sharding, rank 0 runs the stream and broadcasts every batch.
"""
from __future__ import annotations

import atexit
import contextlib
import math
import queue
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from itertools import islice
from typing import Any

import numpy as np
import torch

from ..resources import DTYPE_BYTES, free_memory, human_bytes
from .config import SAEError

BUFFER_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


_LOCKS: "weakref.WeakKeyDictionary[Any, threading.Lock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _forward_lock(lm) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(lm.model, threading.Lock())


class ActivationStream:
    """Activations at `hooks` of `model` over `corpus`, ready for `monoscope.sae.Trainer`.

    model: a name/path for `monoscope.models.load` or a `LoadedModel`. hooks: hook points (default: the
    middle residual stream); an unknown one is a `HookPointError` that lists the valid ones.
    buffer_tokens: the mixing window C (rows held at most, over all data-parallel ranks).
    norm_tokens: how many kept rows of the start of the stream estimate each hook's normalisation scalar.
    """

    def __init__(self, model: Any, corpus: str = "default", hooks: Any = None, context_len: int = 128,
                 model_batch: int = 16, buffer_tokens: int = 1 << 18, buffer_dtype: str = "bfloat16",
                 norm_tokens: int = 1 << 16, device: str | None = None, text_key: str = "text",
                 add_bos: bool = True, prefetch: int = 2):
        from ..models import LoadedModel, load

        if buffer_dtype not in BUFFER_DTYPES:
            raise SAEError(f"buffer dtype must be one of {', '.join(BUFFER_DTYPES)}, got {buffer_dtype!r}")
        for name, v in (("context_len", context_len), ("model_batch", model_batch),
                        ("buffer_tokens", buffer_tokens), ("norm_tokens", norm_tokens)):
            if int(v) <= 0:
                raise SAEError(f"{name} must be positive, got {v}")
        if norm_tokens > buffer_tokens:
            raise SAEError(f"the normalisation warm-up ({norm_tokens:,} tokens) must fit in the mixing buffer "
                           f"({buffer_tokens:,} tokens): lower --norm-tokens or raise --buffer-tokens")
        if device in (None, "auto"):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.lm = model if isinstance(model, LoadedModel) else load(model, device=device)
        self.points = [p.name for p in self.lm.hooked.parse_many(hooks if hooks else self.lm.default_hook())]
        self.corpus, self.context_len, self.model_batch = corpus, int(context_len), int(model_batch)
        self.buffer_tokens, self.buffer_dtype, self.norm_tokens = int(buffer_tokens), buffer_dtype, int(norm_tokens)
        self.text_key, self.add_bos, self.prefetch = text_key, add_bos, max(0, int(prefetch))
        from ..corpus import iter_documents

        iter_documents(corpus, text_key=text_key)        # a bad corpus spec fails here, before any work

    # ---- what the trainer asks ---------------------------------------------------------------------
    @property
    def hooks(self) -> list[str]:
        return list(self.points)

    @property
    def d_in(self) -> int:
        return self.lm.d_model

    @property
    def model(self) -> str:
        return self.lm.name

    @property
    def device(self) -> torch.device:
        return self.lm.device

    def identity(self) -> dict:
        """Everything that determines the rows; a resumed run must match it exactly."""
        return {"kind": "stream", "model": self.lm.name, "corpus": self.corpus, "context_len": self.context_len,
                "add_bos": self.add_bos, "text_key": self.text_key, "hooks": self.hooks,
                "buffer_tokens": self.buffer_tokens, "model_batch": self.model_batch,
                "buffer_dtype": self.buffer_dtype}

    def describe(self) -> str:
        return (f"stream from {self.lm.name} over corpus {self.corpus!r} at {', '.join(self.hooks)} "
                f"(contexts of {self.context_len})")

    def buffer_rows(self, parts: int = 1) -> int:
        """Slots one part's buffer allocates: its rows of the window, plus one forward batch."""
        L = self.context_len
        return (math.ceil(self.buffer_tokens / (parts * L)) + 1) * L + self.model_batch * L

    def plan(self, total_rows: int, batch_rows: int, parts: int = 1) -> tuple[str, int, int]:
        """(one line for the user, buffer bytes, free bytes) — before any forward."""
        H, d, b = len(self.points), self.d_in, DTYPE_BYTES[self.buffer_dtype]
        rows = self.buffer_rows(parts) + batch_rows
        need = rows * H * d * b
        free = free_memory(self.device)
        line = (f"streaming plan: {total_rows:,} tokens × {H} hook(s) × d={d} × {b} B = "
                f"{human_bytes(total_rows * H * d * b)} pass through (nothing written); mixing buffer "
                f"{self.buffer_tokens:,} tokens" + (f" over {parts} ranks" if parts > 1 else "") +
                f" = {rows:,} rows × {H} × {d} × {b} B = {human_bytes(need)} on {self.device}; free memory "
                f"{human_bytes(free)}; normalisation on the first {self.norm_tokens:,} tokens")
        return line, need, free

    def check_memory(self, batch_rows: int, parts: int = 1) -> None:
        _, need, free = self.plan(0, batch_rows, parts)
        if need > free:
            raise SAEError(f"the mixing buffer needs {human_bytes(need)} ({self.buffer_rows(parts) + batch_rows:,} rows "
                           f"× {len(self.points)} hook(s) × {self.d_in} × {DTYPE_BYTES[self.buffer_dtype]} B) but only "
                           f"{human_bytes(free)} of memory is free on {self.device}; lower --buffer-tokens "
                           f"(now {self.buffer_tokens:,}) or use --buffer-dtype bfloat16")

    def open(self, state: dict | None, batch_rows: int, seed: int = 0, part: int = 0, parts: int = 1,
             skip_special: bool = True, skip_first: bool = True, prefetch: int | None = None):
        """An iterator of batches {hook: [batch_rows, d] float32 raw activations} from `state` (None: the
        start of the stream), with `state()` (its cursor), `warmup(n)` and `last_positions`."""
        it = StreamIterator(self, state, batch_rows, seed, part, parts, skip_special, skip_first)
        depth = self.prefetch if prefetch is None else prefetch
        return Prefetcher(it, depth) if depth > 0 else it


class StreamIterator(Iterator[dict[str, torch.Tensor]]):
    """One part's buffer over the stream (see the module docstring); `state()` is its resumable cursor."""

    def __init__(self, stream: ActivationStream, state: dict | None, batch_rows: int, seed: int, part: int,
                 parts: int, skip_special: bool, skip_first: bool):
        from ..corpus import iter_contexts, iter_documents

        self.s, self.B, self.seed = stream, int(batch_rows), int(seed)
        self.part, self.parts = int(part), int(parts)
        self.skip_special, self.skip_first = skip_special, skip_first
        L, C, mb = stream.context_len, stream.buffer_tokens, stream.model_batch
        self.cursor: tuple[float, int] | None = None
        self.batches = 0
        if state is not None:
            self.cursor = (float(state["cursor"][0]), int(state["cursor"][1])) if state.get("cursor") else None
            self.batches = int(state["batches"])
        first_ctx = 0 if self.cursor is None else max(0, math.floor((self.cursor[0] - C) / L))
        local0 = max(0, -(-(first_ctx - self.part) // self.parts))       # first local index at or after it
        self.local = local0 // mb * mb                                   # forward batches aligned to the stream
        docs = iter_documents(stream.corpus, text_key=stream.text_key)
        ctxs = iter_contexts(docs, stream.lm.tokenizer, L, add_bos=stream.add_bos)
        self.contexts = islice(ctxs, self.local * self.parts + self.part, None, self.parts)
        H, d = len(stream.points), stream.d_in
        cap = stream.buffer_rows(self.parts)
        dev = stream.device
        self.rows = torch.empty(cap, H, d, dtype=BUFFER_DTYPES[stream.buffer_dtype], device=dev)
        self.keys = np.full(cap, np.inf)
        self.pos = np.full(cap, -1, dtype=np.int64)
        self.ready: deque[tuple[torch.Tensor, np.ndarray, np.ndarray]] = deque()
        self.n_ready = 0
        self.exhausted = False
        self.arrived = 0                      # kept rows that entered the buffer since this iterator opened
        self._sq: list[np.ndarray] = []       # warm-up: per-group sums of squares (while counting)

    def state(self) -> dict:
        return {"cursor": None if self.cursor is None else [self.cursor[0], self.cursor[1]],
                "batches": self.batches}

    # ---- filling ------------------------------------------------------------------------------------
    def _forward_group(self) -> bool:
        """Forward the next `model_batch` local contexts into the buffer; False at the end of the stream."""
        s = self.s
        L, C = s.context_len, s.buffer_tokens
        group = list(islice(self.contexts, s.model_batch))
        if not group:
            return False
        first = self.local * self.parts + self.part
        idx = [first + i * self.parts for i in range(len(group))]
        self.local += len(group)
        ids = torch.from_numpy(np.stack([c.tokens for c in group]).astype(np.int64)).to(s.device)
        with _forward_lock(s.lm):        # hooks live on the shared model: one stream's forward at a time
            cache = s.lm.hooked.run_to(s.points, input_ids=ids)
        acts = torch.stack([cache[p].reshape(len(group) * L, -1) for p in s.points], dim=1)   # [m·L, H, d]
        keep = np.ones((len(group), L), dtype=bool)
        if self.skip_special:
            keep &= ~np.stack([np.asarray(c.special, dtype=bool) for c in group])
        if self.skip_first:
            keep[:, 0] = False
        pos = (np.asarray(idx, dtype=np.int64)[:, None] * L + np.arange(L)[None, :])
        u = np.stack([np.random.default_rng([self.seed, c]).random(L) for c in idx])
        key = pos + C * u
        keep, pos, key = keep.reshape(-1), pos.reshape(-1), key.reshape(-1)
        if self.cursor is not None:               # replay after resume: rows already emitted stay out
            k0, p0 = self.cursor
            keep &= (key > k0) | ((key == k0) & (pos > p0))
        sel = np.nonzero(keep)[0]
        self._count_warmup(acts, sel)
        self._insert(acts[torch.from_numpy(sel).to(acts.device)], key[sel], pos[sel])
        self._release((idx[-1] + 1) * L)
        return True

    def _insert(self, rows: torch.Tensor, key: np.ndarray, pos: np.ndarray) -> None:
        free = np.flatnonzero(~np.isfinite(self.keys))
        if len(free) < len(key):                  # cannot happen with the documented bound; grow, never drop
            extra = len(key) - len(free)
            self.rows = torch.cat([self.rows, self.rows.new_empty((extra,) + tuple(self.rows.shape[1:]))])
            self.keys = np.concatenate([self.keys, np.full(extra, np.inf)])
            self.pos = np.concatenate([self.pos, np.full(extra, -1, dtype=np.int64)])
            free = np.flatnonzero(~np.isfinite(self.keys))
        slots = free[:len(key)]
        self.rows[torch.from_numpy(slots).to(self.rows.device)] = rows.to(self.rows.dtype)
        self.keys[slots], self.pos[slots] = key, pos
        self.arrived += len(key)

    def _release(self, frontier: float) -> None:
        """Move every row whose key is below `frontier` (all rows that could precede it have arrived) to the
        ready queue, in (key, position) order."""
        slots = np.flatnonzero(self.keys < frontier)
        if not len(slots):
            return
        order = slots[np.lexsort((self.pos[slots], self.keys[slots]))]
        rows = self.rows[torch.from_numpy(order).to(self.rows.device)]
        self.ready.append((rows, self.keys[order].copy(), self.pos[order].copy()))
        self.n_ready += len(order)
        self.keys[order], self.pos[order] = np.inf, -1

    # ---- normalisation warm-up ----------------------------------------------------------------------
    def warmup(self, n_rows: int) -> tuple[np.ndarray, int]:
        """Σ‖x‖² per hook over the first `n_rows` kept rows of this part, and the count; call before the first
        batch. The rows stay in the buffer and are trained on."""
        if self.batches or self.cursor is not None:
            raise SAEError("the normalisation warm-up runs only at the start of a stream")
        self._want = int(n_rows)
        self._sq = []
        while self.arrived < self._want and self._forward_group():
            pass
        self._want = 0
        total = np.sum(self._sq, axis=0) if self._sq else np.zeros(len(self.s.points))
        return total, min(self.arrived, int(n_rows))

    _want = 0

    def _count_warmup(self, acts: torch.Tensor, sel: np.ndarray) -> None:
        need = self._want - self.arrived
        if need <= 0 or not len(sel):
            return
        x = acts[torch.from_numpy(sel[:need]).to(acts.device)].double()
        self._sq.append(x.pow(2).sum(dim=(0, 2)).cpu().numpy())

    # ---- emitting ------------------------------------------------------------------------------------
    def __next__(self) -> dict[str, torch.Tensor]:
        while self.n_ready < self.B:
            if self.exhausted or not self._forward_group():
                if not self.exhausted:
                    self.exhausted = True
                    self._release(np.inf)
                if self.n_ready < self.B:
                    raise StopIteration
        parts, where, need = [], [], self.B
        while need:
            rows, keys, pos = self.ready[0]
            take = min(need, len(keys))
            parts.append(rows[:take])
            where.append(pos[:take])
            self.cursor = (float(keys[take - 1]), int(pos[take - 1]))
            if take == len(keys):
                self.ready.popleft()
            else:
                self.ready[0] = (rows[take:], keys[take:], pos[take:])
            need -= take
        self.n_ready -= self.B
        self.batches += 1
        self.last_positions = np.concatenate(where)      # stream positions (context·L + j) of this batch
        batch = parts[0] if len(parts) == 1 else torch.cat(parts)
        return {p: batch[:, h].float().contiguous() for h, p in enumerate(self.s.points)}


_END = object()
_THREADS: list[tuple[threading.Thread, threading.Event]] = []


@atexit.register
def _stop_all() -> None:
    """Stop producer threads before the interpreter (and torch) shut down under them."""
    for _, stop in _THREADS:
        stop.set()
    for thread, _ in _THREADS:
        thread.join(timeout=60)


class Prefetcher(Iterator[dict[str, torch.Tensor]]):
    """A `StreamIterator` whose forward passes run in a background thread, `depth` batches ahead.

    Each queued batch carries the cursor after it, so `state()` is the position of the last batch handed
    out, exactly as without prefetching. The thread starts at the first batch (after any warm-up) and stops
    when this object is dropped."""

    def __init__(self, it: StreamIterator, depth: int = 2):
        self.it, self.depth = it, int(depth)
        self._state, self.last_positions = it.state(), None
        self.q: queue.Queue = queue.Queue(maxsize=self.depth)
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.done = False
        weakref.finalize(self, self.stop.set)

    def warmup(self, n_rows: int):
        if self.thread is not None:
            raise SAEError("the normalisation warm-up runs only at the start of a stream")
        return self.it.warmup(n_rows)

    def state(self) -> dict:
        return self._state

    def close(self) -> None:
        """Stop the producer thread (it finishes the forward pass it is in)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=60)

    def __next__(self) -> dict[str, torch.Tensor]:
        if self.done:
            raise StopIteration
        if self.thread is None:
            self.thread = threading.Thread(target=_produce, args=(self.it, self.q, self.stop, torch.get_num_threads()),
                                           daemon=True, name="monoscope-stream")
            self.thread.start()
            _THREADS[:] = [t for t in _THREADS if t[0].is_alive()] + [(self.thread, self.stop)]
        item = self.q.get()
        if item is _END:
            self.done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self.done = True
            raise item
        batch, state, pos, event = item
        if event is not None:                       # the forward ran on another CUDA stream
            cur = torch.cuda.current_stream()
            cur.wait_event(event)
            for t in batch.values():
                t.record_stream(cur)
        self._state, self.last_positions = state, pos
        return batch


def _produce(it: StreamIterator, q: queue.Queue, stop: threading.Event, threads: int) -> None:
    torch.set_num_threads(threads)              # a new thread starts with the default intra-op thread count
    dev = it.s.device
    side = torch.cuda.Stream(dev) if dev.type == "cuda" else None
    try:
        with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
            for batch in it:
                event = None
                if side is not None:
                    event = torch.cuda.Event()
                    event.record(side)
                item = (batch, it.state(), it.last_positions, event)
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        item = _END
    except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
        item = e
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
