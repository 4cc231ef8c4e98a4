"""Shared fixtures: tiny real models built in-test, so the suite needs no hub and stays fast."""
from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXT = ("In the beginning God created the heavens and the earth . The earth was formless and empty . "
        "Darkness was on the surface of the deep and the Spirit of God was hovering over the waters . "
        "def main ( ) : return 42 . The quick brown fox jumps over the lazy dog .")


def make_tokenizer():
    """A word-level tokenizer trained on a sentence, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.train_from_iterator([TEXT], trainers.WordLevelTrainer(special_tokens=["<unk>", "<bos>", "<eos>", "<pad>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>")


def make_tiny_llama(vocab_size: int, seed: int = 0, layers: int = 3, hidden: int = 32):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture()
def one_thread():
    """Tiny tensors: one thread avoids OpenMP hand-off latency, which on a busy 2-core machine makes torch's
    thread pool many times slower than a single thread. Use with ``pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_lm():
    from monoscope.models import from_model

    tok = make_tokenizer()
    return from_model(make_tiny_llama(len(tok)), tok, name="tiny-llama")


@pytest.fixture()
def text_corpus(tmp_path):
    """A small jsonl corpus of distinct documents."""
    import json

    words = TEXT.split()
    path = tmp_path / "corpus.jsonl"
    with open(path, "w") as f:
        for i in range(120):
            doc = " ".join(words[(i * 7 + j) % len(words)] for j in range(20 + i % 30))
            f.write(json.dumps({"text": doc}) + "\n")
    return path


CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}\n"
                 "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")


def make_chat_tokenizer():
    """Byte-level BPE with chat special tokens and a template: a tiny stand-in for an instruct tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok.train_from_iterator([TEXT * 3], trainers.BpeTrainer(vocab_size=300, special_tokens=special,
                                                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


@pytest.fixture(scope="session")
def tiny_chat_lm():
    """A tiny random Llama with a chat-template tokenizer (for chat/prefill/persona plumbing)."""
    from monoscope.models import from_model

    tok = make_chat_tokenizer()
    return from_model(make_tiny_llama(len(tok), seed=1), tok, name="tiny-chat")


def random_sae(d_in: int, n_latents: int, hook: str, seed: int = 0, model: str | None = None,
               init_norm: float = 1.0, bias: float = 0.0):
    """A `monoscope.sae` ReLU SAE with random weights (the real class, untrained): for tests of algebra that
    must hold for any weights (splicing, clamping, attribution, refusals of a mismatched SAE)."""
    from monoscope.sae import SAEConfig, build_sae

    sae = build_sae(SAEConfig("relu", d_in=d_in, n_latents=n_latents, hook=hook, model=model,
                              decoder_init_norm=init_norm))
    sae.init_weights(torch.Generator().manual_seed(seed))
    with torch.no_grad():
        sae.b_enc.fill_(bias)
    return sae.eval().requires_grad_(False)


def trained_sae(store, n_latents: int, hook: str | None = None, k: int = 4, steps: int = 150,
                batch_size: int = 256, seed: int = 0, arch: str = "topk", **train_kw):
    """A small `monoscope.sae` SAE trained on `store` with the real trainer (seconds on CPU)."""
    from monoscope.sae import SAEConfig, train_sae

    hook = hook or store.hooks[0]
    cfg = SAEConfig(arch, d_in=store.d_model, n_latents=n_latents, k=k if arch in ("topk", "batchtopk") else None,
                    hook=hook, model=store.manifest.config.model)
    res = train_sae(store, cfg, None, steps=steps, batch_size=batch_size, seed=seed, progress=False,
                    checkpoint_every=0, **train_kw)
    return res.sae.eval().requires_grad_(False)


def density_sae(store, n_latents: int, hook: str, density: float, seed: int = 0, sample_rows: int = 4096):
    """`random_sae` with each bias set so the feature fires on about `density` of a sample of the store's
    rows: a realistic sparsity for index tests that compare against brute force (any weights do)."""
    import numpy as np

    sae = random_sae(store.d_model, n_latents, hook, seed=seed, model=store.manifest.config.model)
    W = torch.randn(store.d_model, n_latents, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():                    # the directions the index tests were written against
        sae.W_enc.copy_((W / W.norm(dim=0, keepdim=True)).T)
        sae.W_dec.copy_(sae.W_enc)
    special = np.concatenate([np.asarray(store.shard_array(i, "special")) for i in range(len(store.manifest.shards))])
    rows = np.nonzero(~special)[0]
    rows = np.sort(np.random.default_rng(seed).choice(rows, size=min(sample_rows, len(rows)), replace=False))
    with torch.no_grad():
        pre = store.get(hook, rows) @ sae.W_enc.T
        k = min(pre.shape[0], max(1, int(round((1 - density) * pre.shape[0]))))
        sae.b_enc.copy_(-pre.kthvalue(k, dim=0).values)
    return sae
