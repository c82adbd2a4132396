"""Ctrl-C in a long command: the one line it says is true of where the command ran."""

from __future__ import annotations

from workshop import interrupt


def test_stopped_on_the_embedded_aws_says_its_stack_is_gone(monkeypatch, capsys):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert interrupt.stopped("race", "what `python run.py up` stored is as it was") == 130
    assert capsys.readouterr().out == (
        "\nStopped the race: it ran on a fresh stack of its own, now gone; what "
        "`python run.py up` stored is as it was.\n"
    )


def test_stopped_at_an_endpoint_of_the_users_says_it_emptied_the_tables(monkeypatch, capsys):
    """There a fresh stack deletes and makes again the tables an `up` of the project uses."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")
    assert interrupt.stopped("race", None) == 130
    assert capsys.readouterr().out == (
        "\nStopped the race: it ran on its tables at AWS_ENDPOINT_URL=http://localhost:4566, "
        "which it emptied as it began (an `up` of the same project uses them too).\n"
    )
