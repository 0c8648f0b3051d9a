"""The child process of test_synthesis's SIGKILL test: prepares the data-free experiment of
`<msg.json>` and runs it in `<run_dir>`; at the stop check before batch 2 (batch 1 written) it
writes `marker` and waits to be killed — a hold point, so the kill lands between two batches."""
import json
import os
import sys
import threading

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from distill_torch import engine  # noqa: E402


def main() -> None:
    msg_file, run_dir, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(msg_file, encoding='utf8') as f:
        msg = json.load(f)
    batch1 = os.path.join(run_dir, 'synthesized', 'batch-0001.json')

    def should_stop() -> bool:
        if os.path.exists(batch1):
            with open(marker, 'w') as f:
                f.write(str(os.getpid()))
            threading.Event().wait()  # held here until SIGKILL
        return False
    s = engine.prepare(msg, send=lambda m: None, should_stop=should_stop, versions={'python': '3', 'torch': torch.__version__})
    s.run(run_dir, False)
    sys.exit(3)  # never reached: the test kills the process at the hold point


if __name__ == '__main__':
    main()
