"""`python -m workshop`, what `python run.py` runs; a Ctrl-C while it starts ends it quietly."""

import os
import signal

# run.py hands over with Ctrl-C ignored while this Python starts (a Ctrl-C in its site module
# would end it with a traceback), and says so: it is taken back first thing.
if os.environ.pop("WORKSHOP_CTRL_C_HELD", None):
    signal.signal(signal.SIGINT, signal.default_int_handler)

try:
    from workshop.cli import main
except KeyboardInterrupt:
    raise SystemExit(130) from None

raise SystemExit(main())
