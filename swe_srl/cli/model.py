"""`swe-srl model ...`: model utilities."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="Model utilities.", no_args_is_help=True)
    app.add_typer(model_app, name="model")

    @model_app.command("init-tiny")
    def init_tiny(
        out: Path = typer.Option(..., "--out", help="Directory to write the model and tokenizer to."),
        seed: int = typer.Option(0, help="Initialisation seed (the build is deterministic)."),
        hidden_size: int = typer.Option(128, help="Hidden size; head_dim = hidden_size / heads (64 by default)."),
        layers: int = typer.Option(2, help="Number of transformer layers."),
        vocab_size: int = typer.Option(4096, help="Target BPE vocabulary size."),
    ) -> None:
        """Build a small randomly initialised chat model + tokenizer offline.

        Example: swe-srl model init-tiny --out out/tiny
        """
        from swe_srl.cli.common import console, summary
        from swe_srl.policy.tiny import build_tiny_model

        with console.status("training the tokenizer and initialising the model"):
            path = build_tiny_model(out, seed=seed, hidden_size=hidden_size, num_layers=layers, vocab_size=vocab_size)
        import json

        cfg = json.loads((path / "config.json").read_text())
        n_files = len(list(path.iterdir()))
        summary("tiny model", [
            ("path", path),
            ("architecture", cfg.get("architectures", ["?"])[0]),
            ("vocab", cfg["vocab_size"]),
            ("layers x hidden", f"{cfg['num_hidden_layers']} x {cfg['hidden_size']}"),
            ("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"]),
            ("files", n_files),
        ])
