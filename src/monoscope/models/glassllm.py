"""Convert the pretrained GlassLM shipped in the `glassllm` wheel into an ordinary transformers model.

GlassLM (MIT, 4 layers, d_model 128, vocab 1,024, trained on Lewis Carroll) is the only real pretrained
causal LM small enough to load in every test, and PyPI is the only place we can fetch models from. Its
architecture (RMSNorm, RoPE, grouped-query attention, SwiGLU, tied embeddings) is exactly Llama's, so we
convert it into a `LlamaForCausalLM` directory once and from then on treat it like any hub model: the
hooks, harvesting, steering and audit code never learn that it came from NumPy.

Two details make the conversion exact rather than approximate:

* GlassLM rotates *adjacent* coordinate pairs (2i, 2i+1) by angle m·θ_i; Llama's `rotate_half` pairs
  coordinate i with i + d_k/2 at the same θ_i. Permuting the output rows of W_Q and W_K inside each head
  (even coordinates first, then odd) turns one convention into the other. Q and K get the same
  permutation, so q·k — and hence everything downstream — is unchanged; V and W_O are untouched.
* GlassLM's tokenizer is a rank-ordered character BPE over NFC text with spaces written as "▁" and
  chunks that merges cannot cross. The `tokenizers` BPE model with the same vocab, merges, normaliser and
  split regex gives the same ids, so `AutoTokenizer.from_pretrained(out)` reproduces `Tokenizer.encode`.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

# glassllm's own special tokens, at ids 0..3 (glassllm.tokenizer.SPECIALS).
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPACE = "▁"
CHUNK_PATTERN = r"\n|▁*[^▁\n]+|▁+"  # glassllm.tokenizer._CHUNK; merges never cross these chunks


def glassllm_files(lang: str = "en") -> tuple[Path, Path]:
    """The weights and tokenizer inside the installed wheel, found without importing the package.

    Not importing keeps conversion independent of glassllm's NumPy autograd code, which only the
    reference forward in the tests needs.
    """
    spec = importlib.util.find_spec("glassllm")
    if spec is None or not spec.submodule_search_locations:
        from .loading import ModelNotFoundError

        raise ModelNotFoundError("the embedded 'glassllm' model needs the Python package glassllm; "
                                 "install it with: pip install glassllm==0.1.0")
    base = Path(list(spec.submodule_search_locations)[0]) / "weights"
    weights, vocab = base / f"{lang}.npz", base / f"{lang}.tokenizer.json"
    if not (weights.is_file() and vocab.is_file()):
        from .loading import ModelNotFoundError

        raise ModelNotFoundError(f"glassllm is installed but {weights.name} / {vocab.name} are missing from {base}")
    return weights, vocab


def _rope_half_split(w: np.ndarray, n_heads: int, d_k: int) -> np.ndarray:
    """Reorder each head's output features from interleaved RoPE pairs to Llama's half-split layout.

    `w` is (in, heads·d_k) in GlassLM's x @ W convention; the result is the same matrix with columns
    permuted per head as [0, 2, 4, …, 1, 3, 5, …].
    """
    perm = np.concatenate([np.arange(0, d_k, 2), np.arange(1, d_k, 2)])
    d_in = w.shape[0]
    return w.reshape(d_in, n_heads, d_k)[:, :, perm].reshape(d_in, n_heads * d_k)


def build_hf_tokenizer(vocab_json: Path) -> PreTrainedTokenizerFast:
    """A `PreTrainedTokenizerFast` whose ids equal glassllm's `Tokenizer.encode` on any text.

    No special token is added on encode, because GlassLM was trained on raw windows of one token stream
    that never contained <bos>/<eos>; callers that want a document marker add `bos_token` themselves.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    data = json.loads(vocab_json.read_text(encoding="utf-8"))
    alphabet: list[str] = list(data["alphabet"])
    merges: list[tuple[str, str]] = [tuple(pair) for pair in data["merges"]]
    vocab_list = [PAD, UNK, BOS, EOS] + alphabet + [a + b for a, b in merges]
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    if len(vocab) != len(vocab_list):  # glassllm maps a duplicate string to its last id; BPE cannot
        raise ValueError(f"{vocab_json} has duplicate token strings; the BPE conversion would not be exact")

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=UNK, fuse_unk=False,
                               ignore_merges=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(" ", SPACE)])
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(CHUNK_PATTERN), behavior="isolated")
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.Fuse()])
    tok.add_special_tokens([PAD, UNK, BOS, EOS])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, unk_token=UNK,
                                   pad_token=PAD, add_bos_token=False, add_eos_token=False,
                                   clean_up_tokenization_spaces=False, model_max_length=128)


def build_llama(weights_npz: Path) -> LlamaForCausalLM:
    """The GlassLM weights as a float32 `LlamaForCausalLM` (fp16 on disk, widened exactly)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    with np.load(weights_npz) as data:
        cfg = json.loads(str(data["__config__"]))
        arrays = {k: data[k].astype(np.float32) for k in data.files if k != "__config__"}
    d, n_heads, n_kv = cfg["d_model"], cfg["n_heads"], cfg["n_kv_heads"]
    d_k = d // n_heads
    hidden = arrays["blocks.0.ffn.W1"].shape[1]
    config = LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=d, intermediate_size=hidden,
        num_hidden_layers=cfg["n_layers"], num_attention_heads=n_heads, num_key_value_heads=n_kv,
        head_dim=d_k, hidden_act="silu", max_position_embeddings=cfg["max_len"], rms_norm_eps=cfg["eps"],
        rope_parameters={"rope_type": "default", "rope_theta": float(cfg["rope_base"])},
        tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        bos_token_id=2, eos_token_id=3, pad_token_id=0, architectures=["LlamaForCausalLM"])
    config.dtype = torch.float32

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))

    state = {"model.embed_tokens.weight": t(arrays["E"]), "model.norm.weight": t(arrays["norm_f.gamma"])}
    for i in range(cfg["n_layers"]):
        p, q = f"blocks.{i}.", f"model.layers.{i}."
        state |= {
            q + "input_layernorm.weight": t(arrays[p + "norm1.gamma"]),
            q + "post_attention_layernorm.weight": t(arrays[p + "norm2.gamma"]),
            # GlassLM computes x @ W (in, out); nn.Linear stores (out, in).
            q + "self_attn.q_proj.weight": t(_rope_half_split(arrays[p + "attn.W_Q"], n_heads, d_k).T),
            q + "self_attn.k_proj.weight": t(_rope_half_split(arrays[p + "attn.W_K"], n_kv, d_k).T),
            q + "self_attn.v_proj.weight": t(arrays[p + "attn.W_V"].T),
            q + "self_attn.o_proj.weight": t(arrays[p + "attn.W_O"].T),
            q + "mlp.gate_proj.weight": t(arrays[p + "ffn.W1"].T),
            q + "mlp.up_proj.weight": t(arrays[p + "ffn.W3"].T),
            q + "mlp.down_proj.weight": t(arrays[p + "ffn.W2"].T),
        }
    torch.manual_seed(0)  # the random init is overwritten below; seeding only keeps builds reproducible
    model = LlamaForCausalLM(config)
    result = model.load_state_dict(state, strict=False)
    model.tie_weights()
    if result.unexpected_keys or set(result.missing_keys) - {"lm_head.weight"}:
        raise ValueError(f"GlassLM conversion mismatch: missing {result.missing_keys}, "
                         f"unexpected {result.unexpected_keys}")
    if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        raise ValueError("GlassLM ties its embeddings, but the converted lm_head is not tied")
    return model.eval()


def build_glassllm(out: Path) -> None:
    """Write the converted model and tokenizer into `out` (the caller renames it into the cache atomically).

    <bos>/<eos>/<pad> are glassllm's own specials (ids 2/3/0). The model never saw them in training, so
    the tokenizer never inserts them; they are declared so that callers which prepend a document marker
    or pad a batch have one. Prepending <bos> is harmless, even slightly helpful, since position 0 serves
    as an attention sink whatever it holds (on the opening of *Alice*: 3.80 → 3.74 nats/token). As in
    any HF tokenizer, the literal text "<bos>" encodes to the special id, where glassllm, which has no
    way to write a special in text, would spell it out character by character.
    """
    weights, vocab_json = glassllm_files("en")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = build_llama(weights)
    tokenizer = build_hf_tokenizer(vocab_json)
    if len(tokenizer) != model.config.vocab_size:
        raise ValueError(f"glassllm tokenizer has {len(tokenizer)} tokens but the model {model.config.vocab_size}")
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
