"""`workshop clean` and `workshop build`: delete the project's `.aws-sam` safely, then `sam build`.

`clean` deletes carefully (stage 04's story), `sam` finds `sam` and the template's Python and
runs the build, and `lock` simulates the hold that OneDrive's sync puts on a file. `lock` alone
also runs inside sam's own process, so it alone is bound to the standard library.
"""

from workshop.build.clean import BUILD_FOLDER, LOCK_ENV, clean, remove_entry
from workshop.build.lock import sam_environment, simulated_lock
from workshop.build.sam import (
    build,
    check_python,
    python_for_runtime,
    refuse_a_folder_of_the_users,
    sam_executable,
    template_runtimes,
)

__all__ = [
    "BUILD_FOLDER",
    "LOCK_ENV",
    "build",
    "check_python",
    "clean",
    "python_for_runtime",
    "refuse_a_folder_of_the_users",
    "remove_entry",
    "sam_environment",
    "sam_executable",
    "simulated_lock",
    "template_runtimes",
]
