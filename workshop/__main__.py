"""`python -m workshop`, what `python run.py` runs; a Ctrl-C while it starts ends it quietly."""

try:
    from workshop.cli import main
except KeyboardInterrupt:
    raise SystemExit(130) from None

raise SystemExit(main())
