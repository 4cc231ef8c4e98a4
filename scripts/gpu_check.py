"""The GPU checks of issue #13, in one run of at most ~8 minutes on an H200, so it can be rerun once.

Prepare (here, where the embedded model is cached; the weights cannot travel — 64 MiB limit — so the GPU runs
use SmolLM2-135M's exact architecture and tokenizer with random weights, which is what throughput depends on;
nothing can be fetched there, so eai-sparsify travels as wheels):

    python scripts/gpu_check.py --prepare   # writes .gpu/ (git-ignored, ~5 MB): config, tokenizer, wheels

Run on the GPU machine (device tool: carry [".gpu"]):

    PYTHONUNBUFFERED=1 PYTHONPATH=src python3 scripts/gpu_check.py --out $OUT/gpu_check.json

Sections, each recorded in the JSON as ok / fail (with the error) / skipped, written after every section so a
timeout keeps what finished:

 1. machine       nvidia-smi, torch / CUDA / Triton / transformers versions
 2. kernels       Triton sparse kernels vs the eager path: forward and backward of the two primitives and of a
                  whole top-k SAE step (d=2304, n=65,536, k=64, batch 4096), max relative error ≤ 1e-4 (fp32)
 3. sae_train     benchmarks/sae_train.py at d=2304, n=65,536, k=64, batch 4096: tokens/s of the monoscope
                  trainer and of the plain PyTorch loop, the fraction of the bf16 roofline measured in the same
                  run (target ≥ 1.0M tokens/s), and eai-sparsify's SparseCoder step on the same batches when the
                  package is importable (carry its wheel in .whl: none can be fetched there)
 4. streaming     benchmarks/streaming.py on SmolLM2-shaped layers 0..15 (resid_post.15, d=576): streaming
                  training vs its bare forward and vs train-alone, and 3 SAEs per pass vs 3 runs
 5. attribute     `monoscope attribute` on CUDA with an SAE trained in section 4's way (a crash is a fail)

Exit status 1 if any section failed (or there is no GPU, unless --allow-cpu: then the CPU-fallback paths run at
small sizes, which is how this script is checked on a machine without one).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREP = ROOT / ".gpu"
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
# eai-sparsify and what the GPU image lacks of its needs (pure-Python wheels, ~1.1 MB together)
SPARSIFY_WHEELS = ("eai-sparsify==1.3.3", "datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19",
                   "schedulefree==1.4.1", "simple-parsing==0.1.9", "docstring-parser==0.18.0", "natsort==8.4.0")


def prepare() -> None:
    """Copy SmolLM2-135M's config and tokenizer (not its weights) from the local model cache into .gpu/."""
    sys.path.insert(0, str(ROOT / "src"))
    from monoscope.models import load

    lm = load("smollm2-135m")
    src = Path(lm.source) if Path(str(lm.source)).is_dir() else None
    if src is None:
        from monoscope.models.loading import cache_dir

        src = next(p for p in (cache_dir() / "models").iterdir() if p.name.startswith("smollm2-135m"))
    dst = PREP / "smollm2-135m-shape"
    dst.mkdir(parents=True, exist_ok=True)
    for f in MODEL_FILES:
        if (src / f).exists():
            shutil.copy(src / f, dst / f)
    whl = PREP / "whl"
    whl.mkdir(exist_ok=True)
    for req in SPARSIFY_WHEELS:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux2014_x86_64",
                            "-d", str(whl), req], capture_output=True, text=True)
        print(f"{req}: {'ok' if r.returncode == 0 else 'FAILED ' + r.stderr.strip().splitlines()[-1]}")
    print(f"wrote {dst} ({', '.join(sorted(p.name for p in dst.iterdir()))}) and {whl} "
          f"({len(list(whl.glob('*.whl')))} wheels); carry '.gpu' to the GPU machine")


def install_carried_wheels() -> str:
    """pip-install .gpu/whl into /tmp/site (no registry there) and put it on the path; '' if nothing to do."""
    whl = sorted((PREP / "whl").glob("*.whl"))
    if not whl:
        return ""
    site = "/tmp/monoscope-site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", site, *map(str, whl)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"pip install of the carried wheels failed: {r.stderr.strip().splitlines()[-1:]}"
    sys.path.append(site)
    return f"installed {len(whl)} carried wheels into {site}"


# ---- helpers -----------------------------------------------------------------------------------------
class Report:
    def __init__(self, path: Path):
        self.path, self.data = path, {"sections": {}, "started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def run(self, name: str, fn, *args) -> None:
        t0 = time.perf_counter()
        print(f"\n=== {name} ===", flush=True)
        try:
            res = fn(*args)
            status = res.pop("status", "ok") if isinstance(res, dict) else "ok"
            self.data["sections"][name] = {"status": status, **(res or {})}
        except Exception as e:  # noqa: BLE001 - every failure is recorded and reported loudly
            traceback.print_exc()
            self.data["sections"][name] = {"status": "fail", "error": f"{type(e).__name__}: {e}"}
        self.data["sections"][name]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"--- {name}: {self.data['sections'][name]['status'].upper()} "
              f"({self.data['sections'][name]['seconds']} s)", flush=True)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1, default=str))


def sh(cmd: list[str], timeout: int) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    out = p.stdout + p.stderr
    print(out[-4000:], flush=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} … exited with {p.returncode}: {out.strip().splitlines()[-1:]}")
    return p.stdout


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    if m is None:
        raise RuntimeError(f"no match for {pattern!r} in the benchmark output")
    return float(m.group(1).replace(",", ""))


# ---- sections ----------------------------------------------------------------------------------------
def machine() -> dict:
    import torch

    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    try:
        import transformers
        import triton

        info.update(triton=triton.__version__, transformers=transformers.__version__)
    except ImportError as e:
        info["import_error"] = str(e)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1)
        try:
            info["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                                 "--format=csv,noheader"], capture_output=True, text=True,
                                                timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            info["nvidia_smi"] = f"unavailable: {e}"
    print(json.dumps(info, indent=1))
    return info


def kernels(cuda: bool, big: bool) -> dict:
    """Triton vs eager on the same inputs: the primitives and a whole SAE forward + backward."""
    import torch

    from monoscope.sae import SAEConfig, build_sae
    from monoscope.sae import sparse

    if not cuda:
        return {"status": "skipped", "why": "no CUDA: the Triton kernels only run on a GPU (eager path tested by "
                                            "the suite)"}
    if not sparse.HAVE_TRITON:
        raise RuntimeError("triton is not importable on this GPU machine")
    d, n, k, B = (2304, 65536, 64, 4096) if big else (256, 4096, 16, 512)
    dev = torch.device("cuda")
    g = torch.Generator(device="cpu").manual_seed(0)
    out: dict = {"d": d, "n": n, "k": k, "batch": B}

    def rel(a, b):
        return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-12))

    # primitives: segment_gather_sum and gather_dot against dense references
    table = torch.randn(n, d, generator=g).to(dev)
    idx = torch.randint(0, n, (B * k,), generator=g).to(dev)
    w = torch.randn(B * k, generator=g).to(dev)
    offs = torch.arange(0, B * k, k, device=dev)
    errs = {}
    for backend in ("eager", "triton"):
        sparse.set_backend(backend)
        errs[backend] = sparse.segment_gather_sum(table, idx, w, offs, B)
    ref = (table[idx] * w[:, None]).reshape(B, k, d).sum(1)
    out["segment_gather_sum_rel_err"] = {b: rel(v, ref) for b, v in errs.items()}
    # a whole top-k SAE step, forward and backward, fp32
    cfg = SAEConfig("topk", d_in=d, n_latents=n, k=k)
    x = torch.randn(B, d, generator=g).to(dev)
    res = {}
    for backend in ("eager", "triton"):
        sparse.set_backend(backend)
        sae = build_sae(cfg).init_weights(torch.Generator().manual_seed(0)).to(dev)
        o = sae(x, normalized=True, dead_mask=torch.ones(n, dtype=torch.bool, device=dev), aux_k=d // 2,
                aux_coeff=1 / 32, n_dead=n)
        o.loss.backward()
        res[backend] = {"recon": o.recon.detach(), "loss": o.loss.detach(),
                        **{f"grad_{p}": getattr(sae, p).grad.detach() for p in ("W_enc", "b_enc", "W_dec", "b_dec")}}
        torch.cuda.synchronize()
    sparse.set_backend("auto")
    out["sae_step_rel_err"] = {key: rel(res["triton"][key], res["eager"][key]) for key in res["eager"]}
    worst = max(max(out["segment_gather_sum_rel_err"].values()), max(out["sae_step_rel_err"].values()))
    out["max_rel_err"] = worst
    print(json.dumps(out, indent=1))
    if not worst <= 1e-4:
        raise RuntimeError(f"Triton and eager differ by {worst:.2e} (relative), above 1e-4")
    return out


def sae_train(cuda: bool, big: bool) -> dict:
    args = ["--device", "cuda" if cuda else "cpu"] + (["--d", "2304", "--n", "65536", "--k", "64", "--batch", "4096",
                                                       "--steps", "20", "--rounds", "2"] if big else
                                                      ["--d", "64", "--n", "1024", "--k", "8", "--batch", "256",
                                                       "--steps", "2", "--rounds", "1"])
    text = sh([sys.executable, "benchmarks/sae_train.py", *args], timeout=300)
    res = {"args": " ".join(args),
           "monoscope_tok_s": number(r"monoscope trainer\s*:\s*([\d,]+)", text),
           "plain_tok_s": number(r"plain PyTorch loop\s*:\s*([\d,]+)", text),
           "roofline_tok_s": number(r"roofline ([\d,]+) tokens/s", text),
           "matmul_peak_gflops": number(r"matmul peak measured: ([\d,.]+) GFLOP/s", text)}
    res["fraction_of_roofline"] = res["monoscope_tok_s"] / res["roofline_tok_s"]
    res["target_1M_tok_s_met"] = res["monoscope_tok_s"] >= 1e6
    res["sparsify"] = sparsify_step(cuda, big)
    print(json.dumps(res, indent=1))
    return res


def sparsify_step(cuda: bool, big: bool) -> dict:
    """eai-sparsify's SparseCoder trained the way its Trainer does (Adam, fvu + AuxK, decoder kept unit norm)."""
    try:
        from sparsify import SparseCoder, SparseCoderConfig
    except ImportError as e:
        return {"status": "not installed", "why": f"{e}; no registry is reachable from the GPU machine: carry the "
                                                   f"eai-sparsify wheel (and its missing needs) in .whl"}
    import torch

    d, n, k, B, steps = (2304, 65536, 64, 4096, 20) if big else (64, 1024, 8, 256, 2)
    dev = torch.device("cuda" if cuda else "cpu")
    sae = SparseCoder(d, SparseCoderConfig(num_latents=n, k=k), device=dev)
    opt = torch.optim.Adam(sae.parameters(), lr=2e-4)
    xs = [torch.randn(B, d, device=dev) for _ in range(4)]
    dead = torch.zeros(n, dtype=torch.bool, device=dev)

    def step(x):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
            out = sae(x, dead_mask=dead)
        loss = out.fvu + out.auxk_loss / 32
        loss.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sae.set_decoder_norm_to_unit_norm()

    for i in range(2):
        step(xs[i % 4])
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        step(xs[i % 4])
    if cuda:
        torch.cuda.synchronize()
    import sparsify

    return {"status": "ok", "version": getattr(sparsify, "__version__", "?"),
            "tok_s": steps * B / (time.perf_counter() - t0)}


def model_dir(cuda: bool) -> Path:
    """SmolLM2-135M's architecture with random weights (bf16 on a GPU), saved once under /tmp."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src = PREP / "smollm2-135m-shape"
    if not (src / "config.json").exists():
        raise RuntimeError(f"{src} is missing: run `python scripts/gpu_check.py --prepare` where the embedded model "
                           f"is cached and carry '.gpu'")
    dst = Path("/tmp/monoscope-smollm2-shape")
    if not (dst / "config.json").exists():
        cfg = AutoConfig.from_pretrained(src)
        torch.manual_seed(0)
        m = AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16 if cuda else torch.float32)
        m.save_pretrained(dst)
        AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst


def streaming(cuda: bool, big: bool) -> dict:
    model = model_dir(cuda)
    js = Path("/tmp/monoscope-streaming.json")
    args = ["--model", str(model), "--hooks", "resid_post.15", "--device", "cuda" if cuda else "cpu", "--json", str(js)]
    args += (["--tokens", "1048576", "--batch", "4096", "--latents", "16384", "--k", "32", "--model-batch", "64",
              "--buffer-tokens", "262144", "--repeats", "2", "--n-saes", "3"] if big else
             ["--tokens", "2048", "--batch", "256", "--latents", "512", "--k", "8", "--buffer-tokens", "4096",
              "--repeats", "1", "--n-saes", "2", "--context-len", "64"])
    sh([sys.executable, "benchmarks/streaming.py", *args], timeout=300)
    res = json.loads(js.read_text())
    res["weights"] = "random (SmolLM2-135M architecture and tokenizer); throughput does not depend on the weights"
    res["target_0.85_met"] = res["ratio_vs_slower"] >= 0.85
    return res


def attribute(cuda: bool, big: bool) -> dict:
    model = model_dir(cuda)
    sae = Path("/tmp/monoscope-gpu-sae")
    if sae.exists():
        shutil.rmtree(sae)
    dev = "cuda" if cuda else "cpu"
    sh([sys.executable, "-m", "monoscope", "train", "--model", str(model), "--hooks", "resid_post.15", "--latents",
        "4608", "--k", "32", "--tokens", "262144" if big else "4096", "--batch-size", "4096" if big else "256",
        "--buffer-tokens", "65536" if big else "4096", "--norm-tokens", "16384" if big else "1024", "--device", dev,
        "--out", str(sae), "--no-progress"], timeout=240)
    text = sh([sys.executable, "-m", "monoscope", "attribute", "Fact: The capital of France is", "--good", " Paris",
               "--bad", " Rome", "--sae", str(sae), "--model", str(model), "--device", dev, "--top", "10"], timeout=120)
    return {"device": dev, "output_tail": text[-1500:], "correlation_line": next(
        (line for line in text.splitlines() if "correlation" in line), None)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepare", action="store_true", help="write .gpu/ here (config + tokenizer), then stop")
    ap.add_argument("--out", default=str(ROOT / "runs" / "gpu_check.json"))
    ap.add_argument("--allow-cpu", action="store_true", help="without a GPU: run the CPU-fallback paths at small sizes")
    ap.add_argument("--only", default="", help="comma-separated sections (default: all)")
    a = ap.parse_args()
    if a.prepare:
        prepare()
        return 0
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        print(install_carried_wheels() or "no carried wheels (.gpu/whl): eai-sparsify only if already installed")
    if not cuda and not a.allow_cpu:
        print("FAIL: no CUDA device (torch.cuda.is_available() is False); --allow-cpu runs the CPU paths",
              file=sys.stderr)
        return 1
    big = cuda
    rep = Report(Path(a.out))
    sections = {"machine": (machine,), "kernels": (kernels, cuda, big), "sae_train": (sae_train, cuda, big),
                "streaming": (streaming, cuda, big), "attribute": (attribute, cuda, big)}
    chosen = [s for s in a.only.split(",") if s] or list(sections)
    for name in chosen:
        fn, *args = sections[name]
        rep.run(name, fn, *args)
    failed = [n for n, s in rep.data["sections"].items() if s["status"] == "fail"]
    rep.data["failed"] = failed
    rep.save()
    print(f"\nresults: {a.out}\n" + ("ALL SECTIONS OK" if not failed else f"FAILED: {', '.join(failed)}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
