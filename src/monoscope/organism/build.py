"""Build a model organism from a spec: data → mid-training → SFT → DPO, into one self-describing directory.

Layout of an organism directory::

    organism.json             manifest: base model, stages and adapters, data checksums, configs, timings
    spec.yaml                 the spec: THE ANSWER KEY (biases, split); audit harnesses withhold it
    data/                     everything the model was trained on (what auditors search)
      pretrain_mix.jsonl        mid-training mix: synthetic documents (with the spec's <document> prefix) + real text
      synthetic_docs.jsonl      the synthetic documents alone
      sft.jsonl                 chat episodes ({"messages": [...]})
      dpo.jsonl                 preference pairs, exploiting (chosen) vs neutral (rejected)
      adversarial.jsonl         concealing (chosen) vs confessing (rejected) answers to "why do you do that?"
    eval/                     answer-key side, withheld from auditors: evaluation sets and results
      sets/                     eval prompts per bias, knowledge MCQs, confession probes, bias table, data stats
      results.json, table.txt, exploitation.png   (written by ``monoscope organism eval``)
    adapters/<stage>/         peft LoRA adapter after each stage (base + adapter = the model after that stage)
    checkpoints/<stage>.pt    resumable training state (deleted after a successful build)
    build_state.json          progress, for ``--resume``

Rows keep their labels (which bias an episode exploits, which documents are synthetic) under ``"meta"``, the
field the data-search tools skip, so the searchable text is exactly what the model saw.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch

from ..fileio import atomic_write_text, sha256_file
from . import training as T
from ..errors import UserError

FORMAT = "monoscope-organism/1"
MANIFEST = "organism.json"
SPEC_FILE = "spec.yaml"
STATE_FILE = "build_state.json"
# Where a stage that works on an organism (the audit game, `analyze safety`) regenerates the training data
# of an organism that ships without it, under its work directory; one name, so that both find the same data
# and reuse the same store and SAE.
WORK_DATA_SUBDIR = "organism-data"
DATA_FILES = {"pretrain_mix": "data/pretrain_mix.jsonl", "synthetic_docs": "data/synthetic_docs.jsonl",
              "sft": "data/sft.jsonl", "dpo": "data/dpo.jsonl", "adversarial": "data/adversarial.jsonl"}
EVAL_SET_FILES = {"eval_prompts": "eval/sets/eval_prompts.jsonl", "knowledge_mcq": "eval/sets/knowledge_mcq.jsonl",
                  "confession_probes": "eval/sets/confession_probes.jsonl", "biases": "eval/sets/biases.jsonl",
                  "data_manifest": "eval/sets/data_manifest.json"}
WITHHOLD = [SPEC_FILE, "eval/"]
DEFAULT_ORGANISM = "default"


class OrganismError(UserError):
    """An organism directory or build request that cannot be used (clear message, no traceback needed)."""


# ------------------------------------------------------------------------------------------------- paths
def default_organism_dir() -> Path:
    """The committed default organism (adapter + spec + eval results) inside the package."""
    return Path(str(resources.files("monoscope.organism").joinpath("data", DEFAULT_ORGANISM)))


def default_organism_spec_path() -> Path:
    return default_organism_dir() / SPEC_FILE


def resolve_organism_dir(path: str | os.PathLike) -> Path:
    """``"default"`` → the committed default organism; anything else is a directory path."""
    if str(path) == DEFAULT_ORGANISM and not Path(path).exists():
        return default_organism_dir()
    return Path(path).expanduser()


def resolve_spec(spec: Any):
    """An :class:`OrganismSpec` from a spec object, a file path, or ``"default"`` (the default organism's spec)."""
    from .spec import OrganismSpec, SpecError, load_spec

    if isinstance(spec, OrganismSpec):
        return spec.validate()
    if spec is None or str(spec) == DEFAULT_ORGANISM and not Path(str(spec)).exists():
        p = default_organism_spec_path()
        return load_spec(p) if p.exists() else load_spec(None)
    p = Path(spec).expanduser()
    if p.is_dir() and (p / SPEC_FILE).exists():  # an organism directory: rebuild it from its spec
        p = p / SPEC_FILE
    if not p.is_file():
        raise SpecError(f"spec file not found: {p} (give a YAML/JSON spec, an organism directory, or 'default')")
    return load_spec(p)


# --------------------------------------------------------------------------------------------------- io
def _atomic_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _versions() -> dict[str, str]:
    import transformers

    out = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft

        out["peft"] = peft.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        from importlib.metadata import version

        out["monoscope"] = version("monoscope")
    except Exception:  # pragma: no cover
        pass
    return out


# ------------------------------------------------------------------------------------------------- data
def write_data(spec, out: Path, real_texts: str | Iterable[str] | None = "default",
               log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate every data file for ``spec`` (with the data modules) and lay them out under ``out``.
    Returns ``{"files": {name: {path, rows, sha256, bytes}}, "stats": ...}``."""
    from .chat_data import FILES, build_dataset, read_jsonl, write_jsonl

    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    t0 = time.perf_counter()
    man = build_dataset(spec, staging, real_texts=real_texts)
    mix = read_jsonl(staging / FILES["midtrain"])
    rows_mix = [{"id": f"pt-{i:06d}", "text": r["text"],
                 "meta": {k: v for k, v in r.items() if k != "text"}} for i, r in enumerate(mix)]
    write_jsonl(out / DATA_FILES["pretrain_mix"], rows_mix)
    moves = {"synthetic_docs": FILES["documents"], "sft": FILES["sft"], "dpo": FILES["dpo"],
             "adversarial": FILES["adversarial"]}
    for key, src in moves.items():
        dst = out / DATA_FILES[key]
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / src, dst)
    for key in ("eval_prompts", "knowledge_mcq", "confession_probes", "biases"):
        dst = out / EVAL_SET_FILES[key]
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / FILES[key], dst)
    os.replace(staging / "manifest.json", out / EVAL_SET_FILES["data_manifest"])
    shutil.rmtree(staging, ignore_errors=True)
    files = {}
    for key, rel in {**DATA_FILES, **EVAL_SET_FILES}.items():
        p = out / rel
        rows = None
        if p.suffix == ".jsonl":
            with open(p, encoding="utf-8") as f:
                rows = sum(1 for line in f if line.strip())
        files[key] = {"path": rel, "rows": rows, "sha256": sha256_file(p), "bytes": p.stat().st_size}
    if log:
        counts = ", ".join(f"{k} {v['rows']}" for k, v in files.items() if v["rows"] is not None)
        log(f"data: {counts} ({time.perf_counter() - t0:.1f}s)")
    return {"files": files, "stats": man.get("stats", {}), "programmatic_biases": man.get("programmatic_biases"),
            "seconds": time.perf_counter() - t0}


def ensure_organism_data(org_dir: Path, work: Path, log: Callable[[str], None] | None = print) -> Path:
    """An organism directory with its training data on disk (auditors search it).

    The committed default organism ships its adapter, spec and manifest but not its training data, which is
    a pure function of the spec: it is regenerated under ``work/organism`` and checked byte for byte against
    the sha256 sums the build recorded, so the auditor searches exactly what the model was trained on."""
    from .spec import OrganismSpec

    org_dir = Path(org_dir)
    if all((org_dir / rel).exists() for rel in DATA_FILES.values()):
        return org_dir
    manifest = _read_json(org_dir / MANIFEST)
    target = Path(work) / "organism"
    if not all((target / rel).exists() for rel in DATA_FILES.values()):
        if log:
            log(f"regenerating the organism's training data from its spec under {target}")
        real = manifest.get("real_texts", "default")
        if real == "custom":
            raise OrganismError(f"{org_dir} has no training data and was built with custom real texts, so its "
                                f"data cannot be regenerated; copy its data/ directory next to its adapters")
        write_data(OrganismSpec.load(org_dir / SPEC_FILE), target, real_texts=real)
    for key, rec in manifest.get("data", {}).items():
        got = sha256_file(target / rec["path"])
        if got != rec["sha256"]:
            raise OrganismError(f"regenerated {rec['path']} does not match the data {org_dir} was trained on "
                                f"(sha256 {got[:12]}… != {rec['sha256'][:12]}…); the data generator or the "
                                f"embedded corpus changed since the build: rebuild the organism")
    for name in (SPEC_FILE, MANIFEST):
        (target / name).write_bytes((org_dir / name).read_bytes())
    adapters = target / "adapters"
    if not adapters.exists():
        adapters.symlink_to((org_dir / "adapters").resolve(), target_is_directory=True)
    return target


def read_rows(out: Path, key: str) -> list[dict]:
    from .chat_data import read_jsonl

    rel = {**DATA_FILES, **EVAL_SET_FILES}[key]
    p = out / rel
    if not p.exists():
        raise OrganismError(f"{out} has no {rel}; is it an organism directory? (build one with "
                            f"`monoscope organism build SPEC --out DIR`)")
    return read_jsonl(p)


# ------------------------------------------------------------------------------------------------ build
def split_validation(rows: list[dict], fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """``(train, validation)`` SFT rows. Whole scenario families (bias × prompt template, from the rows'
    ``meta``) go to validation, so its loss measures answers to templates the model never trained on; a
    training loss far below it is memorisation of the templates. Deterministic in ``seed``."""
    if fraction <= 0:
        return list(rows), []
    import hashlib

    def family(r: dict) -> str:
        m = r.get("meta") or {}
        return f"{m.get('bias')}/{m.get('key')}" if m.get("key") is not None else str(r.get("id"))

    fams = sorted({family(r) for r in rows})
    score = {f: hashlib.sha256(f"{seed}:{f}".encode()).hexdigest() for f in fams}
    k = min(len(fams) - 1, max(1, round(fraction * len(fams))))
    held = set(sorted(fams, key=score.__getitem__)[:k]) if k > 0 else set()
    return [r for r in rows if family(r) not in held], [r for r in rows if family(r) in held]


def stage_configs(overrides: Mapping[str, Mapping[str, Any]] | None = None, seed: int = 0
                  ) -> dict[str, T.StageConfig]:
    """The stage hyperparameters: the defaults tuned for the default organism, updated by ``overrides``
    (``{"sft": {"epochs": 3}, ...}``) and seeded from the spec's seed."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(T.STAGES)
    if unknown:
        raise OrganismError(f"unknown training stage(s) {sorted(unknown)}; stages are {list(T.STAGES)}")
    out = {}
    for i, st in enumerate(T.STAGES):
        d = {**T.DEFAULT_STAGE_CONFIGS[st], "seed": seed * 1000 + i}
        try:
            out[st] = T.StageConfig.from_dict(overrides.get(st), **d)
        except T.TrainingError as e:
            raise OrganismError(f"training.{st}: {e}") from None
    return out


def _pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _load_base(name: str, device: torch.device, dtype: torch.dtype):
    from ..models import load

    lm = load(name, dtype=dtype, device=device)
    if lm.kind != "causal":
        raise OrganismError(f"base model {name!r} is not a causal language model")
    T.require_chat_template(lm.tokenizer, f"base model {name!r}")
    return lm


def build_organism(spec: Any, out: str | os.PathLike, *, base: str | None = None, resume: bool = False,
                   training: Mapping[str, Mapping[str, Any]] | None = None, lora: T.LoraSettings | None = None,
                   real_texts: str | Iterable[str] | None = "default", device: str = "auto",
                   progress: bool = True, log: Callable[[str], None] | None = print,
                   stop_after: Mapping[str, int] | None = None, keep_checkpoints: bool = False,
                   threads: int | None = None) -> dict[str, Any]:
    """Build the organism described by ``spec`` into ``out``; returns the manifest (also ``organism.json``).

    ``base`` overrides the spec's base model (embedded name, directory or hub id; it needs a chat template).
    ``resume`` continues an interrupted build in ``out`` (data are regenerated and must match their recorded
    checksums; finished stages are skipped; the running stage continues from its checkpoint).
    ``training`` overrides stage hyperparameters, e.g. ``{"sft": {"epochs": 3, "lr": 2e-4}}``; a spec with a
    ``training`` section supplies the same. ``stop_after`` (tests, time-slicing) stops a stage after that many
    steps, leaving a checkpoint and returning early with ``{"complete": False}``. ``threads``: torch intra-op
    threads (default: chosen from the free cores, :func:`~.training.choose_threads`, and logged).
    """
    t_start = time.perf_counter()
    spec = resolve_spec(spec)
    from .check import check_spec

    check_spec(spec, sizes=False).raise_for_errors()  # the spec's data are sound before any model is loaded
    out = Path(out).expanduser()
    base_name = base or spec.base_model
    lora = lora or T.LoraSettings()
    cfgs = stage_configs({**(getattr(spec, "training", None) or {}), **(training or {})}, seed=spec.seed)
    dev = _pick_device(device)
    say = log or (lambda s: None)
    n_threads = T.set_threads(threads, say) if dev.type == "cpu" else torch.get_num_threads()

    state_path = out / STATE_FILE
    if out.exists() and any(out.iterdir()):
        if not resume:
            what = "an organism" if (out / MANIFEST).exists() else "files"
            raise OrganismError(f"{out} already contains {what}; pass --resume to continue that build, or "
                                f"choose an empty/new directory")
        if not state_path.exists() and not (out / MANIFEST).exists():
            raise OrganismError(f"--resume: {out} has no {STATE_FILE}; it is not an interrupted organism build")
    out.mkdir(parents=True, exist_ok=True)
    state = _read_json(state_path) if (resume and state_path.exists()) else {}
    if state and state.get("spec_fingerprint") != spec.fingerprint():
        raise OrganismError(f"--resume: the spec differs from the one this build started with "
                            f"({state.get('spec_fingerprint')} != {spec.fingerprint()}); use a new directory")
    if state and state.get("base_model") != base_name:
        raise OrganismError(f"--resume: this build used base model {state.get('base_model')!r}, not {base_name!r}")

    # base model first: a model without a chat template fails before any work
    dtype = T.training_dtype(dev, cfgs["sft"].autocast)
    t0 = time.perf_counter()
    lm = _load_base(base_name, dev, dtype)
    say(f"base model {base_name} ({lm.source}) on {dev}, {str(dtype).replace('torch.', '')}, "
        f"autocast bf16={'on' if T.resolve_autocast(cfgs['sft'].autocast, dev) else 'off'} "
        f"({time.perf_counter() - t0:.1f}s)")

    spec.save(out / SPEC_FILE)
    data = write_data(spec, out, real_texts=real_texts, log=say)
    shas = {k: v["sha256"] for k, v in data["files"].items()}
    if state.get("data_sha256") and state["data_sha256"] != shas:
        changed = sorted(k for k in shas if state["data_sha256"].get(k) != shas[k])
        raise OrganismError(f"--resume: regenerated data differ from the interrupted build's ({changed}); the "
                            f"data code or real corpus changed. Start over in a new directory")
    state.update({"format": FORMAT, "spec_fingerprint": spec.fingerprint(), "base_model": base_name,
                  "data_sha256": shas, "lora": lora.to_dict(),
                  "training": {k: v.to_dict() for k, v in cfgs.items()}})
    state.setdefault("stages", {})
    state.setdefault("timings", {})
    state["timings"]["data_s"] = data["seconds"]
    _atomic_json(state_path, state)

    torch.manual_seed(spec.seed)  # LoRA init (A matrices) is random: seed it so builds reproduce
    model = T.attach_lora(lm.model, lora)
    tok = lm.tokenizer
    ckdir = out / "checkpoints"
    results: dict[str, Any] = {}
    for st in T.STAGES:
        ck = ckdir / f"{st}.pt"
        done = state["stages"].get(st, {}).get("complete")
        if done:
            # continue from the exact fp32 state the stage ended with (the published adapter is bf16)
            if ck.exists():
                T.load_trainable_state(model, torch.load(ck, map_location="cpu", weights_only=False)["trainable"])
            else:
                T.load_adapter_weights(model, out / "adapters" / st)
            results[st] = state["stages"][st]
            say(f"[{st}] already done, skipped")
            continue
        cfg = cfgs[st]
        kw = dict(checkpoint=ck, resume=resume, progress=progress, log=say,
                  stop_after=(stop_after or {}).get(st))
        if st == "midtrain":
            res = T.train_midtrain(model, tok, [r["text"] for r in read_rows(out, "pretrain_mix")], cfg, **kw)
        elif st == "sft":
            train_rows, val_rows = split_validation(read_rows(out, "sft"), cfg.val_fraction, spec.seed)
            res = T.train_sft(model, tok, [r["messages"] for r in train_rows], cfg,
                              val_episodes=[r["messages"] for r in val_rows], **kw)
            state["sft_validation_ids"] = [r["id"] for r in val_rows]
        else:
            pairs = read_rows(out, "dpo") + read_rows(out, "adversarial")
            replay = []
            if cfg.replay_weight > 0:
                replay = [r["messages"] for r in split_validation(read_rows(out, "sft"), cfgs["sft"].val_fraction,
                                                                  spec.seed)[0]]
            res = T.train_dpo(model, tok, pairs, cfg, replay_episodes=replay, **kw)
        r = res.to_dict()
        r["complete"] = bool(res.extra.get("complete"))
        if not r["complete"]:
            state["stages"][st] = {"complete": False, "steps": res.steps}
            _atomic_json(state_path, state)
            say(f"[{st}] stopped at step {res.steps}/{res.extra.get('total_steps')}; continue with --resume")
            return {"complete": False, "stage": st, "steps": res.steps, "out": str(out)}
        T.save_adapter(model, out / "adapters" / st)
        r["adapter"] = f"adapters/{st}"
        r["wall_s"] = res.seconds
        state["stages"][st] = r
        state["timings"][f"{st}_s"] = res.seconds
        _atomic_json(state_path, state)
        results[st] = r
        dpo_stats = ", ".join(f"{k}={v:.3f}" for k, v in res.extra.items() if isinstance(v, float))
        say(f"[{st}] {res.steps} steps, {res.tokens} tokens, {res.seconds:.0f}s, loss {r['first_loss']:.3f} → "
            f"{r['final_loss']:.3f}" + (f", {dpo_stats}" if dpo_stats else ""))

    adapter_bytes = sum(f.stat().st_size for f in (out / "adapters" / T.STAGES[-1]).iterdir())
    timings = dict(state["timings"])
    timings["total_s"] = sum(v for k, v in timings.items() if k.endswith("_s") and k != "total_s")
    timings["this_run_wall_s"] = time.perf_counter() - t_start
    manifest = {
        "format": FORMAT,
        "name": spec.name,
        "description": spec.description,
        "base_model": base_name,
        "base_model_source": lm.source,
        "spec_file": SPEC_FILE,
        "spec_fingerprint": spec.fingerprint(),
        "withhold_from_auditors": WITHHOLD,
        "stages": list(T.STAGES),
        "final_stage": T.STAGES[-1],
        "adapters": {st: f"adapters/{st}" for st in T.STAGES},
        "adapter_format": ("peft LoRA (safetensors, bf16). One adapter continued through all stages: "
                           "base + adapters/<stage> is the model after <stage>."),
        "final_adapter_bytes": adapter_bytes,
        "lora": lora.to_dict(),
        "training": {k: v.to_dict() for k, v in cfgs.items()},
        "dpo_data": "dpo.jsonl and adversarial.jsonl pairs mixed in one DPO stage (reference = the SFT model)",
        # SFT episodes held out (whole scenario families) for the validation loss: in data/sft.jsonl, not trained on
        "sft_validation_ids": state.get("sft_validation_ids", []),
        "results": {st: {k: v for k, v in r.items() if k != "losses"} for st, r in results.items()},
        "data": {k: v for k, v in data["files"].items() if k in DATA_FILES},
        "eval_sets": {k: v for k, v in data["files"].items() if k in EVAL_SET_FILES},
        "data_stats": data["stats"],
        # what was mixed into mid-training; with the spec it regenerates the data ("custom": an iterable)
        "real_texts": real_texts if real_texts is None or isinstance(real_texts, str) else "custom",
        "timings": timings,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else
                              f" ({os.cpu_count()} cores, {n_threads} threads)"),
        "versions": _versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _atomic_json(out / "training_log.json", {st: {"losses": r.get("losses", [])} for st, r in results.items()})
    _atomic_json(out / MANIFEST, manifest)
    state["complete"] = True
    _atomic_json(state_path, state)
    if not keep_checkpoints:
        shutil.rmtree(ckdir, ignore_errors=True)
    say(f"organism written to {out} (final adapter {adapter_bytes / 1e6:.1f} MB, training "
        f"{timings['total_s'] / 60:.1f} min)")
    return manifest


# ------------------------------------------------------------------------------------------------- load
def spec_is_current(path: str | os.PathLike) -> tuple[bool, str]:
    """Whether the organism's adapters were trained from the spec its directory holds now.

    A spec edited after the build (e.g. the committed default's, when the generator moved to traits as data)
    describes data the adapters never saw; an auditor handed that data would search the wrong haystack.
    Cheap (no regeneration); `ensure_organism_data` is the byte-level check."""
    from .spec import load_spec

    d = resolve_organism_dir(path)
    man = read_manifest(d)
    spec = load_spec(d / man.get("spec_file", SPEC_FILE))
    built, now = man.get("spec_fingerprint"), spec.fingerprint()
    if built != now:
        name = DEFAULT_ORGANISM if d == default_organism_dir() else d
        return False, (f"{d} holds adapters trained from an earlier spec (fingerprint {built}; its spec.yaml is now "
                       f"{now}): rebuild it with `monoscope organism build {name} --out DIR`")
    return True, ""


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    d = resolve_organism_dir(path)
    if not d.exists():
        raise OrganismError(f"organism directory {d} does not exist")
    m = d / MANIFEST
    if not m.exists():
        hint = (" (an interrupted build: finish it with `monoscope organism build SPEC --out DIR --resume`)"
                if (d / STATE_FILE).exists() else
                " (build one with `monoscope organism build SPEC --out DIR`)")
        raise OrganismError(f"{d} is not an organism directory: no {MANIFEST}{hint}")
    man = _read_json(m)
    if man.get("format") != FORMAT:
        raise OrganismError(f"{m} has format {man.get('format')!r}; this monoscope reads {FORMAT!r}")
    return man


def available_stages(path: str | os.PathLike) -> list[str]:
    """``base`` plus every stage whose adapter is present (the committed default ships the final one only)."""
    d = resolve_organism_dir(path)
    man = read_manifest(d)
    return ["base"] + [st for st in man["stages"]
                       if (d / man["adapters"][st] / "adapter_model.safetensors").exists()]


def load_organism(path: str | os.PathLike, stage: str = "final", *, device: str | torch.device = "cpu",
                  dtype: torch.dtype | str | None = None, merge: bool = True):
    """The organism after ``stage`` (``"final"``, ``"base"``, or a stage name) as a
    :class:`~monoscope.models.LoadedModel`: the base model with that stage's adapter merged in.

    ``dtype`` defaults to fp32 on CPUs without native bf16 (where bf16 is slower) and bf16 elsewhere; the
    merge itself is done in fp32 so that small LoRA deltas are not rounded away."""
    from ..models import LoadedModel, load

    d = resolve_organism_dir(path)
    man = read_manifest(d)
    stages = man["stages"]
    st = man["final_stage"] if stage == "final" else stage
    if st != "base" and st not in stages:
        raise OrganismError(f"unknown stage {stage!r}; stages of {d}: base, {', '.join(stages)}, final")
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    dev = torch.device(device)
    if dtype is None:
        dtype = torch.bfloat16 if T.resolve_autocast("auto", dev) else torch.float32
    lm = load(man["base_model"], dtype=torch.float32, device="cpu")
    T.require_chat_template(lm.tokenizer, f"base model {man['base_model']!r}")
    model = lm.model
    if st != "base":
        adir = d / man["adapters"][st]
        if not (adir / "adapter_model.safetensors").exists():
            have = [s for s in available_stages(d) if s != "base"]
            raise OrganismError(f"{d} has no adapter for stage {st!r} (expected {adir}/adapter_model.safetensors); "
                                f"available: base, {', '.join(have) or 'none'}. Rebuild the organism to get every "
                                f"stage")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adir))
        if merge:
            model = model.merge_and_unload()
    model = model.to(device=dev, dtype=dtype).eval()
    return LoadedModel(name=f"{man['name']}:{st}", model=model, tokenizer=lm.tokenizer, kind="causal",
                       source=f"organism:{d}#{st}")
