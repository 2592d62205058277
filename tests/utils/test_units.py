from airflow_provider_kling.utils.units import units


def test_exactly_one_is_singular_everything_else_plural() -> None:
    assert units(1) == "1 unit"
    assert units(1.0) == "1 unit"
    assert [units(n) for n in (0, 0.5, 2, 1.02)] == ["0 units", "0.5 units", "2 units", "1.02 units"]
