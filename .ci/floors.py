"""Print pip constraints that pin each dependency of pyproject.toml to its declared floor.

torch is left out: the CPU wheel installed first (2.13.0) is the only build
the test machines install.
"""

import re
import sys
import tomllib
from pathlib import Path

LEFT_OUT = {"torch"}

project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
for requirement in project["dependencies"]:
    name, specifiers = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", requirement).groups()
    floors = [s.strip()[2:] for s in specifiers.split(",") if s.strip().startswith(">=")]
    if name in LEFT_OUT:
        continue
    if not floors:
        sys.exit(f"{requirement!r} declares no floor to test")
    print(f"{name}=={floors[0]}")
