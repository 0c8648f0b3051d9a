"""Distill Studio's PyTorch engine: the same experiment file, protocol and run folders as the TF.js
engine (see python/README.md for the module map and src/protocol/torch.ts for the bridge)."""

__all__ = ['ConfigError']

from .errors import ConfigError  # noqa: E402
