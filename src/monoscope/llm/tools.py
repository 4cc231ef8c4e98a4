"""Tool calling for models without a native tool format: a JSON-in-text protocol.

The protocol (used by :class:`~monoscope.llm.local.LocalHFBackend`, and so by ``monoscope serve-llm``):

1. The tool list is described in the system message (appended to the caller's system message, or as a
   new first system message)::

       You can call tools. ... Available tools:
       {"name": "search", "description": "...", "parameters": {...JSON schema...}}
       To call a tool, write one line per call, exactly like:
       <tool_call>{"name": "search", "arguments": {"query": "..."}}</tool_call>

2. The model's reply is parsed for ``<tool_call>{json}</tool_call>`` blocks (a missing closing tag at the
   end of the reply is tolerated). Text before the first block is the reply's ``content``. A block that
   is not valid JSON with a string ``name`` is left in the content and not returned as a call.
3. History is rendered back in the same form: an assistant turn with tool calls becomes its text plus its
   ``<tool_call>`` lines; tool results (``role="tool"``) become a user turn of
   ``<tool_result id="ID" name="NAME">...</tool_result>`` blocks (chat templates of small models rarely
   know a ``tool`` role).
4. ``tool_choice="required"`` prefills ``<tool_call>{"name": "``; ``tool_choice={"name": X}`` prefills
   ``<tool_call>{"name": "X", "arguments": {"FIRST_ARG": `` (required arguments first) so even a small
   model produces a parseable call;
   ``"none"`` keeps the tools out of the prompt.
"""
from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from .base import ChatResponse, Message, Tool, ToolCall, tool_choice_name

if TYPE_CHECKING:  # pragma: no cover
    from .base import ChatBackend

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BLOCK = re.compile(re.escape(OPEN) + r"(.*?)(?:" + re.escape(CLOSE) + r"|$)", re.S)


def new_call_id() -> str:
    return "call_" + secrets.token_hex(6)


def tools_system_prompt(tools: list[Tool]) -> str:
    lines = ["You can call tools. Available tools (name, description, JSON schema of the arguments):"]
    for t in tools:
        lines.append(json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters},
                                ensure_ascii=False))
    example = tools[0]
    example_args = {k: "..." for k in _arg_names(example)[:2]}
    lines += ["To call a tool, write one line per call, exactly like:",
              OPEN + json.dumps({"name": example.name, "arguments": example_args}, ensure_ascii=False) + CLOSE,
              "and write nothing after your calls. Results come back as "
              '<tool_result id="..." name="TOOL_NAME">...</tool_result>. '
              "If no tool is needed, answer normally."]
    return "\n".join(lines)


def _arg_names(tool: Tool) -> list[str]:
    """Argument names, required ones first."""
    props = list((tool.parameters or {}).get("properties", {}) or {})
    req = [r for r in (tool.parameters or {}).get("required", []) or [] if r in props]
    return req + [p for p in props if p not in req]


def forced_prefill(tool: Tool) -> str:
    """The start of a call to ``tool``, up to its first argument's value when it has arguments."""
    names = _arg_names(tool)
    head = OPEN + '{"name": ' + json.dumps(tool.name) + ', "arguments": {'
    return head + json.dumps(names[0]) + ": " if names else head


def format_call(call: ToolCall) -> str:
    return OPEN + json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False) + CLOSE


def _escape_attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;")


def render_for_text_tools(messages: list[Message], tools: list[Tool] | None) -> list[Message]:
    """Rewrite a conversation with tool turns into plain system/user/assistant messages."""
    out: list[Message] = []
    if tools:
        sys_text = tools_system_prompt(tools)
        if messages and messages[0].role == "system":
            out.append(Message("system", messages[0].content.rstrip() + "\n\n" + sys_text))
            messages = messages[1:]
        else:
            out.append(Message("system", sys_text))
    names: dict[str, str] = {}
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append(Message("user", "\n".join(pending)))
            pending.clear()

    for m in messages:
        if m.role == "tool":
            name = m.name or names.get(m.tool_call_id or "", "")
            pending.append(f'<tool_result id="{_escape_attr(m.tool_call_id or "")}" '
                           f'name="{_escape_attr(name)}">{m.content}</tool_result>')
            continue
        flush()
        if m.role == "assistant" and m.tool_calls:
            for c in m.tool_calls:
                names[c.id] = c.name
            text = "\n".join(([m.content] if m.content else []) + [format_call(c) for c in m.tool_calls])
            out.append(Message("assistant", text))
        else:
            out.append(Message(m.role, m.content))
    flush()
    return out


def parse_tool_calls(text: str, tool_names: set[str] | None = None) -> tuple[str, list[ToolCall]]:
    """Split a reply into (content before the first call, parsed calls)."""
    calls: list[ToolCall] = []
    first = None
    for match in _BLOCK.finditer(text):
        body = match.group(1).strip()
        start = body.find("{")
        if start < 0:
            continue
        try:
            obj, _ = json.JSONDecoder().raw_decode(body[start:])
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            continue
        if tool_names is not None and obj["name"] not in tool_names:
            continue
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                args = {"_raw": args}
        if not isinstance(args, dict):
            args = {"value": args}
        calls.append(ToolCall(name=obj["name"], arguments=args, id=new_call_id()))
        if first is None:
            first = match.start()
    content = text if first is None else text[:first]
    return content.strip(), calls


def chat_with_text_tools(backend: "ChatBackend", messages: list[Message], tools: list[Tool], *,
                         tool_choice: Any, max_tokens: int, temperature: float, seed: int | None,
                         stop: list[str]) -> ChatResponse:
    forced = tool_choice_name(tool_choice)
    if forced is not None and forced not in {t.name for t in tools}:
        raise ValueError(f"tool_choice names {forced!r}, which is not among the tools "
                         f"{[t.name for t in tools]}")
    if tool_choice not in ("auto", "none", "required", None) and forced is None:
        raise ValueError(f"tool_choice must be 'auto', 'none', 'required' or {{'name': ...}}, "
                         f"got {tool_choice!r}")
    use_tools = tool_choice != "none" and bool(tools)
    rendered = render_for_text_tools(messages, tools if use_tools else None)
    prefill = None
    if use_tools and forced is not None:
        prefill = forced_prefill(next(t for t in tools if t.name == forced))
    elif use_tools and tool_choice == "required":
        prefill = OPEN + '{"name": "'
    if not backend.supports_prefill:
        prefill = None
    comp = backend.generate_chat(rendered, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                 seed=seed, prefill=prefill, n=1)[0]
    text = (prefill or "") + comp.text
    if not use_tools:
        return ChatResponse(content=text, finish_reason=comp.finish_reason, raw=text)
    content, calls = parse_tool_calls(text, {t.name for t in tools})
    return ChatResponse(content=content if calls else text, tool_calls=calls,
                        finish_reason="tool_calls" if calls else comp.finish_reason, raw=text)
