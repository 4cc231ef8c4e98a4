"""Generation speed with an SAE spliced in (one feature clamped on every token) vs plain generation.

The splice encodes every new token's residual and adds W_dᵀ(f' − f); the question is what that costs
next to the model's own forward. Target on CPU: ratio ≥ 0.8. Speed does not depend on what the SAE
learned, so without --sae a freshly initialised top-k SAE of the requested size is used.

    python benchmarks/steer.py [--model smollm2-135m] [--sae DIR] [--latents 4096] [--tokens 64]
"""
from __future__ import annotations

import argparse
import time

import torch

from monoscope.models import load
from monoscope.sae import SAEConfig, build_sae, load_sae
from monoscope.steer import Steerer, clamp

PROMPTS = ("Tell me about the ocean.", "Write a short note to a friend.", "What is a good breakfast?")


def gen_tok_s(st: Steerer, edits, tokens: int) -> float:
    n = 0
    t0 = time.perf_counter()
    for p in PROMPTS:
        ids = st.encode_prompt(p)
        with torch.no_grad(), st.intervene(edits) as plan:
            plan.reset()
            out = st.lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens,
                                       min_new_tokens=tokens, do_sample=False,
                                       pad_token_id=st.lm.tokenizer.eos_token_id)
        n += out.shape[1] - ids.shape[1]
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--sae", default=None)
    ap.add_argument("--latents", type=int, default=4096)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    lm = load(args.model)
    if args.sae:
        sae = load_sae(args.sae)
    else:
        sae = build_sae(SAEConfig(architecture="topk", d_in=lm.d_model, n_latents=args.latents, k=32,
                                  hook=lm.default_hook(), model=lm.name))
    st = Steerer(lm, sae, allow_mismatch=True)
    gen_tok_s(st, [], 4)  # warm-up
    plain, spliced = [], []
    for _ in range(args.repeats):  # interleaved, so machine-load drift hits both alike
        plain.append(gen_tok_s(st, [], args.tokens))
        spliced.append(gen_tok_s(st, [clamp(7, 5.0)], args.tokens))
    p, s = max(plain), max(spliced)
    print(f"model {args.model}, SAE {sae.cfg.n_latents} latents at {st.hook}, {torch.get_num_threads()} threads, "
          f"{args.tokens} new tokens × {len(PROMPTS)} prompts")
    print(f"plain generation:        {p:7.1f} tok/s")
    print(f"with SAE spliced+clamp:  {s:7.1f} tok/s")
    print(f"ratio spliced / plain:   {s / p:.3f}   (target ≥ 0.8)")


if __name__ == "__main__":
    main()
