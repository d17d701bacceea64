"""Replay fuzz findings (or any files) through their target and print what each one raises now.

python fuzz/replay.py fuzz/findings/warc-crash-*     # the target is the name's first part
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.argv = sys.argv[:1] + sys.argv[1:]


def main() -> int:
    import atheris  # noqa: F401  (targets.py instruments on import)

    from fuzz.targets import TARGETS

    failed = 0
    for name in sys.argv[1:]:
        path = Path(name)
        target = path.name.split("-", 1)[0]
        try:
            TARGETS[target](path.read_bytes())
        except Exception:  # noqa: BLE001 - a replay reports every escape
            failed += 1
            last = traceback.format_exc().strip().splitlines()
            print(f"{path.name}: {last[-1][:200]}  ({last[-3].strip()[:120]})")
        else:
            print(f"{path.name}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
