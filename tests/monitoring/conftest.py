"""Monitoring tests reuse the serving helpers (fake recommender, in-process store)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "serving"))
