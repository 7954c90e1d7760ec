"""The plant e2e tests reuse tests/agent's provisioned plant (``plant_support``)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
