"""`swe-srl run`: run a policy as an agent on tasks (issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from swe_srl.agent.loop import AgentConfig
from swe_srl.agent.runner import RunConfig

# Defaults come from the config model (one place).
A = AgentConfig()
PROMPT = A.prompt
R = RunConfig()
RUN_FLAGS = {"mode": "--mode", "workers": "--workers", "model_name": "--model-name", "repos_dir": "--repos-dir",
             "sandbox": "--sandbox-opt"}

EXAMPLES = """
Examples:

  swe-srl run --tasks tasks.jsonl --policy hf:out/srl/adapter --out runs/agent --workers 2

  swe-srl run --tasks tasks.jsonl --policy openai:http://127.0.0.1:8000/v1#tiny --out runs/api

  swe-srl run --tasks tasks.jsonl --policy replay:out/traj/trajectories.jsonl --out runs/replay

  swe-srl run --tasks tasks.jsonl --policy vllm:out/model --mode oracle-edit --out runs/oracle

  swe-srl run --tasks tasks.jsonl --policy openai:http://HOST:8000/v1#tiny --out runs/api --backend ray
"""


def _policy_opts(items: list[str], flag: str = "--policy-opt") -> dict[str, Any]:
    import yaml

    from swe_srl.errors import ConfigError

    opts: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE")
        try:
            opts[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            opts[key.strip()] = value
    return opts


PROMPT_FLAGS = {"context_steps": "--context-steps", "max_observation_chars": "--max-observation-chars",
                "max_prompt_tokens": "--max-prompt-tokens"}


def resolve_prompt_config(policy: str, policy_opts: dict[str, Any], prompt_from: Optional[Path],
                          overrides: dict[str, Any]):
    """``(PromptConfig, source)`` for a run, as the model was trained: from
    ``prompt_from``, else from the policy's model folder (``hf:`` / ``vllm:``,
    its ``adapter`` option first; see ``prompt_config_for_model``), else the
    defaults; then the prompt flags the user gave."""
    from swe_srl.data.prompts import DEFAULT_PROMPT_CONFIG, PromptConfig, prompt_config_for_model
    from swe_srl.policy import parse_spec

    prefix, target = parse_spec(policy)
    where = prompt_from
    if where is None and prefix in ("hf", "vllm"):
        where = Path(str(policy_opts.get("adapter") or target))
    if where is not None:
        cfg, source = prompt_config_for_model(where)
    else:
        cfg, source = DEFAULT_PROMPT_CONFIG, f"defaults (a {prefix}: policy names no model folder; --prompt-from can)"
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        cfg = PromptConfig.from_dict({**cfg.to_dict(), **given}, "swe-srl run", names=PROMPT_FLAGS)
        source += " with " + ", ".join(f"{PROMPT_FLAGS[k]} {v}" for k, v in given.items())
    return cfg, source


def register(app: typer.Typer) -> None:
    @app.command("run", help="Run a policy as an agent on tasks: predictions.jsonl, trajectories.jsonl, summary.json."
                 + EXAMPLES)
    def run(
        tasks: Path = typer.Option(..., "--tasks", help="Task instances (SWE-bench schema: JSON, JSONL or parquet)."),
        policy: str = typer.Option(..., "--policy", help="hf:PATH | vllm:PATH | openai:URL#MODEL | replay:TRAJ.jsonl"),
        out: Path = typer.Option(..., "--out", help="Output directory (re-running resumes)."),
        mode: str = typer.Option(R.mode, "--mode", help="agent (multi-step in a sandbox) or oracle-edit (one call)."),
        max_steps: int = typer.Option(A.max_steps, "--max-steps", help="Policy calls per task."),
        workers: int = typer.Option(R.workers, "--workers", help="Tasks run concurrently."),
        instance_ids: Optional[list[str]] = typer.Option(None, "--instance-id", help="Only these instances (repeatable)."),
        repos_dir: Optional[Path] = typer.Option(None, "--repos-dir", help="Where owner__name repositories are, for tasks without repo_path."),
        context_steps: Optional[int] = typer.Option(None, "--context-steps", help=f"Past rounds in the prompt (default: as the model was trained, else {PROMPT.context_steps})."),
        max_observation_chars: Optional[int] = typer.Option(None, "--max-observation-chars", help=f"Observation cut in the prompt (default: as the model was trained, else {PROMPT.max_observation_chars})."),
        max_prompt_tokens: Optional[int] = typer.Option(None, "--max-prompt-tokens", help="Prompt token budget (default: as the model was trained; always capped by the model's context window)."),
        prompt_from: Optional[Path] = typer.Option(None, "--prompt-from", help="Read the prompt settings from this training output, model or dataset folder (default: the policy's model folder)."),
        temperature: float = typer.Option(0.0, "--temperature", help="Sampling temperature (0: greedy)."),
        max_new_tokens: int = typer.Option(1024, "--max-new-tokens", help="Generated tokens per response."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed."),
        max_total_tokens: Optional[int] = typer.Option(A.max_total_tokens, "--max-total-tokens", help="Prompt+completion tokens per task."),
        time_limit: float = typer.Option(A.max_wall_time_s, "--time-limit", help="Wall-clock seconds per task."),
        max_format_errors: int = typer.Option(A.max_format_errors, "--max-format-errors", help="Malformed responses tolerated per task."),
        command_timeout: Optional[float] = typer.Option(A.command_timeout, "--command-timeout", help="Seconds per shell command (default: the sandbox's)."),
        policy_opt: Optional[list[str]] = typer.Option(None, "--policy-opt", help="Backend option KEY=VALUE (repeatable), e.g. dtype=bfloat16, max_concurrency=4."),
        model_name: Optional[str] = typer.Option(None, "--model-name", help="model_name_or_path in predictions (default: the policy)."),
        sandbox_opt: Optional[list[str]] = typer.Option(None, "--sandbox-opt", help="Sandbox limit KEY=VALUE (repeatable): cpus, memory, pids_limit, network, command_timeout, max_output_chars."),
        backend: str = typer.Option("local", "--backend", help="local (--workers threads here) or ray (the Docker nodes of a Ray cluster; an hf:/vllm: policy loads once per node)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (default: the running cluster, else a local one for this run)."),
    ) -> None:
        """Run a policy on every task and write SWE-bench predictions and canonical trajectories."""
        from swe_srl.agent.runner import finished_ids, run_tasks
        from swe_srl.cli.common import console, progress, summary
        from swe_srl.cli.common import per_node as per_node_text
        from swe_srl.errors import SweSrlError
        from swe_srl.execution.base import make_backend
        from swe_srl.policy import load_policy, parse_spec
        from swe_srl.sandbox.spec import SandboxConfig
        from swe_srl.tasks import load_tasks

        parse_spec(policy)  # a bad spec fails before anything heavy loads
        sandbox = _policy_opts(sandbox_opt or [], flag="--sandbox-opt")
        allowed = {"cpus", "memory", "pids_limit", "network", "command_timeout", "max_output_chars"}
        if set(sandbox) - allowed:
            raise SweSrlError(f"--sandbox-opt: unknown key(s) {', '.join(sorted(set(sandbox) - allowed))}; valid: {', '.join(sorted(allowed))}")
        config = RunConfig.from_dict(dict(mode=mode, workers=workers, model_name=model_name,
                                          repos_dir=str(repos_dir) if repos_dir else None, sandbox=sandbox),
                                     "swe-srl run", names=RUN_FLAGS)
        limits = SandboxConfig(**{k: v for k, v in sandbox.items() if k in ("cpus", "memory")})
        runner = make_backend(backend, workers=workers, address=ray_address, task_cpus=limits.cpus,
                              task_memory=limits.memory)
        policy_opts = _policy_opts(policy_opt or [])
        prompt, prompt_source = resolve_prompt_config(
            policy, policy_opts, prompt_from,
            {"context_steps": context_steps, "max_observation_chars": max_observation_chars,
             "max_prompt_tokens": max_prompt_tokens})
        agent_config = AgentConfig(
            max_steps=max_steps, max_total_tokens=max_total_tokens, max_wall_time_s=time_limit,
            max_format_errors=max_format_errors, prompt=prompt, command_timeout=command_timeout,
        )
        task_list = load_tasks(tasks, instance_ids=instance_ids)
        if not task_list:
            raise SweSrlError(f"{tasks}: no tasks" + (" with the given --instance-id" if instance_ids else ""))
        todo = len(set(t["instance_id"] for t in task_list) - finished_ids(out))
        opts = {"temperature": temperature, "max_tokens": max_new_tokens, "seed": seed, **policy_opts}
        if mode == "agent":
            budget = f", budget {prompt.max_prompt_tokens} tokens" if prompt.max_prompt_tokens else ""
            console.print(f"prompt: {prompt.context_steps} rounds, observations cut to {prompt.max_observation_chars} "
                          f"characters{budget}; from {prompt_source}", highlight=False, soft_wrap=True)
        counts = {"submitted": 0, "limits": 0, "errors": 0}
        per_node: dict[str, int] = {}
        if runner.remote:  # loaded on each node, once (never shipped from here)
            pol = None
        else:
            with console.status(f"loading policy {policy}"):
                pol = load_policy(policy, **opts)
        try:
            with progress() as bar:
                job = bar.add_task("run", total=todo, status="")

                def on_result(rec: dict[str, Any]) -> None:
                    if "error" in rec:
                        counts["errors"] += 1
                    elif rec["exit_reason"] == "submitted":
                        counts["submitted"] += 1
                    elif rec["exit_reason"].endswith("_limit"):
                        counts["limits"] += 1
                    if rec.get("node"):
                        per_node[rec["node"]] = per_node.get(rec["node"], 0) + 1
                    nodes = f" · {per_node_text(per_node)}" if per_node else ""
                    bar.update(job, advance=1, status=f"submitted {counts['submitted']} · limits {counts['limits']}"
                               f" · errors {counts['errors']}{nodes}")

                result = run_tasks(task_list, pol, out, agent_config=agent_config, config=config,
                                   policy_spec=policy, on_result=on_result, backend=runner, policy_opts=opts)
        finally:
            if pol is not None:
                pol.close()
        rows: list[tuple[str, Any]] = [
            ("tasks", result["total_tasks"]),
            ("completed", f"{result['completed']} ({result['resumed_from_previous_runs']} from earlier runs)"),
            ("submitted", result["submitted"]),
            ("limits hit", ", ".join(f"{k} {v}" for k, v in result["limits_hit"].items()) or "0"),
            ("format errors", result["format_errors"]),
            ("mean steps", result["mean_steps"]),
            ("non-empty patches", result["nonempty_patches"]),
            ("errors", len(result["errors"])),
            *([("tasks per node", per_node_text(per_node))] if per_node else []),
        ]
        if "replay" in result:
            r = result["replay"]
            rows.append(("replay matched", f"{r['matched']}/{r['validated']}"))
        rows.append(("outputs", f"{out}/predictions.jsonl, trajectories.jsonl, summary.json"))
        summary("swe-srl run", rows)
        for err in result["errors"][:5]:
            console.print(f"[yellow]skipped[/] {err['instance_id']}: {err['error']}", highlight=False, soft_wrap=True)
        if result["errors"] and len(result["errors"]) == todo and todo:
            raise SweSrlError(f"every task failed to run (first: {result['errors'][0]['error']})")
