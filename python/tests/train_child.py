"""The child process of the SIGKILL test: runs the distill job of train_helpers and, at global step
`hold` (after a mid-epoch checkpoint), writes `marker` and waits to be killed — a hold point like
the TF.js engine's (src/engine/training/faults.ts), so the kill lands at a known position."""
import os
import sys
import threading

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_helpers as H  # noqa: E402
from distill_torch.train import train_job  # noqa: E402


def main() -> None:
    run_dir, hold, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    torch.set_num_threads(1)
    ctx = None

    def should_stop() -> bool:
        if ctx.clock.done_steps == hold:
            with open(marker, 'w') as f:
                f.write(str(os.getpid()))
            threading.Event().wait()  # held here until SIGKILL
        return False
    ctx = H.distill_context(run_dir, should_stop=should_stop)
    train_job(ctx)
    sys.exit(3)  # never reached: the test kills the process at the hold point


if __name__ == '__main__':
    main()
