"""Shared assertions of the mistake-catalogue tests (tests/test_checks_<topic>.py)."""


def assert_caught(check, wrong, mistake: str, hint_word: str, capsys) -> None:
    """`check(wrong)` must fail, diagnose `mistake`, and print a hint containing `hint_word`."""
    result = check(wrong)
    assert result.status == "failed", f"{wrong.__name__} passed {check.__name__}"
    assert result.mistake == mistake, f"{wrong.__name__} was diagnosed as {result.mistake!r}: {result.message}"
    assert hint_word in result.hint and hint_word in capsys.readouterr().out


def case_ids(cases) -> list[str]:
    return [c[1].__name__ for c in cases]
