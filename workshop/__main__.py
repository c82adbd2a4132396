"""`python -m workshop`, what `python run.py` runs; a Ctrl-C while it starts ends it quietly."""

import os
import signal

try:
    from workshop import interrupt

    interrupt.ctrl_c_never_lost()  # one that comes as an import lets go of its lock, say
    # run.py hands over with Ctrl-C ignored while this Python starts (a Ctrl-C in its site
    # module would end it with a traceback), and says so: it is taken back first thing.
    if os.environ.pop("WORKSHOP_CTRL_C_HELD", None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    from workshop.cli import main

    raise SystemExit(main())  # here, so that a Ctrl-C raised again at this line is caught too
except KeyboardInterrupt:
    raise SystemExit(130) from None
except RuntimeError as error:
    # Python 3.11 makes a Ctrl-C that comes as a class is made (in a field's __set_name__)
    # the cause of a RuntimeError.
    if not isinstance(error.__cause__, KeyboardInterrupt):
        raise
    raise SystemExit(130) from None
