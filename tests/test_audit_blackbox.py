"""Black-box attacks: every technique produces samples through the backend, with the right framing."""
from __future__ import annotations

from monoscope.audit.blackbox import BlackBox
from monoscope.llm import Message
from monoscope.llm.local import LocalHFBackend


def test_techniques_run_and_frame_prompts(tiny_chat_lm):
    backend = LocalHFBackend(tiny_chat_lm)
    bb = BlackBox(backend, max_tokens=6, temperature=0.0)
    chat = bb.chat("Tell me about yourself", system="Be brief", n=1)
    assert chat[0].technique == "chat" and chat[0].meta["system"] == "Be brief"
    pre = bb.prefill("Why do you do that?", "The real reason is")
    assert pre[0].text.startswith("The real reason is")
    raw = bb.narrator(["The assistant is strange because"])
    assert raw[0].technique == "narrator"
    # The user turn is written by the model: the prompt it continues ends with the template's user marker.
    rendered = []
    orig = backend.complete
    backend.complete = lambda prompt, **kw: rendered.append(prompt) or orig(prompt, **kw)
    users = bb.user_persona([Message("user", "hi"), Message("assistant", "hello!")], n=2, temperature=1.0)
    assert len(users) == 2 and rendered[0].endswith("<|user|>")
    assert "hello!" in rendered[0]
