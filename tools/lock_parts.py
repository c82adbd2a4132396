"""Which part of requirements.lock each command installs: run.py's helper (standard library).

requirements.lock is universal (every OS, Python 3.11 to 3.13, one version of each package)
and hash-pinned; the command that regenerates it is at its top. It is compiled from
pyproject.toml's dependencies and its `test` extra, and given: pip, installed first (older
pips, such as the 23.2 that comes with Python 3.11.7 and 3.12.1, reject the lock's extras in
hash-checking mode); setuptools (the editable install runs without build isolation; venvs of
3.12+ have none); and caps on three packages whose newer releases have no wheels for Intel
Macs (argon2-cffi-bindings, cryptography, lazy-object-proxy). No wheels exist for Windows on
ARM (awscrt): there, attendees install the x64 Python from python.org.

jsonschema stays below 4.25: from 4.25 its `format-nongpl` extra (which Jupyter asks for) adds
rfc3987-syntax, which jsonschema imports whenever it is imported, and which builds its Earley
parsers then: 0.8 s of CPU added to every `sam` command (half of a `sam build` here) and to
every Jupyter start (python-jsonschema/jsonschema#1428 and #1392). Nothing here validates the
`iri` formats it checks. The cap holds back what needs the newer jsonschema: openapi-spec-
validator 0.8 (which moto uses), openapi-schema-validator, jsonschema-path, pathable. Lift it
once a jsonschema release imports rfc3987-syntax only when an `iri` is checked (4.26.0 does not).

One lock, two parts. Every command installs the attendees' part: what the project's own
dependencies (and pip) reach through the lock's `# via` annotations. `python run.py test` adds
the rest, what only the `test` extra brings (the browser driver, ruff, pytest-xdist, Lambda's
runtime client, and what they need), with the same pins and hashes.

The tests also run checkov, whose pins clash with the project's (boto3 1.35.49, packaging below
24, networkx below 2.7), and the AWS CLI v1 (a user's own tool, to run the README's AWS CLI
examples): each has a lock of its own (tools/checkov.lock, tools/awscli.lock: the command that
regenerates it is at its top) and a venv of its own inside the workshop's (tools/NAME/), set up
like the main one by run.py, but only by `python run.py test`.
"""

import re
import tomllib

# pyproject.toml's extra of what only the tests use.
TEST_EXTRA = "test"


def canonical_name(name):
    """A package's name as PyPI compares them (PEP 503): `Foo_Bar` and `foo-bar` are one."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def parse_lock(lock_text):
    """{name: (entry, requirers)}: each package's lines (pin, markers, hashes) and the names in
    its `# via` annotation (the project itself among them: `stateful-lambda-workshop`)."""
    packages, entry, requirers = {}, None, None
    for line in lock_text.splitlines():
        if line[:1].isalnum():  # a pin starts a new entry
            entry, requirers = [line], []
            packages[canonical_name(re.split(r"[=\[; ]", line, maxsplit=1)[0])] = (entry, requirers)
        elif entry is None:  # the header
            continue
        elif line.strip().startswith("#"):  # "# via a", "# via", "#   a (pyproject.toml)"
            words = line.strip("# \t").split()
            words = words[1:] if words[:1] == ["via"] else words
            if words:
                requirers.append(canonical_name(words[0]))
        elif line.strip():  # a hash, continuing the pin
            entry.append(line)
    return {name: ("\n".join(entry), requirers) for name, (entry, requirers) in packages.items()}


def requirement_names(requirements):
    """The package names of requirement strings such as `moto[server]>=5.1; python_version..`;
    ValueError for one that names none."""
    names = set()
    for text in requirements:
        found = re.match(r"\s*[A-Za-z0-9._-]+", text)
        if not found:
            raise ValueError(f"a requirement that names no package: {text!r}")
        names.add(canonical_name(found.group()))
    return names


def attendee_packages(packages, project, needs, test_needs):
    """The names of the lock's packages that attendees use.

    Those that the project's own dependencies (`needs`) reach, with what the lock was given
    beside pyproject.toml (pip: no requirer), leaving out what only the test extra's packages
    (`test_needs`) bring. `# via` ignores markers: this may keep a package that this platform
    skips (pip skips it too), never leave out one that it needs.
    """
    wanted = [
        name
        for name, (_, requirers) in packages.items()
        if not requirers or (project in requirers and (name in needs or name not in test_needs))
    ]
    found = set()
    while wanted:
        name = wanted.pop()
        if name not in found:
            found.add(name)
            wanted += [child for child, (_, by) in packages.items() if name in by]
    return found


def split_lock(lock, pyproject):
    """(the lock's attendee part as a requirements file, its number of packages, the number of
    packages only the tests use), from the paths of the lock and of pyproject.toml."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    packages = parse_lock(lock.read_text(encoding="utf-8"))
    needs = requirement_names(project.get("dependencies", []))
    test_needs = requirement_names(project.get("optional-dependencies", {}).get(TEST_EXTRA, []))
    names = attendee_packages(packages, canonical_name(project["name"]), needs, test_needs)
    entries = [entry for name, (entry, _) in sorted(packages.items()) if name in names]
    return "\n".join(entries) + "\n", len(entries), len(packages) - len(entries)
