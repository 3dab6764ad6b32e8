"""Step-level scores of a policy's responses to SRL prompts: one function,
:func:`score_completions`, used by ``swe-srl score`` and by training's greedy
validation, so both report the same numbers for the same responses;
:func:`score_model` is ``swe-srl score`` itself (a dataset's rows, greedy
responses from vLLM or transformers, scored, with every response recorded).

For each row (an SRL step: ``expert_action`` plus optional ``tool``,
``trajectory_id``, ``step_index``) and its response text:

- ``reward``: the SRL reward (:func:`swe_srl.rewards.srl_reward`): -1 when the
  response is not ``<think>...</think>`` plus exactly one parsable action,
  otherwise the similarity of the action to the expert's in [0, 1];
- ``format_valid``: the reward is not -1;
- ``similarity``: the reward with format failures counted as 0 (the number the
  SRL paper selects checkpoints by);
- ``exact_match``: similarity 1.0 (difflib's ratio is 1 only for identical strings);
- ``answer_tool``: the tool the response called (None when malformed), and
  ``same_tool``: it is the expert's.

Aggregates are means over the rows (``None`` when there are none), and per
expert tool in ``by_tool``. Besides the paper's mean similarity, two numbers say
how much of it comes from calling the right tool: ``tool_match_rate`` (answers
that call the expert's tool) and ``same_tool_similarity`` (mean similarity with
answers that call another tool counted 0): difflib compares whole rendered
calls, and the ``<function=...>``/``<parameter=...>`` text two different
calls share already scores 0.3-0.7 against a short expert call.

>>> rows = [{"expert_action": "<function=submit>\\n</function>", "tool": "submit"},
...         {"expert_action": "<function=bash>\\n<parameter=command>ls</parameter>\\n</function>", "tool": "bash"}]
>>> s = score_completions(["<think>done</think><function=submit></function>", "ls"], rows)
>>> s["samples"], s["format_valid_rate"], s["mean_similarity"], s["mean_reward"], s["exact_match_rate"]
(2, 0.5, 0.5, 0.0, 0.5)
>>> s["by_tool"]["bash"]
{'samples': 1, 'format_valid_rate': 0.0, 'mean_similarity': 0.0, 'exact_match_rate': 0.0}
>>> s["tool_match_rate"], s["same_tool_similarity"]
(0.5, 0.5)
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from swe_srl.errors import ConfigError, FormatError
from swe_srl.rewards.format import function_name, parse_response
from swe_srl.rewards.reward import FORMAT_FAILURE_REWARD, completion_text, srl_reward
from swe_srl.rewards.similarity import SimilarityFn

__all__ = ["score_completions", "sample_id", "METRICS", "score_model", "load_score_rows", "score_inputs", "is_served", "FORMAT_TAG"]

# The headline numbers, in the order tables show them.
METRICS = ("samples", "format_valid_rate", "mean_similarity", "mean_reward", "exact_match_rate")


def _tool_of(row: Mapping[str, Any]) -> str:
    tool = row.get("tool")
    if tool:
        return str(tool)
    return function_name(str(row.get("expert_action") or "")) or "?"


def _answer_tool(text: str) -> str | None:
    try:
        return parse_response(text).action.tool
    except FormatError:
        return None


def sample_id(row: Mapping[str, Any], index: int) -> str:
    """``trajectory_id#step_index`` when the row has them, else the row's position."""
    traj, step = row.get("trajectory_id"), row.get("step_index")
    if traj not in (None, "") and step is not None:
        return f"{traj}#{step}"
    return str(index)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score_completions(
    completions: Sequence[Any],
    rows: Sequence[Mapping[str, Any]],
    *,
    similarity: str | SimilarityFn = "difflib",
    compare: str = "canonical",
    records: bool = False,
) -> dict[str, Any]:
    """Scores of ``completions`` (texts, or TRL's conversational completions),
    one per row of ``rows``.

    Returns ``samples, format_valid_rate, mean_similarity, mean_reward,
    exact_match_rate, by_tool {tool: {samples, format_valid_rate,
    mean_similarity, exact_match_rate}}``, and with ``records=True`` a
    ``records`` list (``index, id, tool, reward, similarity, format_valid,
    exact_match`` per row). ``similarity`` and ``compare`` are the SRL
    reward's options (training passes its ``srl.similarity`` / ``srl.compare``).
    """
    if len(completions) != len(rows):
        raise ValueError(f"{len(completions)} completions for {len(rows)} rows")
    texts = [completion_text(c) for c in completions]
    rewards = srl_reward(texts, [str(r["expert_action"]) for r in rows], similarity=similarity, compare=compare) if rows else []
    per: list[dict[str, Any]] = []
    for i, (row, text, reward) in enumerate(zip(rows, texts, rewards)):
        valid = reward != FORMAT_FAILURE_REWARD
        sim = max(reward, 0.0)
        tool = _tool_of(row)
        answer_tool = _answer_tool(text) if valid else None
        per.append({"index": i, "id": sample_id(row, i), "tool": tool, "reward": reward,
                    "similarity": sim, "format_valid": valid, "exact_match": sim == 1.0,
                    "answer_tool": answer_tool, "same_tool": answer_tool == tool})

    def summarise(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "samples": len(items),
            "format_valid_rate": _mean([float(r["format_valid"]) for r in items]),
            "mean_similarity": _mean([r["similarity"] for r in items]),
            "exact_match_rate": _mean([float(r["exact_match"]) for r in items]),
        }

    out = summarise(per)
    out["mean_reward"] = _mean([r["reward"] for r in per])
    out = {k: out[k] for k in METRICS}  # the documented order
    out["tool_match_rate"] = _mean([float(r["same_tool"]) for r in per])
    out["same_tool_similarity"] = _mean([r["similarity"] if r["same_tool"] else 0.0 for r in per])
    tools: dict[str, list[dict[str, Any]]] = {}
    for r in per:
        tools.setdefault(r["tool"], []).append(r)
    out["by_tool"] = {tool: summarise(items) for tool, items in sorted(tools.items(), key=lambda kv: (-len(kv[1]), kv[0]))}
    if records:
        out["records"] = per
    return out


# ---------------------------------------------------------------- scoring a model on a dataset (swe-srl score)

FORMAT_TAG = "swe-srl.score/v1"
SPLITS = ("validation", "train", "all")
BACKENDS = ("auto", "vllm", "hf")


def load_score_rows(dataset: str | Path, split: str = "validation", max_samples: int | None = None) -> list[dict[str, Any]]:
    """The SRL rows (``prompt``, ``expert_action``, ids, ``tool``) of a saved
    ``swe-srl dataset`` folder: one split or ``all``, the first ``max_samples``
    in dataset order. SFT rows are turned into SRL rows the way training does."""
    import datasets

    from swe_srl.train.runner import to_srl_dataset

    path = Path(dataset)
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    if not path.is_dir():
        raise ConfigError(f"{path}: no such dataset folder")
    try:
        dd = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(f"{path}: not a dataset saved with save_to_disk ({' '.join(str(e).split())})") from None
    if isinstance(dd, datasets.Dataset):
        if split != "all":
            raise ConfigError(f"{path}: a single dataset without splits; use --split all")
        parts = [dd]
    elif split == "all":
        parts = [dd[name] for name in ("train", "validation") if name in dd] + [dd[n] for n in dd if n not in ("train", "validation")]
    else:
        if split not in dd:
            raise ConfigError(f"{path}: no {split!r} split (splits: {', '.join(dd) or 'none'})")
        parts = [dd[split]]
    rows: list[dict[str, Any]] = []
    for part in parts:
        if max_samples is not None and len(rows) >= max_samples:
            break
        if max_samples is not None:
            part = part.select(range(min(len(part), max_samples - len(rows))))
        part = to_srl_dataset(part, source=str(path))
        keep = [c for c in ("prompt", "expert_action", "tool", "trajectory_id", "step_index") if c in part.column_names]
        rows.extend(part.select_columns(keep).to_list())
    if not rows:
        raise ConfigError(f"{path}: the {split} split has no rows")
    return rows


def pick_backend(backend: str) -> str:
    """``vllm`` when asked, or for ``auto`` when vLLM is installed; else ``hf``."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


def fingerprint(folder: str | Path | None) -> str | None:
    """A cheap identity of a model, adapter or dataset folder (names, sizes and
    mtimes of its files), so a re-run on unchanged inputs can be skipped."""
    if folder is None:
        return None
    root = Path(folder)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


SERVED_PREFIX = "openai:"
SERVED_TIMEOUT_S = 1800.0  # per request to a served model


def is_served(model: str | Path) -> bool:
    """``openai:URL#MODEL``: a model behind an OpenAI-compatible server (e.g. ``vllm serve``),
    scored over HTTP instead of loaded here."""
    return str(model).startswith(SERVED_PREFIX)


def _served_identity(spec: str) -> str | None:
    """What the server says it serves under that name (vLLM: the model or adapter path as
    ``root``), so a score of the same URL serving another model is not taken as up to date."""
    from swe_srl.policy.base import PolicyError
    from swe_srl.policy.openai import OpenAIPolicy

    url, _, name = spec[len(SERVED_PREFIX):].partition("#")
    try:
        policy = OpenAIPolicy(url, name or None, max_retries=0)
        cards = policy.served_models()
    except (PolicyError, ConfigError) as e:
        raise ConfigError(f"--model {spec}: the server does not answer ({e})") from None
    for m in cards:
        if m.get("id") == policy.model:
            return str(m.get("root") or m.get("id"))
    raise ConfigError(f"--model {spec}: the server serves no model named {policy.model!r} "
                      f"(it serves: {', '.join(str(m.get('id')) for m in cards) or 'none'})")


def score_inputs(*, model: str | Path, adapter: str | Path | None, dataset: str | Path, split: str,
                 max_samples: int | None, max_new_tokens: int, backend: str) -> dict[str, Any]:
    """What a score depends on; a score file whose ``inputs`` equal these is up to date."""
    from swe_srl.policy.base import resolve_model_dir

    if not Path(dataset).is_dir():
        raise ConfigError(f"{dataset}: no such dataset folder")
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    if is_served(model):
        if adapter:
            raise ConfigError(f"--adapter with --model {model}: a served model's adapter is chosen by its name (URL#NAME)")
        return {
            "model": str(model), "base_model": str(model), "adapter": None, "dataset": str(dataset), "split": split,
            "max_samples": max_samples, "max_new_tokens": max_new_tokens, "backend": "openai",
            "fingerprints": {"served": _served_identity(str(model)), "dataset": fingerprint(dataset)},
        }
    base, found_adapter = resolve_model_dir(model)
    adapter_dir = Path(adapter) if adapter else found_adapter
    if adapter_dir is not None and not (adapter_dir / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter_dir}: not a LoRA adapter folder (no adapter_config.json)")
    return {
        "model": str(model), "base_model": str(base), "adapter": str(adapter_dir) if adapter_dir else None,
        "dataset": str(dataset), "split": split, "max_samples": max_samples, "max_new_tokens": max_new_tokens,
        "backend": backend,
        "fingerprints": {"base_model": fingerprint(base), "adapter": fingerprint(adapter_dir), "dataset": fingerprint(dataset)},
    }


def score_model(
    *,
    model: str | Path,
    dataset: str | Path,
    adapter: str | Path | None = None,
    split: str = "validation",
    max_samples: int | None = None,
    max_new_tokens: int = 512,
    backend: str = "auto",
    batch_size: int = 8,
    label: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Greedy responses of a model (optionally with a LoRA adapter) to a
    dataset's SRL prompts, scored with :func:`score_completions`; returns the
    whole score record (what ``swe-srl score`` writes). ``progress(done, total)``
    is called as the transformers backend finishes batches."""
    from swe_srl import __version__
    from swe_srl.policy.base import SamplingConfig

    start = time.perf_counter()
    if max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens {max_new_tokens}: must be at least 1")
    if max_samples is not None and max_samples < 1:
        raise ConfigError(f"--max-samples {max_samples}: must be at least 1")
    chosen = "openai" if is_served(model) else pick_backend(backend)
    inputs = score_inputs(model=model, adapter=adapter, dataset=dataset, split=split, max_samples=max_samples,
                          max_new_tokens=max_new_tokens, backend=chosen)
    rows = load_score_rows(dataset, split, max_samples)
    sampling = SamplingConfig(temperature=0.0, max_tokens=max_new_tokens)
    t_load = time.perf_counter()
    conversations = [list(r["prompt"]) for r in rows]
    if chosen == "openai":
        from concurrent.futures import ThreadPoolExecutor

        from swe_srl.policy.openai import OpenAIPolicy

        # A local CPU server can take minutes per answer when many are in flight: wait for it, and
        # do not resend a request it is still working on.
        policy = OpenAIPolicy.from_spec(str(model)[len(SERVED_PREFIX):], temperature=0.0, max_tokens=max_new_tokens,
                                        max_concurrency=batch_size, timeout=SERVED_TIMEOUT_S, max_retries=1)
        t_gen = time.perf_counter()
        completions = []
        # The server batches concurrent requests; answers are kept in the rows' order.
        with ThreadPoolExecutor(max_workers=batch_size) as pool:
            for i, answer in enumerate(pool.map(lambda m: policy.generate(m)[0], conversations), 1):
                completions.append(answer)
                if progress is not None:
                    progress(i, len(rows))
    elif chosen == "vllm":
        from swe_srl.policy.vllm import VLLMPolicy

        policy = VLLMPolicy(model, adapter=adapter, sampling=sampling)
        try:
            t_gen = time.perf_counter()
            completions = policy.generate_batch(conversations, progress=progress is not None)
        finally:
            policy.close()
    else:
        from swe_srl.policy.hf import HFPolicy

        policy = HFPolicy(model, adapter=adapter, sampling=sampling)
        done = 0

        def advance(k: int) -> None:
            nonlocal done
            done += k
            if progress is not None:
                progress(done, len(rows))

        try:
            t_gen = time.perf_counter()
            completions = policy.generate_batch(conversations, batch_size=batch_size, progress=advance)
        finally:
            policy.close()
    generate_s = time.perf_counter() - t_gen
    scores = score_completions([c.text for c in completions], rows, records=True)
    records = scores.pop("records")
    for rec, row, c in zip(records, rows, completions):
        rec.update(finish_reason=c.finish_reason, prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
                   completion=c.text, expert_action=row["expert_action"])
    finish: dict[str, int] = {}
    for c in completions:
        finish[str(c.finish_reason)] = finish.get(str(c.finish_reason), 0) + 1
    tokens = sum(c.completion_tokens for c in completions)
    return {
        "format": FORMAT_TAG,
        "swe_srl_version": __version__,
        "label": label or default_label(inputs),
        **{k: inputs[k] for k in ("model", "adapter", "base_model", "dataset", "split", "backend", "max_new_tokens", "max_samples")},
        **scores,
        "finish_reasons": finish,
        "completion_tokens": tokens,
        "load_s": round(t_gen - t_load, 3),
        "generate_s": round(generate_s, 3),
        "tokens_per_s": round(tokens / generate_s, 2) if generate_s > 0 else None,
        "wall_s": round(time.perf_counter() - start, 3),
        "inputs": inputs,
        "records": records,
    }


def default_label(inputs: Mapping[str, Any]) -> str:
    """A short name for a scored model: the adapter's run folder (``runs/x/sft/adapter`` -> ``sft``)
    or the model folder's name.

    >>> default_label({"adapter": "runs/demo/train/sft/adapter", "model": "m"}), default_label({"adapter": None, "model": "/c/smollm2/"})
    ('sft', 'smollm2')
    """
    if is_served(inputs["model"]):
        return str(inputs["model"]).rpartition("#")[2] or "served"
    path = Path(str(inputs.get("adapter") or inputs["model"]).rstrip("/"))
    if path.name in ("adapter", "model", "final", "start_model") and path.parent.name:
        return path.parent.name
    return path.name or str(path)
