"""Policies: models that propose the next action (hf, vllm, openai, replay) and the tiny test model."""
