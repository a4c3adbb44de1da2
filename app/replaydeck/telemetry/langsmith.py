"""LangSmith runs (what LangChain, LangGraph and the LangSmith SDKs export) → events.

Each run, as far as one request knows it (replaydeck.telemetry.langsmith_runs), maps
on its own to events whose ids derive from the run's id, so a piece sent twice stores
nothing new. See README, "LangChain and LangGraph".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from replaydeck.errors import InvalidEvent
from replaydeck.events import format_ts
from replaydeck.telemetry.content import content_text
from replaydeck.telemetry.langsmith_runs import Run, run_time

# A long answer becomes at most this many deltas (words are grouped beyond it).
MAX_DELTAS = 256
_WORDS = re.compile(r"\S*\s*")
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*: .*")


# -- what a run says --------------------------------------------------------------------


def _kwargs(message: Any) -> dict[str, Any]:
    """A LangChain message as a plain dict, serialized (lc constructor) or not."""
    if not isinstance(message, dict):
        return {}
    kwargs = message.get("kwargs")
    if message.get("lc") == 1 and isinstance(kwargs, dict):
        kind = message.get("id")
        role = str(kind[-1]) if isinstance(kind, list) and kind else ""
        return {"_class": role, **kwargs}
    return message


def _generation(run: Run) -> dict[str, Any]:
    generations = (run.outputs or {}).get("generations")
    while isinstance(generations, list) and generations:
        generations = generations[0]
    return generations if isinstance(generations, dict) else {}


def output_text(run: Run) -> str:
    """The text a model run produced."""
    outputs = run.outputs or {}
    generation = _generation(run)
    if generation:
        message = _kwargs(generation.get("message"))
        text = content_text(message.get("content")) if message else ""
        return text or content_text(generation.get("text"))
    choices = outputs.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0].get("message")
        if isinstance(choice, dict):
            return content_text(choice.get("content"))
    for name in ("content", "output", "text"):
        if isinstance(outputs.get(name), str | list):
            return content_text(outputs[name])
    return ""


_USAGE_NAMES = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens"}


def _counts(usage: Any) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    return {
        _USAGE_NAMES.get(str(name), str(name)): value
        for name, value in usage.items()
        if isinstance(value, int) and not isinstance(value, bool)
    }


def usage_of(run: Run) -> dict[str, int]:
    """Token counts of a model run, under OpenTelemetry's names (input_/output_tokens)."""
    outputs = run.outputs or {}
    message = _kwargs(_generation(run).get("message"))
    llm_output = outputs.get("llm_output")
    for candidate in (
        run.metadata.get("usage_metadata"),
        message.get("usage_metadata"),
        outputs.get("usage_metadata"),
        outputs.get("usage"),
        llm_output.get("token_usage") if isinstance(llm_output, dict) else None,
    ):
        counts = _counts(candidate)
        if counts:
            return counts
    return {}


def sum_usage(usages: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for usage in usages:
        for name, value in _counts(dict(usage)).items():
            total[name] = total.get(name, 0) + value
    return total


def _token_events(run: Run) -> list[tuple[int, str | None]]:
    """(time, token text if the SDK kept it) of each streamed token, in time order."""
    tokens: list[tuple[int, str | None]] = []
    for event in run.events:
        if not isinstance(event, dict) or event.get("name") != "new_token":
            continue
        try:
            at = run_time(event.get("time"), "events.time", "A new_token event")
        except InvalidEvent:
            continue  # one odd token time must not cost the run's text
        if at is None:
            continue
        kwargs = event.get("kwargs")
        token = kwargs.get("token") if isinstance(kwargs, dict) else None
        tokens.append((at, token if isinstance(token, str) else None))
    return sorted(tokens, key=lambda token: token[0])


def _groups(words: Sequence[str], count: int) -> list[str]:
    """`words` joined into `count` consecutive pieces of about equal length."""
    size = len(words)
    return ["".join(words[k * size // count : (k + 1) * size // count]) for k in range(count)]


def timed_text(run: Run) -> list[tuple[int | None, str, bool]]:
    """(time, text, recorded) pieces of a model run's answer.

    The SDKs keep the time of streamed tokens but not always their text: Python's
    LangChain tracer sends only the first token's time, the JS one every token's time
    without the token. So the text is laid over what was recorded: each token's own
    text and time when present; else the words spread over the recorded token times,
    from the first token to the run's end (`recorded` is False for those).
    """
    text = output_text(run)
    tokens = _token_events(run)
    if tokens and all(token is not None for _, token in tokens):
        return [(at, token or "", True) for at, token in tokens if token]
    if not text:
        return []
    if not tokens:
        return [(run.end_us, text, True)]
    words = [word for word in _WORDS.findall(text) if word]
    times = [at for at, _ in tokens]
    end = max(run.end_us or times[-1], times[-1])
    if len(times) == 1:
        count = min(len(words), MAX_DELTAS)
        first = times[0]
        times = [first + (end - first) * k // max(count - 1, 1) for k in range(count)]
    elif len(times) > MAX_DELTAS:
        times = [times[k * len(times) // MAX_DELTAS] for k in range(MAX_DELTAS)]
    count = min(len(times), len(words))
    pieces = _groups(words, count)
    step = len(times) / count
    return [(times[int(k * step)], piece, False) for k, piece in enumerate(pieces) if piece]


def _tool_args(run: Run) -> dict[str, Any]:
    inputs = run.inputs or {}
    # LangChain JS sends a tool's input as one JSON string.
    if set(inputs) == {"input"} and isinstance(inputs["input"], str):
        try:
            parsed = orjson.loads(inputs["input"])
        except orjson.JSONDecodeError:
            return inputs
        return parsed if isinstance(parsed, dict) else inputs
    return inputs


def _tool_output(run: Run) -> tuple[Any, bool]:
    output = (run.outputs or {}).get("output", run.outputs)
    message = _kwargs(output)
    if message.get("type") == "tool" or message.get("_class") == "ToolMessage":
        return message.get("content"), message.get("status") == "error"
    return output, False


def call_id_of(run: Run) -> str:
    for source in (run.extra, run.metadata):
        value = source.get("tool_call_id")
        if isinstance(value, str) and value:
            return value
    return run.id


def error_message(error: str) -> str:
    """The exception line of a traceback (the same at every level it passed through):
    the last unindented `Name: message` line, since notes (LangGraph adds "During task
    with name …") follow it; else the last line."""
    lines = [line.rstrip() for line in error.strip().splitlines() if line.strip()]
    exception = next(
        (line for line in reversed(lines) if _EXCEPTION_LINE.fullmatch(line)),
        lines[-1].strip() if lines else "error",
    )
    return exception[:1000]


def _is_batch(value: Any) -> bool:
    # A list of messages, not a ("user", "text") pair.
    return isinstance(value, list) and not (len(value) == 2 and isinstance(value[0], str))


def user_text(run: Run) -> str | None:
    """What the user asked, from a root run's inputs: its last message when that is the
    user's (LangGraph's `messages`), else an `input`, `question` or `query` string."""
    inputs = run.inputs or {}
    messages = inputs.get("messages")
    # A chat model run's inputs are a batch of message lists: the last list counts.
    while isinstance(messages, list) and messages and _is_batch(messages[-1]):
        messages = messages[-1]
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if isinstance(last, list | tuple) and len(last) == 2 and last[0] in ("user", "human"):
            return content_text(last[1]) or None
        message = _kwargs(last)
        role = message.get("type") or message.get("role") or message.get("_class")
        if role in ("human", "user", "HumanMessage", "HumanMessageChunk"):
            return content_text(message.get("content")) or None
        return None
    for name in ("input", "question", "query"):
        if isinstance(inputs.get(name), str) and inputs[name]:
            return str(inputs[name])
    return None


def _event(kind: str, event_id: str, ts_us: int | None, data: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "id": event_id, "data": data}
    if ts_us is not None:
        event["ts"] = format_ts(ts_us)
    return event


def run_events(run: Run) -> list[dict[str, Any]]:
    """The events one run (as far as this request knows it) maps to, `final` aside."""
    events: list[dict[str, Any]] = []
    base = {"run_id": run.id, "run_name": run.name}
    if run.is_root and run.posted and (text := user_text(run)) is not None:
        events.append(_event("user.message", f"{run.id}:user", run.start_us, {"text": text}))
    ended = run.end_us is not None
    kind = run.run_type or "chain"
    if kind == "tool" and (run.posted or ended):
        call_id = call_id_of(run)
        tool = {"name": run.name or "tool", "call_id": call_id}
        start = run.start_us if run.start_us is not None else run.end_us
        events.append(
            _event("tool.call", f"{run.id}:call", start, {**tool, "args": _tool_args(run)})
        )
        if ended:
            result, failed = _tool_output(run)
            data: dict[str, Any] = {**tool, "result": result}
            if run.error is not None:
                data["result"] = error_message(run.error)
            if run.error is not None or failed:
                data["is_error"] = True
            if run.start_us is not None and run.end_us is not None:
                data["duration_ms"] = (run.end_us - run.start_us) / 1000
            events.append(_event("tool.result", f"{run.id}:result", run.end_us, data))
    elif kind == "llm" and ended:
        for index, (at, text, recorded) in enumerate(timed_text(run)):
            delta = {
                "text": text,
                "message_id": run.id,
                "timing": "recorded" if recorded else "estimated",
            }
            events.append(_event("message.delta", f"{run.id}:delta:{index}", at, delta))
        usage = usage_of(run)
        metadata = run.metadata
        model = metadata.get("ls_model_name") or (run.extra.get("invocation_params") or {}).get(
            "model"
        )
        usage_data: dict[str, Any] = {**base, "trace_id": run.trace_id, "usage": usage}
        if isinstance(model, str):
            usage_data["model"] = model
        if isinstance(metadata.get("ls_provider"), str):
            usage_data["provider"] = metadata["ls_provider"]
        if run.start_us is not None and run.end_us is not None:
            usage_data["duration_ms"] = (run.end_us - run.start_us) / 1000
        events.append(_event("model.usage", f"{run.id}:usage", run.end_us, usage_data))
    # A chain's error is its child's, passed up: the innermost run and the root report it.
    if run.error is not None and (run.is_root or kind not in ("tool", "chain")):
        message = error_message(run.error)
        digest = hashlib.sha256(message.encode()).hexdigest()[:16]
        data = {"message": message, **base, "run_type": kind}
        events.append(_event("error", f"{run.trace_id}:error:{digest}", run.end_us, data))
    return events


def trace_end(run: Run, usage: Mapping[str, int]) -> dict[str, Any]:
    """The root run's end: `final` for a session of its own, `trace.end` in a thread's
    session (which later turns continue)."""
    data: dict[str, Any] = {"run_id": run.id, "run_name": run.name, "trace_id": run.trace_id}
    if usage:
        data["usage"] = dict(usage)
    if run.start_us is not None and run.end_us is not None:
        data["duration_ms"] = (run.end_us - run.start_us) / 1000
    if run.error is not None:
        data["reason"] = "error"
    kind = "final" if run.thread is None else "trace.end"
    return _event(kind, f"{run.id}:end", run.end_us, data)
