"""benchmarks/speed.py's judgement of its own figures: starved repetitions and ratios above the ceiling."""

import importlib.util
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "speed.py"
spec = importlib.util.spec_from_file_location("speed_benchmark", SCRIPT)
speed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(speed)


def rep(valid, load=1.0):
    return {"valid": valid, "load_before": load}


def test_a_clean_run_has_no_warning():
    assert speed.judge([rep(True), rep(True)], ratio_median=1.1, ceiling=2.65) == []


def test_a_ratio_above_its_ceiling_is_never_reported_silently():
    # the independent run of issue 19: 8.95 against a ceiling of 2.65, one other CPU-bound process
    warnings = speed.judge([rep(True)], ratio_median=8.95, ceiling=2.65)
    assert len(warnings) == 1 and "8.95 is above its own ceiling 2.65" in warnings[0]


def test_starved_repetitions_are_counted_with_the_load():
    warnings = speed.judge([rep(True, 0.5), rep(False, 3.2), rep(False, 2.9)], ratio_median=1.0, ceiling=2.0)
    assert warnings == ["2 of 3 repetitions invalid: a side got under 75% of a core "
                        "(load averages before each: 0.5, 3.2, 2.9)"]
    assert speed.STARVED == 0.75
